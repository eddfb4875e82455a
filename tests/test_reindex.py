"""A changed catalog reindexed in place: only what changed is encoded, nothing is lost or doubled."""

import pandas as pd
import pytest
from typer.testing import CliRunner

from searchtune.cli import app
from searchtune.data import SearchData
from searchtune.index import EdgeIndex
from searchtune.index import collection as col
from searchtune.index.reindex import plan, reindex


def catalog(n=20, changed=(), removed=(), added=0):
    rows = [{"product_id": f"p{i}", "title": f"Product {i}", "text": f"product number {i} cordless drill"
             if i % 2 else f"product number {i} garden hose"} for i in range(n) if i not in removed]
    for row in rows:
        if int(row["product_id"][1:]) in changed:
            row["text"] = row["text"] + " now with a free battery"
    rows += [{"product_id": f"new{i}", "title": f"New {i}", "text": f"brand new patio table {i}"} for i in range(added)]
    return SearchData(pd.DataFrame(rows))


@pytest.mark.parametrize("backend", ["edge", "server"])
def test_only_what_changed_is_encoded_and_a_rerun_does_nothing(tmp_path, splade, backend):
    from searchtune.index.server import ServerIndex

    loaded = {"sparse_tuned": splade}
    with (EdgeIndex("shop", tmp_path) if backend == "edge" else ServerIndex("shop", ":memory:")) as ix:
        col.build(ix, catalog(), col.Models(sparse_tuned="splade-tiny"), bm25=True, progress=False, loaded=loaded)
        after = catalog(changed=(3, 4), removed=(5, 6), added=2)
        todo = plan(ix, after)
        assert todo.to_dict()["new"] == 2 and len(todo.changed) == 2 and len(todo.removed) == 2
        assert todo.unchanged == 16 and ix.count() == 20  # a plan changes nothing
        done = reindex(ix, after, progress=False, loaded=loaded)
        assert (done["new"], done["changed"], done["removed"]) == (2, 2, 2) and ix.count() == 20
        hits = col.search(ix, col.stored_models(ix), ["patio table"], "sparse-tuned", k=3, loaded=loaded)[0]
        assert hits[0].product_id.startswith("new")  # a new product is found
        assert {"p5", "p6"}.isdisjoint(ix.hashes())  # a removed one is gone
        assert plan(ix, after).to_dict() == {"new": 0, "changed": 0, "removed": 0, "unchanged": 20,
                                             "estimated_seconds": plan(ix, after).seconds}
        assert ix.metadata()["fingerprint"]["catalog"] == after.fingerprint  # searched as the new catalog
        assert col.build(ix, after, col.Models(sparse_tuned="splade-tiny", max_length=None), bm25=True,
                         progress=False, loaded=loaded)["reused"]  # a build sees it up to date


def test_a_reindex_cut_off_and_run_again_leaves_nothing_missing_or_doubled(tmp_path, splade, monkeypatch):
    loaded = {"sparse_tuned": splade}
    after = catalog(changed=range(0, 20, 3), added=30)
    with EdgeIndex("shop", tmp_path) as ix:
        col.build(ix, catalog(), col.Models(sparse_tuned="splade-tiny"), bm25=True, progress=False, loaded=loaded)
        real = type(ix).upsert
        calls = []

        def dies_after_one(self, *args, **kw):
            if calls:
                raise KeyboardInterrupt  # killed between two chunks
            calls.append(1)
            return real(self, *args, **kw)

        monkeypatch.setattr(type(ix), "upsert", dies_after_one)
        with pytest.raises(KeyboardInterrupt):
            reindex(ix, after, progress=False, loaded=loaded, chunk_size=8)
        monkeypatch.setattr(type(ix), "upsert", real)
        reindex(ix, after, progress=False, loaded=loaded, chunk_size=8)
        assert ix.count() == 50 and set(ix.hashes()) == set(after.products["product_id"])
        assert plan(ix, after).unchanged == 50


def test_the_cli_plans_then_reindexes(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("id,title\n1,Cordless drill\n2,Garden hose\n3,Circular saw\n")
    second.write_text("id,title\n1,Cordless drill kit\n2,Garden hose\n4,Patio table\n")
    runner = CliRunner()
    assert runner.invoke(app, ["index", "--data", str(first), "--collection", "c"]).exit_code == 0
    planned = runner.invoke(app, ["reindex", "--data", str(second), "--collection", "c", "--plan"])
    assert planned.exit_code == 0 and "1 new, 1 changed, 1 removed, 1 unchanged" in planned.output
    done = runner.invoke(app, ["reindex", "--data", str(second), "--collection", "c"])
    assert done.exit_code == 0 and "2 encoded, 1 deleted" in done.output
    found = runner.invoke(app, ["search", "patio", "--collection", "c", "-k", "1"])
    assert "Patio table" in found.output
