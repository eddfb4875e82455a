"""Dense + sparse + BM25 in one collection: every mode returns results, fusion matches ranx, Matryoshka."""

import numpy as np
import pandas as pd
import pytest

from searchtune.data import SearchData
from searchtune.errors import SearchtuneError
from searchtune.evaluation.runs import score
from searchtune.evaluation.stats import significance
from searchtune.evaluation.systems import run_systems
from searchtune.index.collection import Models, build

KINDS = ["cordless drill", "circular saw", "garden hose", "leaf blower", "step ladder", "paint roller",
         "ceiling fan", "smoke alarm", "door knob", "shower head", "shop vac", "fire pit"]


def data() -> SearchData:
    ids, texts = [], []
    for k, kind in enumerate(KINDS):
        for b, brand in enumerate(["DeWalt", "Makita", "Ryobi"]):
            ids.append(f"p{k}-{b}")
            texts.append(f"{brand} {kind} model {k * 3 + b}")
    products = pd.DataFrame({"product_id": ids, "title": texts, "brand": [""] * len(ids), "text": texts})
    queries = {f"q{k}": f"{kind} for home" for k, kind in enumerate(KINDS)}
    qrels = {f"q{k}": {f"p{k}-0": 2, f"p{k}-1": 1} for k in range(len(KINDS))}
    return SearchData(products=products, queries=queries, qrels=qrels, positive_min_gain=1)


@pytest.fixture(params=["edge", "server"])
def collection(request, tmp_path):
    from searchtune.index import EdgeIndex
    from searchtune.index.server import ServerIndex

    d = data()
    index = EdgeIndex("all", tmp_path) if request.param == "edge" else ServerIndex("all", ":memory:")
    models = Models(sparse_base="splade-tiny", sparse_tuned="splade-tiny", dense_base="minilm", dense_tuned="minilm")
    build(index, d, models, bm25=True, progress=False)
    yield d, index, models
    index.close()


def test_every_mode_returns_results_and_rrf_matches_ranx(collection):
    from ranx import Run, fuse

    d, index, models = collection
    systems = run_systems(index, d.queries, models, k=10, prefetch_limit=10)
    assert set(systems) == {"bm25-qdrant", "sparse-base", "sparse-tuned", "dense-base", "dense-tuned",
                            "hybrid-base", "hybrid-tuned", "hybrid-tuned-both", "hybrid-tuned-bm25",
                            "hybrid-dense-bm25"}
    for name, s in systems.items():  # sparse vectors only match products sharing a term; dense match all
        with_dense = "dense" in name or name in ("hybrid-base", "hybrid-tuned", "hybrid-tuned-both")
        assert all(len(r) == 10 if with_dense else 3 <= len(r) <= 10 for r in s.run.values()), name
    # in-Qdrant BM25 and the dense model find the right kind of product
    assert all(next(iter(s.run["q2"])).startswith("p2-") for s in (systems["bm25-qdrant"], systems["dense-base"]))
    # Qdrant's RRF (ranks from 0, k=60) is ranx's RRF (ranks from 1) with k=59, on the same two top-10 lists
    fused = fuse([Run(systems["sparse-base"].run), Run(systems["dense-base"].run)], method="rrf",
                 params={"k": 59})
    for q in d.queries:  # same scores for the same products (ties may be broken in another order)
        ours = systems["hybrid-base"].run[q]
        theirs = sorted(fused[q].values(), reverse=True)[:10]
        assert all(abs(ours[p] - fused[q][p]) < 1e-6 for p in ours), q
        assert np.allclose(sorted(ours.values(), reverse=True), theirs, atol=1e-6), q
    # the same for tuned SPLADE + BM25 (two sparse lists, shorter than k)
    fused = fuse([Run(systems["sparse-tuned"].run), Run(systems["bm25-qdrant"].run)], method="rrf", params={"k": 59})
    for q in d.queries:
        ours = systems["hybrid-tuned-bm25"].run[q]
        assert all(abs(ours[p] - fused[q][p]) < 1e-6 for p in ours), q


def test_dbsf_and_weights_change_the_fusion(collection):
    d, index, models = collection
    rrf = run_systems(index, d.queries, models, k=10, systems=["hybrid-base"])["hybrid-base"]
    dbsf = run_systems(index, d.queries, models, k=10, systems=["hybrid-base"], fusion="dbsf")["hybrid-base"]
    assert dbsf.run.keys() == rrf.run.keys() and dbsf.timings["fusion"] == "dbsf"
    # DBSF: each list normalised by mean ± 3 std, then summed; recompute it from the single-vector runs
    single = run_systems(index, d.queries, models, k=100, systems=["sparse-base", "dense-base"])
    q = "q4"
    total = {}
    for name in ("sparse-base", "dense-base"):
        scores = np.array(list(single[name].run[q].values()))
        lo, hi = scores.mean() - 3 * scores.std(), scores.mean() + 3 * scores.std()
        for p, s in single[name].run[q].items():
            total[p] = total.get(p, 0) + (s - lo) / (hi - lo)
    expected = sorted(total, key=lambda p: -total[p])[:3]
    assert list(dbsf.run[q])[:3] == expected
    # weighted RRF, Qdrant's formula: sum_i 1 / ((rank_i + 1) / w_i + k - 1), ranks from 0
    weighted = run_systems(index, d.queries, models, k=10, systems=["hybrid-base"], weights=[3.0, 1.0],
                           prefetch_limit=100)["hybrid-base"]
    for q in d.queries:
        expect = {}
        for name, w in (("sparse-base", 3.0), ("dense-base", 1.0)):
            for rank, p in enumerate(single[name].run[q]):
                expect[p] = expect.get(p, 0) + 1 / ((rank + 1) / w + 60 - 1)
        assert all(abs(weighted.run[q][p] - expect[p]) < 1e-5 for p in weighted.run[q]), q
    assert weighted.run != rrf.run


def test_significance_marks_differences(collection):
    d, index, models = collection
    systems = run_systems(index, d.queries, models, k=10, systems=["bm25-qdrant", "dense-base"])
    per_query = {n: score(s, d.qrels, [10]).per_query["ndcg@10"] for n, s in systems.items()}
    sig = significance(per_query, against=["bm25-qdrant"])
    r = sig["results"]["dense-base"]["bm25-qdrant"]
    assert 0 <= r["p"] <= 1 and isinstance(r["significant"], bool)


def test_matryoshka_runs_match_qdrant_at_full_size_and_cut_each_size(collection):
    from searchtune.evaluation.matryoshka import matryoshka_runs
    from searchtune.models import load_encoder

    d, index, models = collection
    qdrant = run_systems(index, d.queries, models, k=5, systems=["dense-base"])["dense-base"].run
    runs, timings = matryoshka_runs(load_encoder("minilm", kind="dense"), d, d.queries, [384, 64], k=5)
    assert set(runs) == {384, 64} and timings["documents"] == len(d.products)
    for qid in d.queries:
        assert list(runs[384][qid])[:3] == list(qdrant[qid])[:3]  # exact search == Qdrant at full size
        assert len(runs[64][qid]) == 5
    assert runs[64] != runs[384]  # the cut vectors score differently
    stored = index.vectors(d.product_ids, 384, name="dense_base")  # read back instead of encoding again
    assert stored.shape == (len(d.products), 384)
    reused, timings = matryoshka_runs(load_encoder("minilm", kind="dense"), d, d.queries, [384, 64], k=5, docs=stored)
    assert timings["documents_reused"] and all(list(reused[64][q])[:3] == list(runs[64][q])[:3] for q in d.queries)
    with pytest.raises(SearchtuneError, match="outside"):
        matryoshka_runs(load_encoder("minilm", kind="dense"), d, d.queries, [512], k=5)


@pytest.mark.slow
def test_a_dense_training_step_changes_the_model(tmp_path):
    import torch

    from searchtune.config import TrainConfig
    from searchtune.data import Split
    from searchtune.models import load_encoder
    from searchtune.train.trainer import train

    d = data()
    split = Split(train=[f"q{i}" for i in range(10)], dev=["q10"], test=["q11"])
    cfg = TrainConfig(kind="dense", epochs=1, batch_size=4, max_seq_length=16, matryoshka_dims=[384, 64],
                      mini_batch_size=2, learning_rate=1e-4)
    path = train(d, split, cfg, tmp_path, progress=False).model_dir
    base, tuned = load_encoder("minilm", kind="dense"), load_encoder(path, kind="dense")
    b = dict(base.named_parameters())
    assert any(not torch.equal(p, b[n]) for n, p in tuned.named_parameters())
    import json

    stats = json.loads((path / "training_stats.json").read_text())
    assert stats["kind"] == "dense" and stats["started_from"] == "minilm"


def test_cli_index_hybrid_then_search_every_mode(tmp_path):
    from conftest import write
    from typer.testing import CliRunner

    from searchtune.cli import app

    runner = CliRunner()
    catalog = write(tmp_path / "c.csv", "id,title,brand\n1,Cordless drill kit,Ryobi\n2,Garden hose 50 ft,Sun Joe\n"
                                        "3,Circular saw,Makita\n4,Leaf blower,Toro\n")
    r = runner.invoke(app, ["index", "--data", str(catalog), "--collection", "hy", "--dense-model", "minilm"])
    assert r.exit_code == 0, r.output
    for mode in ("sparse", "dense", "hybrid", "bm25"):
        found = runner.invoke(app, ["search", "garden hose", "--collection", "hy", "--mode", mode, "-k", "2"])
        assert found.exit_code == 0, (mode, found.output)
        first = [line for line in found.output.splitlines() if "│ 1 │" in line]
        assert first and "Garden hose" in first[0], (mode, found.output)
    plain = runner.invoke(app, ["index", "--data", str(catalog), "--collection", "plain"])
    assert plain.exit_code == 0
    refused = runner.invoke(app, ["search", "hose", "--collection", "plain", "--mode", "dense"])
    assert refused.exit_code == 2 and "--dense-model" in refused.output


def test_dense_search_is_exact_on_small_collections_and_hnsw_with_a_wide_beam_above(collection, monkeypatch):
    from searchtune.index import base

    d, index, models = collection
    assert index.dense_search("dense_base") == {"exact": True}
    assert index.dense_search("sparse_base") is None and index.dense_search("bm25") is None
    monkeypatch.setattr(base, "DENSE_EXACT_MAX_POINTS", 3)
    assert index.dense_search("dense_tuned") == {"hnsw_ef": base.DENSE_HNSW_EF}
    runs = run_systems(index, d.queries, models, k=5, systems=["dense-base", "hybrid-base"])
    assert all(len(r) == 5 for r in runs["dense-base"].run.values())
