"""Blue-green: a model change builds a version beside the live collection, checks it, moves the alias;
searchers follow the move; rollback and pruning."""

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
from conftest import EXAMPLES
from test_serve import QUERIES, call, served

from searchtune.config import IndexConfig
from searchtune.data import SearchData
from searchtune.errors import SearchtuneError
from searchtune.index import collection as col
from searchtune.index import open_index
from searchtune.index.aliases import EdgeAliases
from searchtune.versions import prune, publish, rollback
from searchtune.system import Searcher, System


def catalog(n=60):
    frame = pd.read_csv(EXAMPLES / "catalog.csv", dtype=str).head(n)
    return SearchData(pd.DataFrame({"product_id": frame["id"], "title": frame["title"], "brand": frame["brand"],
                                    "text": frame["brand"] + " " + frame["title"]}))


def opener(folder):
    return lambda name, resolve=True: open_index(name, IndexConfig(data_dir=str(folder)), resolve=resolve)


def test_a_model_change_is_a_new_version_the_alias_moves_and_rolls_back(tmp_path, splade):
    opened, data, loaded = opener(tmp_path), catalog(), {"sparse_base": splade}
    first = publish(opened, "shop", data, col.Models(sparse_base="splade-tiny"), progress=False, loaded=loaded)
    assert first.live == "shop" and not first.moved  # the first build is the plain collection
    assert publish(opened, "shop", data, col.Models(sparse_base="splade-tiny"), progress=False,
                   loaded=loaded).reused  # the same models and catalog: nothing to do
    system = System(vectors=("sparse_base",), models={"sparse_base": "splade-tiny"}, collection="shop",
                    data_dir=str(tmp_path))
    searcher = Searcher(system)  # opened before the move
    before = searcher.search("cordless drill", 3)
    # another text recipe (8 tokens a product): a new version beside the live one, then the alias
    second = publish(opened, "shop", data, col.Models(sparse_base="splade-tiny", max_length=8), progress=False,
                     loaded=loaded)
    assert second.moved and second.previous == "shop" and second.live.startswith("shop--")
    assert EdgeAliases(tmp_path).get("shop") == second.live
    with opened("shop") as ix:
        assert ix.name == second.live and ix.count() == len(data.products)
    after = searcher.search("cordless drill", 3)  # the searcher followed the move without a restart
    assert searcher.index.name == second.live and len(after) == len(before) == 3
    with opened("shop", resolve=False) as old:
        assert old.exists() and old.count() == len(data.products)  # kept for --rollback
    with pytest.raises(SearchtuneError, match="live behind the alias"), opened(second.live, resolve=False) as ix:
        ix.delete()  # the version that answers queries is never deleted or rebuilt in place
    assert rollback(opened, "shop") == "shop" and EdgeAliases(tmp_path).get("shop") == "shop"
    searcher.search("garden hose", 3)
    assert searcher.index.name == "shop"
    searcher.close()
    # back to the 8-token version (reused: not built again), then prune all but the live one
    again = publish(opened, "shop", data, col.Models(sparse_base="splade-tiny", max_length=8), progress=False,
                    loaded=loaded)
    assert again.moved and again.reused and again.live == second.live
    assert prune(opened, "shop", keep=0) == []  # the live version and the one it replaced stay
    third = publish(opened, "shop", data, col.Models(sparse_base="splade-tiny", max_length=16), progress=False,
                    loaded=loaded)
    assert third.previous == second.live and prune(opened, "shop", keep=0) == ["shop"]
    with opened("shop") as ix:
        assert ix.name == third.live and ix.count() == len(data.products)


def test_the_check_refuses_a_worse_version_unless_forced(tmp_path, splade):
    from searchtune.config import DataConfig
    from searchtune.data import load_data, split_for

    config = DataConfig(catalog=str(EXAMPLES / "catalog.csv"), queries=str(EXAMPLES / "queries.csv"))
    data = load_data(config)
    dev = split_for(config, data.queries).dev
    opened, loaded = opener(tmp_path), {"sparse_base": splade}
    publish(opened, "shop", data, col.Models(sparse_base="splade-tiny", max_length=64), dev=dev, progress=False,
            loaded=loaded)
    worse = col.Models(sparse_base="splade-tiny", max_length=3)  # reads one word of each product
    with pytest.raises(SearchtuneError, match="the alias stays"):
        publish(opened, "shop", data, worse, dev=dev, progress=False, loaded=loaded)
    assert EdgeAliases(tmp_path).get("shop") is None  # still the live collection itself
    forced = publish(opened, "shop", data, worse, dev=dev, force=True, progress=False, loaded=loaded)
    assert forced.moved and forced.reused and forced.check["new"] < forced.check["live"]


def test_a_server_alias_moves_in_one_request(splade):
    from qdrant_client import QdrantClient

    from searchtune.index.server import ServerIndex

    client = QdrantClient(location=":memory:")
    data = catalog(20)

    def opened(name, resolve=True):
        ix = ServerIndex(name, client=client)
        ix.close = lambda: None  # one in-process "server" for the whole test
        target = {a.alias_name: a.collection_name for a in client.get_aliases().aliases}.get(name) if resolve else None
        if target:
            ix.name, ix.alias = target, name
        return ix

    loaded = {"sparse_base": splade}
    first = publish(opened, "shop", data, col.Models(sparse_base="splade-tiny"), server=True, progress=False,
                    loaded=loaded)
    assert first.moved and first.live.startswith("shop--")  # on a server even the first build is behind an alias
    second = publish(opened, "shop", data, col.Models(sparse_base="splade-tiny", max_length=8), server=True,
                     progress=False, loaded=loaded)
    assert second.previous == first.live and opened("shop").name == second.live
    assert rollback(opened, "shop") == first.live and opened("shop").name == first.live


def serving(url, version, seconds=60):
    deadline = time.monotonic() + seconds
    while call(url, "GET", "/info")[1]["collection"]["version"] != version:
        assert time.monotonic() < deadline, f"the server never followed the alias to {version}"
        time.sleep(0.05)


@pytest.mark.slow
def test_a_swap_while_serving_fails_no_query(tmp_path, splade):
    opened, data, loaded = opener(tmp_path), catalog(120), {"sparse_tuned": splade}
    publish(opened, "shop", data, col.Models(sparse_tuned="splade-tiny"), progress=False, loaded=loaded)
    system = System(vectors=("sparse_tuned", "bm25"), models={"sparse_tuned": "splade-tiny"}, collection="shop",
                    data_dir=str(tmp_path), label="SPLADE + BM25")
    stop, statuses = threading.Event(), []

    def client(url):
        while not stop.is_set():
            statuses.append(call(url, "POST", "/search", {"query": QUERIES[len(statuses) % len(QUERIES)], "k": 5})[0])

    with served(system) as url, ThreadPoolExecutor(8) as pool:
        for _ in range(8):
            pool.submit(client, url)
        new = publish(opened, "shop", data, col.Models(sparse_tuned="splade-tiny", max_length=8), progress=False,
                      loaded=loaded)
        serving(url, new.live)  # the server follows the move on its next batch
        rollback(opened, "shop")
        serving(url, "shop")
        stop.set()
    assert len(statuses) > 8 and set(statuses) == {200}, f"{len(statuses)} queries: {sorted(set(statuses))}"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="bench/flywheel.sh talks to the server with curl")
def test_one_turn_of_the_loop_end_to_end(tmp_path):
    """bench/flywheel.sh on the bundled example, small: run, serve, replay shoppers, import the server's log,
    retrain from the previous model, compare, swap the served collection while serving, report."""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(["bash", str(root / "bench" / "flywheel.sh"), str(tmp_path / "fly"), "200"], cwd=root,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "swap: the server now searches finetuned--" in done.stdout or "swap refused" in done.stdout
    assert "| run1: run0 retrained on the served logs |" in done.stdout
    served = (tmp_path / "fly" / "served.jsonl").read_text().splitlines()
    assert any('"event": "click"' in line for line in served)  # the shoppers' clicks reached the server's log
    report = json.loads((tmp_path / "fly" / "run1" / "report.json").read_text())
    assert report["events"]["clicks"] > 0 and report["timings"]["training"]["started_from"].endswith("run0/model")


def test_storage_options_reach_the_collection_and_a_change_is_a_new_build(tmp_path, splade):
    config = IndexConfig(data_dir=str(tmp_path), sparse_on_disk=True, payload_on_disk=True)
    data, loaded = catalog(20), {"sparse_base": splade}
    with open_index("shop", config) as ix:
        col.build(ix, data, col.Models(sparse_base="splade-tiny"), bm25=True, progress=False, loaded=loaded)
        assert ix.metadata()["storage"] == {"sparse_on_disk": True, "payload_on_disk": True}
        hits = col.search(ix, col.stored_models(ix), ["garden hose"], "sparse-base", k=3, loaded=loaded)[0]
        assert len(hits) == 3
    with open_index("shop", IndexConfig(data_dir=str(tmp_path))) as ix:  # the defaults: another build
        assert not col.build(ix, data, col.Models(sparse_base="splade-tiny"), bm25=True, progress=False,
                             loaded=loaded)["reused"]
        assert "storage" not in ix.metadata()["fingerprint"]
    with pytest.raises(SearchtuneError, match="Qdrant server"):
        open_index("shop", IndexConfig(data_dir=str(tmp_path), shards=2))
    with pytest.raises(SearchtuneError, match="dense_datatype"):
        open_index("shop", IndexConfig(data_dir=str(tmp_path), dense_datatype="int4"))
