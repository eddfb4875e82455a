import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from searchtune.data import SearchData
from searchtune.encode import encode_sparse, top_terms
from searchtune.evaluation.bm25 import BM25Baseline
from searchtune.index import EdgeIndex, open_index
from searchtune.index import collection as col
from searchtune.index.base import point_id
from searchtune.index.server import ServerIndex

PRODUCTS = pd.DataFrame({
    "product_id": ["d1", "d2", "d3", "d4"],
    "title": ["DeWalt 20V cordless drill", "Makita circular saw", "Garden hose 50 ft", "Ryobi cordless drill driver"],
    "brand": ["DeWalt", "Makita", "", "Ryobi"],
})
PRODUCTS["text"] = PRODUCTS["title"]


def matrix(rows):
    return sp.csr_matrix(np.array(rows, dtype=np.float32))


SPARSE = {"v": {"kind": "sparse"}}


@pytest.fixture(params=["edge", "server"])
def index(request, tmp_path):
    if request.param == "edge":
        ix = EdgeIndex("t", tmp_path / "qdrant", vectors=SPARSE)
    else:
        ix = ServerIndex("t", ":memory:", vectors=SPARSE)  # qdrant-client's local mode stands in for a server
    yield ix
    ix.close()


def test_upsert_search_exclude_and_idempotent(index):
    index.create()
    vecs = matrix([[1, 0, 2], [0, 3, 0], [1, 1, 1]])
    payloads = [{"product_id": p, "title": p.upper()} for p in "abc"]
    index.upsert(list("abc"), {"v": vecs}, payloads)
    index.upsert(list("abc"), {"v": vecs}, payloads)  # same ids → same points
    assert index.count() == 3
    hits = index.query({"v": matrix([[0, 1, 0], [1, 0, 1]])}, ["v"], limit=3)
    assert [h.product_id for h in hits[0]] == ["b", "c"]
    assert hits[0][0].score == pytest.approx(3.0) and hits[0][0].payload["title"] == "B"
    assert [h.product_id for h in hits[1]] == ["a", "c"]
    excluded = index.query({"v": matrix([[1, 0, 1]])}, ["v"], limit=3, exclude=[{"a"}])
    assert [h.product_id for h in excluded[0]] == ["c"]


def test_point_ids_are_stable_uuids():
    assert point_id("123") == point_id("123") != point_id("124")
    assert len(point_id("x")) == 36


def test_edge_collection_persists_with_metadata(tmp_path):
    ix = EdgeIndex("p", tmp_path, vectors=SPARSE)
    ix.create(metadata={"model": "m1"})
    ix.upsert(["a"], {"v": matrix([[1, 0]])}, [{"product_id": "a"}])
    ix.close()
    again = open_index("p", data_dir=tmp_path)
    assert again.exists() and again.count() == 1 and again.metadata()["model"] == "m1"
    again.close()


def test_splade_index_and_search_on_edge(splade, tmp_path):
    ix = EdgeIndex("products", tmp_path)
    models = col.Models(sparse_base="splade-tiny")
    stats = col.build(ix, SearchData(PRODUCTS), models, progress=False, loaded={"sparse_base": splade})
    assert stats["documents"] == 4 and ix.count() == 4 and not stats["reused"]
    hits = col.search(ix, models, ["cordless drill", "hose for the garden"], "sparse-base", k=2,
                      loaded={"sparse_base": splade})
    assert {h.product_id for h in hits[0]} == {"d1", "d4"}
    assert hits[1][0].product_id == "d3"
    vec = encode_sparse(splade, ["cordless drill"], kind="query")
    assert "drill" in [t for t, _ in top_terms(splade, vec, 10)]
    ix.close()


def test_a_collection_is_reused_only_for_the_same_catalog_and_models(splade, tmp_path):
    """The fingerprint is the catalog's ids and texts and the models: a catalog of the same size with other
    texts, or another model, rebuilds the collection; the same catalog and models reuse it."""
    loaded = {"sparse_base": splade}
    models = col.Models(sparse_base="splade-tiny")
    with EdgeIndex("c", tmp_path) as ix:
        assert not col.build(ix, SearchData(PRODUCTS), models, progress=False, loaded=loaded)["reused"]
        assert col.build(ix, SearchData(PRODUCTS.copy()), models, progress=False, loaded=loaded)["reused"]
        other = PRODUCTS.copy()
        other["text"] = ["Patio umbrella", "Bird feeder", "Garden hose 50 ft", "Lawn mower"]
        assert not col.build(ix, SearchData(other), models, progress=False, loaded=loaded)["reused"]
        hits = col.search(ix, models, ["umbrella for the patio"], "sparse-base", k=1, loaded=loaded)
        assert hits[0][0].product_id == "d1"  # the new text is what is searched
        assert not col.build(ix, SearchData(other), col.Models(sparse_base=str(tmp_path / "m")), progress=False,
                             loaded=loaded)["reused"]


def test_modes_map_to_the_systems_a_collection_holds():
    base = col.Models(sparse_base="s", dense_base="d")
    assert [base.mode_system(m) for m in col.MODES] == ["sparse-base", "dense-base", "hybrid-base", "bm25-qdrant"]
    tuned = col.Models(sparse_tuned="s", dense_tuned="d")
    assert tuned.mode_system("hybrid") == "hybrid-tuned-both" and tuned.mode_system("sparse") == "sparse-tuned"
    with pytest.raises(Exception, match="mode must be"):
        base.mode_system("fuzzy")


def test_bm25_stems_and_drops_stop_words():
    bm25 = BM25Baseline(stem=True).index(PRODUCTS["product_id"].tolist(), PRODUCTS["text"].tolist())
    run = bm25.search({"q": "the drills", "none": "zzzz"}, k=10)
    assert set(run["q"]) == {"d1", "d4"}
    assert run["none"] == {}
    plain = BM25Baseline(stem=False).index(PRODUCTS["product_id"].tolist(), PRODUCTS["text"].tolist())
    assert plain.search({"q": "the drills"}, k=10)["q"] == {}


def test_a_one_megabyte_text_is_cut_to_what_the_model_reads_before_tokenising(splade):
    import time

    from searchtune.encode import CHARS_PER_TOKEN, capped

    huge = "cordless drill with two batteries " * 30_000  # ~1 MB
    limit = splade.max_seq_length * CHARS_PER_TOKEN
    assert [len(t) for t in capped(splade, [huge, "saw"])] == [limit, 3]
    t = time.perf_counter()
    vectors = encode_sparse(splade, [huge, "garden hose"], batch_size=2)
    assert time.perf_counter() - t < 5  # the whole megabyte was never tokenised
    same = encode_sparse(splade, [huge[:limit]])
    assert np.allclose(vectors[0].toarray(), same[0].toarray(), atol=1e-4)


def test_an_index_build_cut_off_midway_is_built_again_not_reused(splade, tmp_path, monkeypatch):
    loaded = {"sparse_base": splade}
    models = col.Models(sparse_base="splade-tiny")
    data = SearchData(PRODUCTS)
    with EdgeIndex("c", tmp_path, batch_size=2) as ix:
        real = EdgeIndex.upsert
        calls = []

        def dies_on_the_second_batch(self, *args, **kw):
            calls.append(1)
            if len(calls) == 2:
                raise KeyboardInterrupt  # the user's Ctrl-C, or a kill, mid-way through the catalog
            return real(self, *args, **kw)

        monkeypatch.setattr(EdgeIndex, "upsert", dies_on_the_second_batch)
        with pytest.raises(KeyboardInterrupt):
            col.build(ix, data, models, progress=False, loaded=loaded, chunk_size=2)
        monkeypatch.setattr(EdgeIndex, "upsert", real)
        stats = col.build(ix, data, models, progress=False, loaded=loaded, chunk_size=2)
        assert not stats["reused"] and ix.count() == len(PRODUCTS)
        assert col.build(ix, data, models, progress=False, loaded=loaded)["reused"]


def test_the_fast_splade_path_equals_sentence_transformers(splade):
    """fp32: the same nonzero terms and values within 1e-5, for documents and queries, odd lengths, an empty
    string, a batch of one."""
    from searchtune import fast_splade
    from searchtune.encode import encode

    assert fast_splade.supported(splade)
    texts = ["Cordless drill 18V with two batteries", "", "a", "saw " * 300, "Garden hose, 50 ft, kink-free"]
    for kind in ("document", "query"):
        fn = splade.encode_query if kind == "query" else splade.encode_document
        for batch in (texts, texts[:1]):
            ref = fn(batch, batch_size=2, convert_to_tensor=True, convert_to_sparse_tensor=True).coalesce()
            rows, cols = ref.indices().numpy()
            expected = sp.csr_matrix((ref.values().numpy(), (rows, cols)), shape=ref.shape)
            expected.eliminate_zeros()
            got = encode(splade, batch, kind, batch_size=2, precision="fp32")
            assert got.shape == expected.shape
            for i in range(len(batch)):
                assert got[i].indices.tolist() == sorted(expected[i].indices.tolist())
            assert abs(got - expected).max() < 1e-5


def test_queries_compute_only_the_terms_the_index_holds_and_rank_the_same(splade, tmp_path):
    """The collection records which vocabulary ids its products hold; query vectors are computed on those
    columns only: equal to the full vectors there, zero elsewhere, so every score is unchanged."""
    from searchtune.encode import encode

    with EdgeIndex("cols", tmp_path) as ix:
        col.build(ix, SearchData(PRODUCTS), col.Models(sparse_base="splade-tiny"), progress=False,
                  loaded={"sparse_base": splade})
        columns = col.indexed_columns(ix.metadata(), "sparse_base")
        docs = encode(splade, PRODUCTS["text"].tolist(), "document", precision="fp32")
        assert columns.tolist() == np.unique(docs.indices).tolist()
        assert 0 < len(columns) < len(splade.tokenizer) // 10
        queries = ["cordless drill with battery", "a garden hose", "zebra"]
        full = encode(splade, queries, "query", precision="fp32")
        pruned = encode(splade, queries, "query", precision="fp32", columns=columns)
        assert pruned.nnz < full.nnz and set(pruned.indices) <= set(columns)
        assert abs(pruned[:, columns] - full[:, columns]).max() < 1e-5
        assert abs((pruned @ docs.T) - (full @ docs.T)).max() < 1e-4


def test_an_unknown_splade_layout_falls_back_to_sentence_transformers(splade, caplog):
    import logging

    from searchtune import fast_splade

    class Other(list):  # a model whose modules the fast path does not know
        pass

    other = Other([object(), object()])
    with caplog.at_level(logging.INFO, logger="searchtune.fast_splade"):
        assert not fast_splade.supported(other)
    assert "not recognised" in caplog.text


def test_a_catalog_with_a_one_megabyte_title_stays_in_bounded_memory(tmp_path):
    """Peak memory of encoding 64 long products (~500 tokens each), then the same with one of them a 1 MB title:
    the huge title costs no more than the long ones (measured in fresh processes)."""
    import json
    import subprocess
    import sys

    script = """
import resource, sys
import pandas as pd
from searchtune.data import SearchData
from searchtune.encode import encode
from searchtune.models import load_encoder
model = load_encoder("splade-tiny")
texts = ["cordless drill with battery and charger " * 80] * 64
if sys.argv[1] == "huge":
    texts[0] = "cordless drill with battery and charger " * 25_000
encode(model, texts, "document", batch_size=32, precision="fp32")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
    peak = {}
    for case in ("plain", "huge"):
        out = subprocess.run([sys.executable, "-c", script, case], capture_output=True, text=True, check=True)
        peak[case] = int(out.stdout.strip().splitlines()[-1]) / 1024  # MB
    assert peak["huge"] < peak["plain"] + 100, json.dumps(peak)
