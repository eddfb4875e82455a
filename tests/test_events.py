"""Search logs: import, position bias, labels, the time split, simulation, pipeline --events and compare."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import EXAMPLES
from typer.testing import CliRunner

from searchtune.cli import app
from searchtune.config import DataConfig, EventsConfig
from searchtune.data import load_data, split_queries
from searchtune.events import (
    EventStore,
    SimulationConfig,
    events_dataset,
    read_events,
    simulate,
    write_log,
)
from searchtune.events.compare import interleave, team_draft
from searchtune.events.labels import derive, impressions, position_bias, time_split

runner = CliRunner()


@pytest.fixture(scope="module")
def data():
    return load_data(DataConfig(catalog=str(EXAMPLES / "catalog.csv"), queries=str(EXAMPLES / "queries.csv")))


@pytest.fixture(scope="module")
def log(data):
    return simulate(data, list(data.queries), SimulationConfig(impressions=60_000, seed=7))


def test_import_each_format_and_reimport_adds_nothing(data, log, tmp_path):
    part = log.head(3000)
    store = EventStore(tmp_path / "store")
    for i, name in enumerate(("log.csv", "log.jsonl.gz", "log.parquet")):
        result = store.add(write_log(part, tmp_path / name), products=data.product_ids)
        assert result.rows == 3000 and not result.skipped
        assert result.added == (3000 if i == 0 else 0)  # the same events in another format add nothing
    stored = store.load()
    assert len(stored) == 3000 and set(stored["event"]) <= {"impression", "click", "add_to_cart", "purchase"}
    assert (stored["timestamp"].to_numpy() == np.sort(part["timestamp"].to_numpy())).all()
    assert len(store.imports()) == 3


def test_bad_rows_are_counted_and_located(data, tmp_path):
    pid = data.product_ids[0]
    path = tmp_path / "log.csv"
    path.write_text("ts,session,search_term,sku,rank,action\n"
                    f"2026-01-01T10:00:00Z,a,drill,{pid},1,view\n"
                    f"2026-01-01T10:00:05Z,a,drill,{pid},,click\n"       # position filled from its impression
                    f"2026-01-01T10:00:06Z,a,drill,{pid},2,wishlist\n"   # unknown event
                    "2026-01-01T10:00:07Z,a,drill,NOPE,3,view\n"         # not in the catalog
                    f"2026-01-01T10:00:08Z,b,saw,{pid},,click\n"         # no position, never shown
                    f"yesterday,b,saw,{pid},1,view\n")                   # bad timestamp
    events, result = read_events(path, products=data.product_ids)
    assert list(events["event"]) == ["impression", "click"] and list(events["position"]) == [1, 1]
    assert result.skipped == {"unknown event": 1, "product not in the catalog": 1, "bad timestamp": 1,
                              "missing position": 1}
    assert "row 3" in result.examples["unknown event"] and "action" in result.examples["unknown event"]
    assert "NOPE" in result.examples["product not in the catalog"]
    only_bad = tmp_path / "bad.csv"
    only_bad.write_text("ts,session,query,sku,rank,action\n2026-01-01,a,drill,x,1,hover\n")
    with pytest.raises(Exception, match="no usable event"):
        read_events(only_bad)


def test_position_bias_is_recovered_from_simulated_logs(log):
    bias = position_bias(impressions(log), EventsConfig())
    assert bias.method == "pbm-em" and bias.identified_pairs > 100
    truth = 1.0 / np.arange(1, 7)  # SimulationConfig.position_bias = 1
    assert np.abs(bias.theta[:6] - truth).max() < 0.06, bias.theta[:6]
    # the raw click-through curve is not the examination: it mixes in the ranking's quality
    raw = position_bias(impressions(log), EventsConfig(position_bias="ctr"))
    assert np.abs(raw.theta[:6] - truth).max() > np.abs(bias.theta[:6] - truth).max()


def test_derived_gains_follow_the_simulated_relevance(data, log):
    imp = impressions(log)
    labels = derive(imp, position_bias(imp, EventsConfig()), EventsConfig())
    by_truth: dict[int, list[int]] = {}
    for q, judged in labels.qrels.items():
        for pid, gain in judged.items():
            by_truth.setdefault(data.qrels.get(q, {}).get(pid, 0), []).append(gain)
    means = [np.mean(by_truth[g]) for g in sorted(by_truth)]
    assert sorted(by_truth) == [0, 1, 2] and means[0] < means[1] < means[2], means
    assert labels.stats["by_gain"][0] > 0 and labels.stats["by_gain"][3] > 0


def test_time_split_never_leaks(data, log):
    cfg = EventsConfig()
    judged = split_queries(list(data.queries), seed=1)
    new, split, stats = events_dataset(data, log, cfg, judged)
    periods = time_split(log, cfg)
    assert split.test and split.train and split.judged_test
    held = set(split.dev) | set(split.test) | set(split.judged_test)
    assert not held & set(split.train)
    texts = {new.queries[q] for q in split.train}
    assert not texts & {data.queries[q] for q in judged.dev + judged.test}  # human held-out never trained on
    assert not {q for q in split.train} & set(split.test)
    # training labels come only from searches before the dev period
    imp = impressions(log)
    start = imp.groupby("search_id")["timestamp"].transform("min")
    early = imp[start < periods.dev_from]
    for q in split.train[:20]:
        shown = set(early.loc[early["qkey"] == q, "product_id"])
        assert set(new.qrels[q]) <= shown
    assert stats["heldout_queries_trained"] == 0 and stats["heldout_queries_not_trained"] > 0
    asked = EventsConfig(train_on_heldout_queries=True)
    _, split2, stats2 = events_dataset(data, log, asked, judged)
    assert stats2["heldout_queries_trained"] > 0 and len(split2.train) > len(split.train)
    # head, torso and tail of the held-out queries come from how often the log searched them
    searched = new.source["searches_per_query"]
    assert set(split.test) <= set(searched) and all(n > 0 for n in searched.values())
    for q in split.test[:5]:
        assert searched[q] == imp.loc[imp["qkey"] == q, "search_id"].nunique()


def test_simulate_is_deterministic_per_seed(data):
    cfg = SimulationConfig(impressions=2000, seed=3, click_model="cascade")
    a, b = simulate(data, list(data.queries), cfg), simulate(data, list(data.queries), cfg)
    pd.testing.assert_frame_equal(a, b)
    c = simulate(data, list(data.queries), SimulationConfig(impressions=2000, seed=4, click_model="cascade"))
    assert not a.equals(c)
    clicks = a[a["event"] == "click"]
    assert clicks.groupby("search_id").size().max() == 1  # cascade: one click at most per search


def test_compare_picks_the_better_ranking(data, log):
    rng = np.random.default_rng(0)
    shown, teams = team_draft(["a", "b", "c"], ["b", "d"], 4, rng)
    assert sorted(shown) == ["a", "b", "c", "d"] and set(teams) == {0, 1}
    good, bad = {}, {}
    for q, judged in data.qrels.items():
        from searchtune.data import normalise_query

        key = normalise_query(data.queries[q])
        ranked = sorted(judged, key=lambda p: -judged[p])
        good[key], bad[key] = ranked, [p for p in data.product_ids if p not in judged][:10]
    result = interleave(log, {"good": good, "bad": bad}, EventsConfig(), bootstrap=300)
    assert result["better"] == "good" and result["ci95"][0] > 0
    result = interleave(log, {"bad": bad, "good": good}, EventsConfig(), bootstrap=300)
    assert result["better"] == "good" and result["ci95"][1] < 0


@pytest.mark.slow
def test_pipeline_from_events_and_cli(data, log, tmp_path):
    path = write_log(log, tmp_path / "log.csv.gz")
    common = ["--catalog", str(EXAMPLES / "catalog.csv"), "--queries", str(EXAMPLES / "queries.csv")]
    res = runner.invoke(app, ["events", "import", str(path), *common, "--store", str(tmp_path / "store")])
    assert res.exit_code == 0, res.output
    assert "0 new events" not in res.output
    res = runner.invoke(app, ["events", "show", str(tmp_path / "store")])
    assert res.exit_code == 0 and "click-through rate" in res.output
    out = tmp_path / "run"
    res = runner.invoke(app, ["pipeline", *common, "--config", str(EXAMPLES / "demo.yaml"), "--events",
                              str(tmp_path / "store"), "--train-on-heldout-queries", "--out", str(out)])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    ev = report["events"]
    assert ev["clicks"] > 0 and ev["labels"]["train"]["labelled_pairs"] > 0 and ev["heldout_queries_trained"] > 0
    assert {"bm25", "base", "finetuned"} <= set(report["judged_metrics"])
    assert "Trained on labels from search logs" in (out / "report.md").read_text()
    assert "by how often they were searched in the log" in (out / "report.md").read_text()
    assert "human-judged test queries" in res.output
    # the loop: a retrain on newer events starts from the previous model
    newer = simulate(data, list(data.queries), SimulationConfig(impressions=20_000, seed=8, start="2026-06-01"))
    res = runner.invoke(app, ["pipeline", *common, "--config", str(EXAMPLES / "demo.yaml"), "--events",
                              str(write_log(newer, tmp_path / "newer.parquet")), "--train-on-heldout-queries",
                              "--model", str(out / "model"), "--out", str(tmp_path / "run2")])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "run2" / "report.json").read_text())["timings"]["training"]["started_from"] \
        == str(out / "model")
    res = runner.invoke(app, ["compare", "--candidate", "bm25", "--candidate", str(out / "model"), "--events", str(path),
                              *common, "--out", str(tmp_path / "cmp")])
    assert res.exit_code == 0, res.output
    result = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert result["searches"] > 0 and sum(result["wins"].values()) == result["searches"]


def test_a_clicks_only_export_imports_and_trains_with_no_flags(data, log, tmp_path):
    from searchtune.events import clicks_export

    export = clicks_export(log)
    assert list(export.columns) == ["query", "product_id", "query_time", "click_time"]
    path = tmp_path / "clicks.csv"
    export.to_csv(path, index=False)
    events, result = read_events(path, products=data.product_ids)
    assert len(events) == len(export) and set(events["event"]) == {"click"} and (events["position"] == 0).all()
    assert result.columns["timestamp"] == "query_time" and not result.skipped
    imp = impressions(events)
    labels = derive(imp, position_bias(imp, EventsConfig()), EventsConfig())
    gains = [g for judged in labels.qrels.values() for g in judged.values()]
    assert gains and min(gains) >= 1  # what was clicked is relevant; nothing says what was skipped
    # the clicked products the people judged relevant get the higher gains
    relevant = [g for q, judged in labels.qrels.items() for p, g in judged.items()
                if data.qrels.get(q, {}).get(p, 0) >= 2]
    other = [g for q, judged in labels.qrels.items() for p, g in judged.items()
             if data.qrels.get(q, {}).get(p, 0) < 2]
    assert relevant and other and np.mean(relevant) > np.mean(other)
    common = ["--catalog", str(EXAMPLES / "catalog.csv"), "--queries", str(EXAMPLES / "queries.csv")]
    out = tmp_path / "run"
    res = runner.invoke(app, ["pipeline", *common, "--config", str(EXAMPLES / "demo.yaml"), "--events", str(path),
                              "--train-on-heldout-queries", "--out", str(out)])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    assert report["events"]["position_bias"]["method"].startswith("unknown")
    assert report["events"]["labels"]["train"]["labelled_pairs"] > 0 and "finetuned" in report["judged_metrics"]
    assert "The log has clicks only" in (out / "report.md").read_text()
