"""The second stage: rescoring only the top K, choices on dev, the system to deploy, the reranker's training rows
(never a held-out query), denoising mined negatives, and the whole two-stage pipeline on a small example."""

import json

import pytest
from test_pipeline import example_config, small_example  # noqa: F401  (a fixture)

from searchtune.config import RerankConfig
from searchtune.data import SearchData, Split
from searchtune.errors import SearchtuneError
from searchtune.evaluation import stages
from searchtune.evaluation.deploy import recommend
from searchtune.evaluation.stats import paired_test
from searchtune.rerank.model import PairScores, rerank_run
from searchtune.rerank.train import reranker_rows
from searchtune.system import System


def test_rerank_reorders_only_the_top_k_and_keeps_the_rest_below():
    run = {"q": {"a": 9.0, "b": 8.0, "c": 7.0, "d": 6.0, "e": 5.0}}
    scores = {("q", "a"): 0.1, ("q", "b"): 0.2, ("q", "c"): 0.9}
    out = rerank_run(run, scores, k=3)["q"]
    assert sorted(out, key=out.get, reverse=True) == ["c", "b", "a", "d", "e"]
    # with the first stage's score mixed in at full weight the first stage's order comes back
    same = rerank_run(run, scores, k=3, weight=1.0)["q"]
    assert sorted(same, key=same.get, reverse=True) == ["a", "b", "c", "d", "e"]


def test_k_and_weight_come_from_the_dev_queries_given():
    # the reranker is right about q1 (product x relevant) and wrong about q2 beyond rank 2
    run = {"q1": {"y": 3.0, "z": 2.0, "x": 1.0}, "q2": {"r": 3.0, "s": 2.0, "t": 1.0}}
    scores = {("q1", "x"): 0.9, ("q1", "y"): 0.1, ("q1", "z"): 0.2,
              ("q2", "r"): 0.5, ("q2", "s"): 0.6, ("q2", "t"): 0.99}
    q1_only = {"q1": {"x": 1}}
    best, grid = stages.choose_rerank({"q1": run["q1"]}, scores, q1_only, [2, 3], [0.0, 0.8])
    assert (best["k"], best["weight"]) == (3, 0.0) and len(grid) == 4  # only K=3 reaches x
    q2_only = {"q2": {"r": 1}}
    best, _ = stages.choose_rerank({"q2": run["q2"]}, scores, q2_only, [2, 3], [0.0, 0.8])
    assert (best["k"], best["weight"]) == (2, 0.8)  # K=2 and K=3 both put r first at 0.8: the smaller K wins


def test_the_deploy_rule_keeps_a_clear_gain_refuses_a_loss_and_gives_a_tie_to_the_cheaper():
    import random

    rng = random.Random(0)
    queries = [f"q{i}" for i in range(15)]  # a small dev set: no difference of this size is significant
    bm25 = {q: rng.random() * 0.5 for q in queries}
    latency = {"bm25": 1.0, "finetuned": 10.0, "hybrid": 8.0, "finetuned+rerank": 300.0}
    # +0.06 on average, better on most queries, worse on some: not significant on 15 queries, yet a clear gain
    gain = {q: v + (0.3, -0.2, 0.1, -0.1, 0.2)[i % 5] for i, (q, v) in enumerate(bm25.items())}
    assert paired_test(bm25, gain) > 0.05
    rec = recommend({"bm25": bm25, "finetuned": gain}, latency, {"bm25": {"ndcg@10": 0.3}, "finetuned": {"ndcg@10": 0.4}},
                    {"finetuned": "SPLADE tuned"})
    assert rec["system"] == "finetuned" and rec["test"] == {"ndcg@10": 0.4} and rec["dev_queries"] == 15
    assert 0.5 < rec["confidence"]["bm25"] <= 1.0 and "probability" in rec["why"] and "test_disagrees" not in rec
    # a loss on dev is refused, however fast
    below = {q: v - 0.02 for q, v in bm25.items()}
    assert recommend({"bm25": bm25, "finetuned": below}, latency, {}, {})["system"] == "bm25"
    # equal means (a different order per query): the cheaper system
    shuffled = dict(zip(queries, [bm25[q] for q in reversed(queries)]))
    assert recommend({"finetuned+rerank": shuffled, "bm25": bm25}, latency, {}, {})["system"] == "bm25"
    # within 1% of the best: the cheaper one; the cost order is fixed, not the measured latency
    close = {q: v * 1.005 for q, v in gain.items()}
    rec = recommend({"bm25": bm25, "finetuned": gain, "hybrid": close}, {"finetuned": 50.0, "hybrid": 1.0}, {}, {})
    assert rec["system"] == "finetuned" and "within 1%" in rec["why"]
    # test ranking another system first is said in one line
    rec = recommend({"bm25": bm25, "finetuned": gain}, latency, {"bm25": {"ndcg@10": 0.5}, "finetuned": {"ndcg@10": 0.4}}, {})
    assert rec["system"] == "finetuned" and rec["test_disagrees"].startswith("Test puts bm25 above the choice")


def test_the_same_dev_scores_give_the_same_choice_and_confidence():
    import random

    rng = random.Random(1)
    dev = {s: {f"q{i}": rng.random() for i in range(20)} for s in ("bm25", "finetuned", "hybrid")}
    dev["hybrid"] = dict(dev["finetuned"])  # an exact tie between two systems
    runs = [recommend(dict(reversed(list(dev.items()))) if i % 2 else dev, {"hybrid": 1.0, "finetuned": 9.0}, {}, {})
            for i in range(4)]
    assert all(r == runs[0] for r in runs) and runs[0]["system"] in ("bm25", "finetuned")


def _data():
    import pandas as pd

    products = pd.DataFrame({"product_id": list("abcdef"), "title": list("abcdef"), "text": [f"text {c}" for c in "abcdef"]})
    data = SearchData(products, queries={"q1": "one", "q2": "two", "q3": "three"},
                      qrels={"q1": {"a": 2, "b": 1, "c": 0}, "q2": {"d": 2}, "q3": {"e": 2}})
    return data


def test_reranker_rows_grade_the_judged_pairs_and_never_take_a_held_out_query():
    data = _data()
    cfg = RerankConfig(num_negatives=2)
    rows = reranker_rows(data, ["q1", "q2"], {"q1": ["a", "d", "e", "f"], "q2": ["d", "a"]}, cfg, held_out={"q3"})
    got = {(q, p): y for q, p, y in zip(rows["query"], rows["product"], rows["label"])}
    assert got[("one", "text a")] == 1.0 and got[("one", "text b")] == 0.5 and got[("one", "text c")] == 0.0
    mined_q1 = {p for (q, p), y in got.items() if q == "one" and p not in ("text a", "text b", "text c")}
    assert len(mined_q1) == 2 and mined_q1 <= {"text d", "text e", "text f"}  # judged products are never mined
    assert "three" not in rows["query"]
    with pytest.raises(SearchtuneError, match="held-out"):
        reranker_rows(data, ["q1", "q3"], {}, cfg, held_out={"q3"})
    with pytest.raises(SearchtuneError, match="held-out"):  # nor mined for
        reranker_rows(data, ["q1"], {"q3": ["a"]}, cfg, held_out={"q3"})
    capped = reranker_rows(data, ["q1", "q2"], {}, RerankConfig(max_pairs=3, seed=1), held_out=())
    assert len(capped["query"]) <= 3 and len(set(capped["query"])) == 1  # whole queries, up to the cap


class FakeReranker:
    """Scores a pair by whether the product text names the query (and counts what it was asked)."""

    def __init__(self):
        self.asked = 0

    def predict(self, pairs, **kwargs):
        self.asked += len(pairs)
        return [0.9 if q.split()[-1] in t else 0.1 for q, t in pairs]


def test_pair_scores_are_computed_once_and_kept_on_disk(tmp_path):
    data = _data()
    model = FakeReranker()
    path = tmp_path / "scores.jsonl"
    scorer = PairScores(model, data.queries, {"a": "text one", "b": "text b"}, path=path, progress=False)
    assert scorer.score([("q1", "a"), ("q1", "b")]) == {("q1", "a"): 0.9, ("q1", "b"): 0.1}
    scorer.score([("q1", "a")])
    assert model.asked == 2
    again = PairScores(model, data.queries, {}, path=path, progress=False)  # a resumed run reads them back
    assert again.score([("q1", "b")]) == {("q1", "b"): 0.1} and model.asked == 2


def test_denoising_drops_mined_negatives_the_reranker_calls_relevant(monkeypatch):
    from searchtune.train import negatives
    from searchtune.train.negatives import denoise

    data = _data()
    data.products["text"] = ["one a", "b", "c", "one d", "e", "f"]
    monkeypatch.setattr(negatives, "load_reranker", lambda ref, **kw: FakeReranker())
    record = {"query_id": "q1", "skipped": {}, "negatives": [
        {"product_id": "c", "source": "judged"}, {"product_id": "d", "source": "model"},
        {"product_id": "e", "source": "model"}, {"product_id": "f", "source": "model"}]}
    dropped = denoise([record], data, "reranker", 0.5, keep=2, progress=False)
    assert dropped == 1 and record["skipped"]["reranker"] == 1
    assert [n["product_id"] for n in record["negatives"]] == ["c", "e"]  # judged kept, "one d" dropped, cut to 2


@pytest.mark.slow
def test_two_stage_pipeline_on_a_small_example(tmp_path, small_example):  # noqa: F811
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from searchtune.cli import app
    from searchtune.export import export_model
    from searchtune.pipeline import Pipeline
    from searchtune.rerank.model import load_reranker
    from searchtune.studio import Studio, create_app

    config = example_config(small_example)
    r = config.rerank
    r.enabled, r.model, r.candidates, r.mix_weights, r.latency_queries = True, "splade-tiny", [5, 20], [0.0, 0.5], 5
    run = tmp_path / "runs" / "r"
    report = Pipeline(config, run, progress=False).run()
    p_split = Split.load(run / "split.json")
    two = report["two_stage"]
    # every stage is reported, by the same metric names; the two-stage system's test figures once
    assert set(report["metrics"]) >= {"bm25", "finetuned", "hybrid", "reranked"}
    assert report["metrics"]["reranked"].keys() == report["metrics"]["bm25"].keys()
    assert report["fusion"]["chosen_on"] == "dev" and len(report["fusion"]["tried"]) == len(stages.FUSIONS)
    # K and weight are the best of the dev grid; the dev grid is scored on dev queries only
    for choice in two["choices"].values():
        assert choice["ndcg@10"] >= max(g["ndcg@10"] for g in choice["grid"]) - stages.TIE
    evaluable_dev = {q for q in p_split.dev if q in json.loads((run / "runs" / "bm25.dev.json").read_text())["run"]}
    assert two["dev_queries"] == len(evaluable_dev)
    assert {"first_stage", "rerank", "total"} <= set(report["latency"][f"{two['first_stage']}+rerank"])
    assert report["recommendation"]["system"] in two["dev"] and report["recommendation"]["why"]
    # the reranker trained on training queries only, and changed
    stats = report["reranker_training"]
    assert stats["queries"] <= len(p_split.train) and stats["steps"] > 0
    trained, base = load_reranker(run / "reranker"), load_reranker("splade-tiny")
    layer = "bert.encoder.layer.0.attention.self.query.weight"
    assert not trained.model.state_dict()[layer].equal(base.model.state_dict()[layer])
    assert "## The system to deploy" in (run / "report.md").read_text()
    # the run names the system it recommends, and the CLI runs it as it was measured
    system = System.load(run)
    assert system.label == report["recommendation"]["label"]
    assert (system.reranker is not None) == report["recommendation"]["system"].endswith("+rerank")
    found = CliRunner().invoke(app, ["search", "table", "--system", str(run), "-k", "3"])
    assert found.exit_code == 0, found.output
    assert system.collection in found.output
    # a collection and a reranker given by hand: first stage, then the reranker
    found = CliRunner().invoke(app, ["search", "table", "--collection", "finetuned", "--data-dir", str(run / "qdrant"),
                                     "--reranker", str(run / "reranker"), "--rerank-k", str(two["k"]), "-k", "3"])
    assert found.exit_code == 0, found.output
    assert "first stage #" in found.output and f"top {two['k']}" in found.output
    # the studio shows the first stage beside the reranked list
    studio = Studio(data_roots=[small_example], runs_dir=tmp_path / "runs", host="127.0.0.1", port=8765)
    client = TestClient(create_app(studio), base_url="http://127.0.0.1:8765")
    assert client.get("/api/collections").json()["rerankers"][0]["run"] == "r"
    body = client.post("/api/search", json={"place": "run:r", "collection": "finetuned", "query": "table",
                                            "reranker": "r"}).json()
    assert len(body["hits"]) == len(body["reranked"]) == 10 and body["rerank"]["k"] == two["k"]
    assert all("first_rank" in h for h in body["reranked"])
    # the studio runs the run's recommended system too
    assert client.get("/api/collections").json()["systems"][0]["label"] == system.label
    found = client.post("/api/search", json={"system": "r", "query": "table"}).json()
    assert len(found["hits"]) == 10 and found["system"] == system.describe()
    # the reranker travels with the exported model
    exported = export_model(run, tmp_path / "export", format="onnx")  # with the reranker's ONNX graph
    assert (exported / "reranker" / "config.json").is_file() and not (exported / "reranker" / "scores.jsonl").exists()
    assert "## Reranker" in (exported / "README.md").read_text()
    parity = json.loads((exported / "onnx" / "parity.json").read_text())
    assert parity["reranker"]["ok"] and parity["document"]["ok"] and "## ONNX" in (exported / "HOW-TO-QUERY.md").read_text()
    shipped = System.load(exported)  # the recommended system travels too, pointing into the export
    assert shipped.collection == "products" and all(str(exported) in m for v, m in shipped.models.items()
                                                    if v.endswith("_tuned"))


def test_rerank_settings_are_checked():
    from searchtune.config import Config

    config = Config()
    config.rerank.candidates = [0, 20]
    with pytest.raises(SearchtuneError, match="--rerank-k"):
        config.validate()
    config = Config()
    config.mine.denoise_with = "runs/x/reranker"
    with pytest.raises(SearchtuneError, match="--denoise-with"):
        config.validate()  # the default negatives are judged ones: nothing mined to clean
    config.mine.source = "ance"
    assert config.validate().mine.source == "model"


def test_reranking_hits_with_tied_scores_keeps_the_top_k_the_reranker_scored():
    from types import SimpleNamespace

    from searchtune.rerank.model import reranked_hits

    # Qdrant may return equal scores in any order: "z" is in the top 2 that was scored, "a" (a smaller id) not
    hits = [SimpleNamespace(product_id=p, score=s, payload={}) for p, s in (("m", 2.0), ("z", 1.0), ("a", 1.0))]
    out = reranked_hits(hits, [0.1, 0.9], k=2, weight=0.0)
    assert [r["hit"].product_id for r in out] == ["z", "m", "a"] and out[2]["score"] is None


def test_fusions_within_a_tie_go_to_the_first_in_a_fixed_order(monkeypatch):
    # dev nDCG@10 per fusion: weighted RRF 2:1 leads plain RRF by 0.0015, inside the tie
    dev = {("rrf", None): 0.5000, ("rrf", (2.0, 1.0)): 0.5015, ("dbsf", None): 0.4900}
    monkeypatch.setattr(stages, "ndcg10", lambda qrels, run: run)
    best, tried = stages.choose_fusion(lambda method, weights: dev.get((method, tuple(weights or ()) or None), 0.3),
                                       {"q": {"r": 1}})
    assert (best["fusion"], best["weights"]) == ("rrf", None) and len(tried) == len(stages.FUSIONS)
    dev[("dbsf", None)] = 0.51  # a lead beyond the tie wins
    assert stages.choose_fusion(lambda m, w: dev.get((m, tuple(w or ()) or None), 0.3), {})[0]["fusion"] == "dbsf"
