"""The pipeline step by step: each step takes values and returns a value; a finished run reports on its own."""

import json

import pytest
from conftest import EXAMPLES

from searchtune.config import Config
from searchtune.errors import SearchtuneError
from searchtune.pipeline import Pipeline


@pytest.fixture
def small_example(tmp_path):
    """The bundled example cut to its first 120 products and their judgments (indexing stays cheap)."""
    import pandas as pd

    catalog = pd.read_csv(EXAMPLES / "catalog.csv", dtype=str).head(120)
    judgments = pd.read_csv(EXAMPLES / "queries.csv", dtype=str)
    judgments = judgments[judgments["product_id"].isin(catalog["id"])]
    catalog.to_csv(tmp_path / "catalog.csv", index=False)
    judgments.to_csv(tmp_path / "queries.csv", index=False)
    return tmp_path


def example_config(folder=EXAMPLES, **train) -> Config:
    config = Config.load(EXAMPLES / "demo.yaml")
    config.data.catalog, config.data.queries = str(folder / "catalog.csv"), str(folder / "queries.csv")
    for key, value in {"epochs": 0.2, "max_seq_length": 16, **train}.items():
        setattr(config.train, key, value)
    return config


def test_steps_take_values_and_return_values(tmp_path, small_example):
    from searchtune.evaluation.systems import baselines

    p = Pipeline(example_config(small_example), tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "config.yaml").exists()
    data = p.load()
    assert len(data.products) == 120 and data.queries
    prepared = p.split(data)
    split = prepared.split
    # real queries and no LLM: nothing added (BM25's text may leave the attributes out, chosen on dev)
    assert prepared.data.queries is data.queries and prepared.synthetic is None
    assert prepared.data.products["text"].equals(data.products["text"])
    assert split.test and split.dev and not set(split.train) & (set(split.dev) | set(split.test))
    assert json.loads((tmp_path / "run" / "split.json").read_text())["test"] == split.test
    systems = baselines(p.bench(prepared))
    assert set(systems) == {"bm25", "bm25-unstemmed"} and systems["bm25"].dev is not None
    assert 0 < systems["bm25"].test.metrics["ndcg@10"] <= 1


@pytest.mark.slow
def test_models_train_and_a_finished_run_reports_on_its_own(tmp_path, small_example):
    from searchtune.evaluation.report import write_report
    from searchtune.evaluation.systems import evaluate_model
    from searchtune.rundir import RunDir
    from searchtune.system import System

    p = Pipeline(example_config(small_example), tmp_path / "run", progress=False)
    prepared = p.split()
    bench = p.bench(prepared)
    base = evaluate_model(bench, "base", "splade-tiny", role="base")
    assert base.test.timings["index"]["documents"] == 120
    with bench.open("base") as index:  # the untuned model reads as many tokens per product as the tuned one
        assert index.metadata()["fingerprint"]["max_length"] == 16
    trained = p.train(prepared)
    assert trained.model == tmp_path / "run" / "model" and trained.stats["steps"] > 0 and trained.mining is None
    assert not (tmp_path / "run" / "checkpoints").exists()  # removed once the model is saved
    log = (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()
    assert log and "loss" in json.loads(log[0])  # the trainer's log goes to the file, not the console
    # on resume, a model scored before reuses its ranking and collection (same catalog and model)
    again = Pipeline(example_config(small_example), tmp_path / "run", resume=True, progress=False)
    assert evaluate_model(again.bench(again.split()), "base", "splade-tiny", role="base").test.metrics == \
        base.test.metrics
    report = again.run()  # resumed: training is read back, not redone
    assert report["timings"]["training"]["steps"] == trained.stats["steps"]
    # the report of a finished run is written from its results alone, in a new process's terms
    run = RunDir(tmp_path / "run")
    before = json.loads(run.report_json.read_text())
    run.report_json.unlink()
    run.report_md.unlink()
    rewritten = json.loads(json.dumps(write_report(run)))
    assert {k: v for k, v in rewritten.items() if k != "machine"} == \
        {k: v for k, v in before.items() if k != "machine"}
    assert run.report_md.read_text().startswith("# searchtune report")
    # the run names a system one can run: what the report recommends
    system = System.load(run.root)
    assert system.label == report["recommendation"]["label"] and report["system"] == system.to_dict()


def test_a_run_directory_is_not_overwritten_and_bad_config_is_refused(tmp_path):
    Pipeline(example_config(), tmp_path / "run", progress=False).split()
    with pytest.raises(SearchtuneError, match="--resume"):
        Pipeline(example_config(), tmp_path / "run", progress=False)
    bad = example_config()
    bad.mine.range_min = 60
    with pytest.raises(SearchtuneError, match="window"):
        Pipeline(bad, tmp_path / "other", progress=False)


def test_catalog_only_gets_synthetic_queries_and_a_split_by_product(tmp_path):
    config = Config()
    config.data.data = str(EXAMPLES / "catalog.csv")
    p = Pipeline(config, tmp_path / "run", progress=False)
    loaded = p.load()
    prepared = p.split(loaded)
    assert prepared.synthetic["file"].endswith("queries.jsonl")
    assert prepared.data is not loaded and not loaded.queries  # split returned new data; the loaded is unchanged
    assert all(q.startswith("syn:") for q in prepared.split.train + prepared.split.test)
    assert prepared.synthetic["evaluation"].startswith("synthetic queries")


def test_few_real_training_queries_get_synthetic_ones_beside_them(tmp_path, small_example):
    p = Pipeline(example_config(small_example), tmp_path / "run", progress=False)
    real = p.split().split  # evaluation alone: nothing added
    assert not any(q.startswith("syn:") for q in real.train)
    p = Pipeline(example_config(small_example), tmp_path / "run2", progress=False)
    prepared = p.split(augment=True)  # a run that trains, with fewer real training queries than augment_below
    split = prepared.split
    assert set(real.train) < set(split.train) and any(q.startswith("syn:") for q in split.train)
    assert split.dev == real.dev and split.test == real.test  # evaluated on real held-out queries only
    assert prepared.synthetic["added_to_real"]
    assert prepared.data.counts["real_training_queries"] == len(real.train)
    config = example_config(small_example)
    config.generate.augment_below = 0
    p = Pipeline(config, tmp_path / "run3", progress=False)
    assert p.split(augment=True).split.train == real.train


def test_a_split_with_nothing_to_train_on_stops_before_any_long_step(tmp_path):
    from conftest import write

    catalog = write(tmp_path / "c.csv", "id,title\n" + "".join(f"p{i},Product {i}\n" for i in range(10)))
    three = write(tmp_path / "q3.csv", "query,product_id,label\ndrill,p1,1\nsaw,p2,1\nhammer,p3,1\n")
    queries = write(tmp_path / "q.csv", "query,product_id,label\nhammer,p1,1\nnail,p2,1\nscrew,p3,1\n")
    config = Config()
    config.data.catalog, config.data.queries, config.generate.augment_below = str(catalog), str(three), 0
    with pytest.raises(SearchtuneError, match=r"no test query \(3 queries: 2 training, 1 dev, 0 test\)"):
        Pipeline(config, tmp_path / "run", progress=False).run()
    config.data.queries = str(queries)
    config.data.test_fraction, config.data.dev_fraction = 0.5, 0.4  # hammer → dev, nail and screw → test
    p = Pipeline(config, tmp_path / "run2", progress=False)
    with pytest.raises(SearchtuneError, match="nothing to train on: the split leaves no training query"):
        p.run()
    assert not (tmp_path / "run2" / "runs").exists()  # stopped before the baselines


def test_every_report_gives_intervals_and_paired_tests(tmp_path, small_example):
    from searchtune.evaluation.report import write_report
    from searchtune.evaluation.systems import baselines

    p = Pipeline(example_config(small_example), tmp_path / "run", progress=False)
    prepared = p.split()
    results = p.results(prepared)
    for name, measured in baselines(p.bench(prepared)).items():
        results.add(name, measured)
    report = write_report(p.run_dir, results)
    for name, (lo, hi) in report["ndcg@10_95ci"].items():
        assert lo <= report["metrics"][name]["ndcg@10"] <= hi and lo < hi
    assert "bm25" in report["significance"]["results"]["bm25-unstemmed"]
    assert "95% CI" in (tmp_path / "run" / "report.md").read_text()
    assert report["source"]["files"][0]["encoding"] == "utf-8"  # how the data was read is part of the report
    assert report["source"]["columns"]["title"] == "title"


def test_a_run_that_failed_to_load_can_be_rerun_with_the_same_out(tmp_path):
    from searchtune.errors import DataError

    bad = example_config()
    bad.data.catalog = str(tmp_path / "missing.csv")
    with pytest.raises(DataError):
        Pipeline(bad, tmp_path / "run", progress=False).load()
    assert Pipeline(example_config(), tmp_path / "run", progress=False).load().queries  # not refused


def test_resume_refuses_settings_that_change_the_run(tmp_path, small_example):
    Pipeline(example_config(small_example), tmp_path / "run", progress=False).split()
    with pytest.raises(SearchtuneError, match=r"train.learning_rate: 0.0003 → 0.1; train.epochs: 0.2 → 3.0"):
        Pipeline(example_config(small_example, epochs=3.0, learning_rate=0.1), tmp_path / "run", resume=True,
                 progress=False)
    again = example_config(small_example)
    again.evaluate.encode_batch_size = 7  # how the run goes, not what it measures: allowed
    Pipeline(again, tmp_path / "run", resume=True, progress=False)


def test_resume_refuses_data_that_changed_since_the_run_began(tmp_path, small_example):
    import pandas as pd

    Pipeline(example_config(small_example), tmp_path / "run", progress=False).split()
    judgments = small_example / "queries.csv"
    edited = pd.read_csv(judgments, dtype=str)
    edited.loc[edited.index[:20], "label"] = "Irrelevant"  # labels edited after the run began
    edited.to_csv(judgments, index=False)
    again = Pipeline(example_config(small_example), tmp_path / "run", resume=True, progress=False)
    with pytest.raises(SearchtuneError, match="the judgments changed since"):
        again.run()
    assert not (tmp_path / "run" / "report.json").exists()


def test_a_run_is_owned_by_one_live_process(tmp_path):
    import os
    import subprocess
    import sys

    run = tmp_path / "run"
    run.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (run / ".lock").write_text(str(other.pid))
        with pytest.raises(SearchtuneError, match=f"in use by another searchtune process \\(pid {other.pid}\\)"):
            Pipeline(example_config(), run, progress=False)
    finally:
        other.kill()
        other.wait()
    Pipeline(example_config(), run, progress=False)  # the lock's process is gone: taken over
    assert (run / ".lock").read_text() == str(os.getpid())


def test_a_truncated_ranking_cache_is_made_again(tmp_path, small_example):
    from searchtune.evaluation.systems import baselines

    p = Pipeline(example_config(small_example), tmp_path / "run", progress=False)
    first = baselines(p.bench(p.split()))["bm25"].test.metrics
    cache = tmp_path / "run" / "runs" / "bm25.test.json"
    cache.write_text(cache.read_text()[:50])
    again = Pipeline(example_config(small_example), tmp_path / "run", resume=True, progress=False)
    assert baselines(again.bench(again.split()))["bm25"].test.metrics == first
    assert json.loads(cache.read_text())["run"]
