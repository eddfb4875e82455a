import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from searchtune.bm25 import BM25Baseline
from searchtune.encode import encode_sparse, top_terms
from searchtune.index import EdgeIndex, open_index, point_id
from searchtune.index.server import ServerIndex
from searchtune.search import index_products, search_queries

PRODUCTS = pd.DataFrame({
    "product_id": ["d1", "d2", "d3", "d4"],
    "title": ["DeWalt 20V cordless drill", "Makita circular saw", "Garden hose 50 ft", "Ryobi cordless drill driver"],
    "brand": ["DeWalt", "Makita", "", "Ryobi"],
})
PRODUCTS["text"] = PRODUCTS["title"]


def matrix(rows):
    return sp.csr_matrix(np.array(rows, dtype=np.float32))


@pytest.fixture(params=["edge", "server"])
def index(request, tmp_path):
    if request.param == "edge":
        ix = EdgeIndex("t", tmp_path / "qdrant")
    else:
        ix = ServerIndex("t", ":memory:")  # qdrant-client's local mode stands in for a server
    yield ix
    ix.close()


def test_upsert_search_exclude_and_idempotent(index):
    index.create()
    vecs = matrix([[1, 0, 2], [0, 3, 0], [1, 1, 1]])
    payloads = [{"product_id": p, "title": p.upper()} for p in "abc"]
    index.upsert(list("abc"), vecs, payloads)
    index.upsert(list("abc"), vecs, payloads)  # same ids → same points
    assert index.count() == 3
    hits = index.search(matrix([[0, 1, 0], [1, 0, 1]]), limit=3)
    assert [h.product_id for h in hits[0]] == ["b", "c"]
    assert hits[0][0].score == pytest.approx(3.0) and hits[0][0].payload["title"] == "B"
    assert [h.product_id for h in hits[1]] == ["a", "c"]
    excluded = index.search(matrix([[1, 0, 1]]), limit=3, exclude=[{"a"}])
    assert [h.product_id for h in excluded[0]] == ["c"]


def test_point_ids_are_stable_uuids():
    assert point_id("123") == point_id("123") != point_id("124")
    assert len(point_id("x")) == 36


def test_edge_collection_persists_with_metadata(tmp_path):
    ix = EdgeIndex("p", tmp_path)
    ix.create(metadata={"model": "m1"})
    ix.upsert(["a"], matrix([[1, 0]]), [{"product_id": "a"}])
    ix.close()
    again = open_index("p", data_dir=tmp_path)
    assert again.exists() and again.count() == 1 and again.metadata()["model"] == "m1"
    again.close()


def test_splade_index_and_search_on_edge(splade, tmp_path):
    ix = EdgeIndex("products", tmp_path)
    stats = index_products(splade, PRODUCTS, ix, progress=False)
    assert stats["documents"] == 4 and ix.count() == 4
    hits, timing = search_queries(splade, ix, {"q": "cordless drill", "h": "hose for the garden"}, k=2)
    assert {h.product_id for h in hits["q"]} == {"d1", "d4"}
    assert hits["h"][0].product_id == "d3"
    assert timing["queries"] == 2
    vec = encode_sparse(splade, ["cordless drill"], kind="query")
    assert "drill" in [t for t, _ in top_terms(splade, vec, 10)]
    ix.close()


def test_bm25_stems_and_drops_stop_words():
    bm25 = BM25Baseline(stem=True).index(PRODUCTS["product_id"].tolist(), PRODUCTS["text"].tolist())
    run = bm25.search({"q": "the drills", "none": "zzzz"}, k=10)
    assert set(run["q"]) == {"d1", "d4"}
    assert run["none"] == {}
    plain = BM25Baseline(stem=False).index(PRODUCTS["product_id"].tolist(), PRODUCTS["text"].tolist())
    assert plain.search({"q": "the drills"}, k=10)["q"] == {}
