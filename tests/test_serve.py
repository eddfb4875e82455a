"""`searchtune serve`: a real server on loopback, loaded by concurrent clients."""

import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pandas as pd
import pytest
from conftest import EXAMPLES

from searchtune.data import SearchData
from searchtune.index import EdgeIndex
from searchtune.index import collection as col
from searchtune.system import Searcher, System

QUERIES = ["cordless drill", "garden hose", "patio table", "led lamp", "circular saw", "tool box"]


@pytest.fixture
def system(tmp_path, splade):
    frame = pd.read_csv(EXAMPLES / "catalog.csv", dtype=str).head(120)
    products = pd.DataFrame({"product_id": frame["id"], "title": frame["title"], "brand": frame["brand"],
                             "text": frame["brand"] + " " + frame["title"]})
    with EdgeIndex("shop", tmp_path / "qdrant") as ix:
        col.build(ix, SearchData(products), col.Models(sparse_tuned="splade-tiny"), bm25=True, progress=False,
                  loaded={"sparse_tuned": splade})
    return System(vectors=("sparse_tuned", "bm25"), models={"sparse_tuned": "splade-tiny"}, collection="shop",
                  data_dir=str(tmp_path / "qdrant"), fusion="rrf", label="SPLADE + BM25")


@contextlib.contextmanager
def served(system, **options):
    import uvicorn

    from searchtune.serve.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(system, **options), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        with contextlib.suppress(OSError):
            if call(url, "GET", "/health")[0] == 200:
                break
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(20)


def call(url, method, path, body=None, headers=None, timeout=30):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if r.headers.get_content_type() == "application/json" else raw.decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def test_served_results_are_the_systems_and_concurrent_queries_get_their_own(system, tmp_path):
    with Searcher(system) as searcher:
        expected = {q: [r["hit"].product_id for r in searcher.search(q, 10)] for q in QUERIES}
    with Searcher(replace(system, vectors=("bm25",))) as bm25:
        expected_bm25 = [r["hit"].product_id for r in bm25.search("garden hose", 10)]
    with served(system, max_wait_ms=30, log_path=tmp_path / "served.jsonl") as url:
        for q in QUERIES:
            status, body = call(url, "POST", "/search", {"query": q, "k": 10})
            assert status == 200 and [h["id"] for h in body["hits"]] == expected[q] and body["search_id"]
        with ThreadPoolExecutor(16) as pool:  # interleaved: each answer must be its own query's
            got = list(pool.map(lambda q: (q, call(url, "POST", "/search", {"query": q, "k": 10})), QUERIES * 8))
        assert all(s == 200 and [h["id"] for h in b["hits"]] == expected[q] for q, (s, b) in got)
        status, body = call(url, "POST", "/search/batch", {"queries": QUERIES[:3], "k": 5})
        assert status == 200 and [len(r["hits"]) for r in body["results"]] == [5, 5, 5]
        metrics = call(url, "GET", "/metrics")[1]
        served_ok = float(next(line.split()[-1] for line in metrics.splitlines()
                               if line.startswith('searchtune_requests_total{route="/search",status="200"}')))
        assert served_ok == len(QUERIES) * 9
        count = float(next(line.split()[-1] for line in metrics.splitlines()
                           if line.startswith("searchtune_batch_size_count")))
        alone = float(next(line.split()[-1] for line in metrics.splitlines()
                           if line.startswith('searchtune_batch_size_bucket{le="1.0"}')))
        assert alone < count  # some searches were answered together, in one micro-batch
        assert call(url, "GET", "/info")[1]["collection"]["points"] == 120
        brand = body["results"][0]["hits"][0]["brand"]  # payload filters: only that brand's products come back
        status, only = call(url, "POST", "/search", {"query": "drill", "k": 10, "filters": {"brand": brand}})
        assert status == 200 and only["hits"] and {h["brand"] for h in only["hits"]} == {brand}
        assert call(url, "POST", "/search", {"query": "drill", "filters": {"colour": "red"}})[0] == 422
        # another first stage of the same collection, per request: BM25 alone, as a BM25 system would rank
        status, alone = call(url, "POST", "/search", {"query": "garden hose", "k": 10, "first_stage": "bm25"})
        assert status == 200 and [h["id"] for h in alone["hits"]] == expected_bm25 and "bm25" in alone["system"]
        assert call(url, "POST", "/search", {"query": "x", "rerank": True})[0] == 400  # this system has none
        sparse = call(url, "POST", "/embed_sparse", {"inputs": ["cordless drill"]})[1]
        assert sparse[0] and all(set(t) == {"index", "value"} and t["value"] > 0 for t in sparse[0])


def test_what_was_served_imports_as_a_search_log(system, tmp_path):
    from typer.testing import CliRunner

    from searchtune.cli import app
    from searchtune.events import EventStore

    log = tmp_path / "served.jsonl"
    with served(system, log_path=log) as url:
        body = call(url, "POST", "/search", {"query": "garden hose", "k": 5})[1]
        clicked = body["hits"][1]["id"]
        assert call(url, "POST", "/events", {"search_id": body["search_id"], "product_id": clicked,
                                             "event": "click"})[0] == 200
        assert call(url, "POST", "/events", {"search_id": "nope", "product_id": clicked, "event": "click"})[0] == 404
    result = CliRunner().invoke(app, ["events", "import", str(log), "--catalog", str(EXAMPLES / "catalog.csv"),
                                      "--store", str(tmp_path / "store")])
    assert result.exit_code == 0, result.output
    events = EventStore(tmp_path / "store").load()
    assert len(events) == 6 and (events["event"] == "impression").sum() == 5
    click = events[events["event"] == "click"].iloc[0]
    assert click["product_id"] == clicked and click["position"] == 2 and click["query"] == "garden hose"


def test_overload_is_a_503_a_key_is_required_and_bad_bodies_name_the_field(system):
    with served(system, max_queue=1, max_wait_ms=300, api_key="s3cret") as url:
        key = {"X-API-Key": "s3cret"}
        assert call(url, "GET", "/health")[0] == 200  # open: load balancers ask it
        assert call(url, "POST", "/search", {"query": "drill"})[0] == 401
        assert call(url, "POST", "/search", {"query": "drill"}, {"X-API-Key": "wrong"})[0] == 401
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda q: call(url, "POST", "/search", {"query": q}, key, timeout=20)[0],
                                     QUERIES + QUERIES))
        assert 503 in statuses and 200 in statuses and set(statuses) <= {200, 503}  # refused at once, no hang
        for bad, field in (({"query": ""}, "query"), ({"query": "x", "k": 1000}, "k"), ({"k": 3}, "query"),
                           ({"queries": []}, "queries")):
            path = "/search/batch" if "queries" in bad else "/search"
            status, body = call(url, "POST", path, bad, key)
            assert status == 422 and field in json.dumps(body["detail"]), (bad, body)
        assert call(url, "POST", "/search", b"{not json", key)[0] == 422
        assert too_big(url, key) == 413


def too_big(url, headers) -> int:
    """Send a 2 MB body; the server answers 413 before reading it (the client may see the pipe close first)."""
    import http.client

    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    body = json.dumps({"query": "x" * (2 << 20)}).encode()
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        conn.request("POST", "/search", body, {"Content-Type": "application/json", **headers})
    return conn.getresponse().status


def test_an_exported_system_says_how_to_query_it_and_ships_an_inference_free_query_table(tmp_path, splade):
    from searchtune.inference_free import make_inference_free
    from searchtune.query_guide import export_query_table, how_to_query
    from searchtune.system import Reranker

    system = System(vectors=("sparse_tuned", "bm25"), models={"sparse_tuned": "model"}, collection="products",
                    fusion="rrf", weights=(1.0, 3.0), reranker=Reranker("reranker", k=50, weight=0.3),
                    label="hybrid + reranker")
    page = how_to_query(system)
    query = json.loads(page.split("```json")[1].split("```")[0])
    assert [p["using"] for p in query["prefetch"]] == ["sparse_tuned", "bm25"]
    assert query["query"] == {"rrf": {"k": 60, "weights": [1.0, 3.0]}} and "top 50" in page and "0.3" in page
    folder = tmp_path / "if"
    make_inference_free(splade, ["cordless drill", "garden hose"]).save(str(folder))
    table = export_query_table(folder, tmp_path)
    weights = json.loads(table.read_text())
    assert weights["drill"] > 0 and (tmp_path / "query_tokenizer" / "tokenizer.json").is_file()
