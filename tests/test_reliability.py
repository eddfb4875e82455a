"""Stores two processes can write: one lock, taken atomically, and nothing lost when two writers meet."""

import multiprocessing as mp
import os
import time

import pytest

from searchtune.errors import SearchtuneError
from searchtune.files import Lock, RunLock


def _claim(folder, barrier, owners):
    barrier.wait()
    try:
        RunLock(folder).acquire()
    except SearchtuneError:
        return
    owners.put(os.getpid())
    time.sleep(0.3)  # hold it while the others try


@pytest.mark.parametrize("stale", [False, True])
def test_one_owner_among_processes_that_claim_a_run_at_once(tmp_path, stale):
    ctx = mp.get_context("fork")
    for trial in range(15):
        folder = tmp_path / f"run{trial}"
        folder.mkdir()
        if stale:  # a lock left by a process that is gone
            dead = ctx.Process(target=time.sleep, args=(0,))
            dead.start()
            dead.join()
            (folder / ".lock").write_text(str(dead.pid))
        barrier, owners = ctx.Barrier(4), ctx.Queue()
        procs = [ctx.Process(target=_claim, args=(folder, barrier, owners)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(10)
        got = []
        while not owners.empty():
            got.append(owners.get())
        assert len(got) == 1, f"trial {trial}: {len(got)} owners"


def test_a_lock_names_its_holder_and_goes_with_it(tmp_path):
    import subprocess
    import sys

    def other(code):
        return subprocess.run([sys.executable, "-c", "from searchtune.files import Lock; import time\n" + code],
                              capture_output=True, text=True, timeout=60)

    lock = Lock(tmp_path / ".lock", what="the store").acquire()
    refused = other(f"Lock({str(tmp_path / '.lock')!r}, what='the store').acquire()")
    assert f"the store is in use by another searchtune process (pid {os.getpid()})" in refused.stderr
    lock.release()
    # a holder killed without releasing: the kernel frees the lock, the next one takes it
    holder = subprocess.Popen([sys.executable, "-c", "from searchtune.files import Lock; import time; "
                               f"Lock({str(tmp_path / '.lock')!r}).acquire(); print('held', flush=True); "
                               "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    assert Lock(tmp_path / ".lock").acquire().held


def _import(store, path, done):
    from searchtune.events import EventStore

    EventStore(store).add(path)
    done.put(path)


def test_imports_into_one_store_at_once_all_land(tmp_path):
    from searchtune.events import EventStore
    from searchtune.events.store import read_events

    rows = "timestamp,search_id,query,product_id,position,event\n"
    paths = []
    for i in range(4):  # four logs of 120 distinct events each
        text = rows + "".join(f"2026-01-0{i + 1} 10:00:{j % 60:02d},s{i}-{j},q{j},p{j},1,impression\n"
                              for j in range(120))
        path = tmp_path / f"log{i}.csv"
        path.write_text(text)
        paths.append(path)
    ctx = mp.get_context("fork")
    done = ctx.Queue()
    procs = [ctx.Process(target=_import, args=(tmp_path / "store", p, done)) for p in paths]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    expected = sum(len(read_events(p)[0]) for p in paths)
    store = EventStore(tmp_path / "store")
    assert len(store.load()) == expected == 480 and len(store.imports()) == 4
    assert not list((tmp_path / "store").glob("*.tmp"))


@pytest.mark.parametrize("suffix", [".gz", ".xz", ".zip"])
def test_a_decompression_bomb_stops_early_with_a_clear_error(tmp_path, monkeypatch, suffix):
    import gzip
    import lzma
    import zipfile

    from searchtune.data import io as data_io
    from searchtune.errors import DataError

    monkeypatch.setattr(data_io, "MIN_BOMB_BYTES", 2**20)  # the bound at 1 MB: the same rule, a small file
    body = b"id,title\n" + b"0" * (30 * 2**20)
    path = tmp_path / f"catalog.csv{suffix}"
    if suffix == ".gz":
        path.write_bytes(gzip.compress(body))
    elif suffix == ".xz":
        path.write_bytes(lzma.compress(body))
    else:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("catalog.csv", body)
    with pytest.raises(DataError, match="decompression bomb") as err:
        data_io.read_table(path)
    assert path.name in str(err.value)


def test_a_collection_cut_off_while_indexing_is_not_searched(tmp_path, splade):
    import pandas as pd
    from typer.testing import CliRunner

    from searchtune.cli import app
    from searchtune.data import SearchData
    from searchtune.index import EdgeIndex
    from searchtune.index import collection as col
    from searchtune.system import Searcher, System

    products = pd.DataFrame({"product_id": ["1", "2"], "title": ["Cordless drill", "Garden hose"],
                             "text": ["Cordless drill", "Garden hose"]})
    with EdgeIndex("shop", tmp_path) as ix:
        col.build(ix, SearchData(products), col.Models(sparse_base="splade-tiny"), bm25=True, progress=False,
                  loaded={"sparse_base": splade})
        ix.create(metadata={"complete": False})  # what a build killed half-way leaves
    found = CliRunner().invoke(app, ["search", "drill", "--collection", "shop", "--data-dir", str(tmp_path)])
    assert found.exit_code == 2 and "cut off while indexing" in found.output
    system = System(vectors=("sparse_base",), models={"sparse_base": "splade-tiny"}, collection="shop",
                    data_dir=str(tmp_path))
    with pytest.raises(SearchtuneError, match="cut off while indexing"):
        Searcher(system)


def test_settings_and_places_that_cannot_work_are_one_clear_line_before_any_long_step(tmp_path):
    from conftest import EXAMPLES
    from typer.testing import CliRunner

    from searchtune.cli import app
    from searchtune.config import Config
    from searchtune.fit import save_model
    from searchtune.models import resolve_model

    runner = CliRunner()
    data = ["--catalog", str(EXAMPLES / "catalog.csv"), "--queries", str(EXAMPLES / "queries.csv")]
    for config, match in (({"evaluate": {"k": [5]}}, "include 10"), ({"evaluate": {"k": []}}, "include 10"),
                          ({"train": {"epochs": 1e308}}, "--epochs 1e\\+308 is more passes")):
        with pytest.raises(SearchtuneError, match=match):
            Config.from_dict(config).validate()
    a_file = tmp_path / "out.txt"
    a_file.write_text("x")
    r = runner.invoke(app, ["pipeline", *data, "--out", str(a_file)])
    assert r.exit_code == 2 and "is a file" in r.output
    r = runner.invoke(app, ["pipeline", *data, "--out", str(a_file / "run")])  # a place no folder can be made
    assert r.exit_code == 2 and "cannot write to --out" in r.output
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o500)
    try:
        if not os.access(read_only, os.W_OK):  # (root writes anywhere: then there is nothing to check)
            r = runner.invoke(app, ["pipeline", *data, "--out", str(read_only / "run")])
            assert r.exit_code == 2 and "cannot write to --out" in r.output
    finally:
        read_only.chmod(0o700)
    not_a_model = tmp_path / "notes"
    not_a_model.mkdir()
    (not_a_model / "readme.txt").write_text("hello")
    with pytest.raises(SearchtuneError, match="not a saved model"):
        resolve_model(str(not_a_model))

    class FullDisk:
        def save_pretrained(self, path):
            raise OSError(28, "No space left on device")

    with pytest.raises(SearchtuneError, match="free disk space"):
        save_model(FullDisk(), tmp_path / "model")


def _log(tmp_path, rows, name="log.csv"):
    path = tmp_path / name
    path.write_text("timestamp,search_id,query,product_id,position,event\n" + "".join(f"{r}\n" for r in rows))
    return path


def test_event_positions_and_timestamps_are_read_as_the_log_means_them(tmp_path):
    from searchtune.errors import DataError
    from searchtune.events.store import read_events

    page = [f"2026-01-05 10:00:00,s{i},drill,p{j},{j},impression" for i in range(20) for j in range(1, 11)]
    # one stray 0 in a 1-based log is a bad row, not a reason to shift every position
    events, result = read_events(_log(tmp_path, [*page, "2026-01-05 10:00:00,s0,drill,p0,0,impression"]))
    assert sorted(events["position"].unique()) == list(range(1, 11)) and result.skipped == {"bad position": 1}
    # a 0-based log with one stray -1: still 0-based, the -1 skipped
    zero = [r.replace(f",p{j},{j},", f",p{j},{j - 1},") for r in page for j in [int(r.split(",")[3][1:])]]
    events, result = read_events(_log(tmp_path, [*zero, "2026-01-05 10:00:00,s0,drill,p1,-1,impression"]))
    assert sorted(events["position"].unique()) == list(range(1, 11)) and result.skipped == {"bad position": 1}
    # a position past what the store keeps, infinite and absurd timestamps: counted bad rows, not a traceback
    events, result = read_events(_log(tmp_path, [*page, "2026-01-05 10:00:00,s0,drill,p1,40000,impression"]))
    assert result.skipped == {"bad position": 1} and events["position"].max() == 10
    stamps = [f"{1767607200 + i},s{i},drill,p1,1,impression" for i in range(20)]
    events, result = read_events(_log(tmp_path, [*stamps, "inf,sx,drill,p1,1,impression",
                                                 "1e30,sy,drill,p1,1,impression"]))
    assert result.skipped == {"bad timestamp": 2} and len(events) == 20
    # dd/mm/yyyy: decided by a day past 12, never silently read month first
    events, _ = read_events(_log(tmp_path, ["03/04/2026 10:00,a,drill,p1,1,impression",
                                            "25/04/2026 10:00,b,drill,p1,1,impression"]))
    assert pd_month(events["timestamp"].min()) == 4
    with pytest.raises(DataError, match="could be day first or month first") as err:
        read_events(_log(tmp_path, ["03/04/2026 10:00,a,drill,p1,1,impression",
                                    "05/06/2026 10:00,b,drill,p1,1,impression"]))
    assert "row 1" in str(err.value) and "timestamp" in str(err.value)


def pd_month(ms: int) -> int:
    import pandas as pd

    return pd.Timestamp(int(ms), unit="ms").month


def test_advice_names_what_exists(tmp_path, capsys):
    import typer
    from conftest import EXAMPLES
    from typer.testing import CliRunner

    from searchtune.cli import app
    from searchtune.cli.options import run_job
    from searchtune.events import SimulationConfig

    runner = CliRunner()
    data = ["--catalog", str(EXAMPLES / "catalog.csv"), "--queries", str(EXAMPLES / "queries.csv")]
    r = runner.invoke(app, ["pipeline", *data, "--out", str(tmp_path / "r"), "--rerank-k", "abc"])
    assert r.exit_code == 2 and "--rerank-k: expected whole numbers" in r.output and "matryoshka" not in r.output
    for kw, match in (({"start": "notadate"}, "--start must be a date"),
                      ({"position_bias": float("nan")}, "--examination-decay must be a number")):
        with pytest.raises(SearchtuneError, match=match):
            SimulationConfig(**kw).validate()

    def interrupted():
        raise KeyboardInterrupt

    for resumable, advice in ((False, "run the same command again"), (True, "with --resume")):
        with pytest.raises(typer.Exit):
            run_job(interrupted, resumable=resumable)
        assert advice in capsys.readouterr().err
    r = runner.invoke(app, ["pipeline", "--catalog", str(EXAMPLES / "catalog.csv"), "--queries",
                            str(EXAMPLES / "queries.csv"), "--out", str(tmp_path / "s"), "--config",
                            str(_yaml(tmp_path, "data:\n  test_fraction: 0.0\n"))])
    assert r.exit_code == 2 and "--test-fraction" not in r.output and "data.test_fraction" in r.output


def _yaml(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_a_log_too_small_to_split_or_compare_says_so(tmp_path):
    from conftest import EXAMPLES
    from typer.testing import CliRunner

    from searchtune.cli import app

    ids = [line.split(",")[0] for line in (EXAMPLES / "catalog.csv").read_text().splitlines()[1:11]]
    one = _log(tmp_path, [f"2026-01-05T10:00:00Z,s1,cordless drill,{p},{i + 1},impression" for i, p in enumerate(ids)]
               + [f"2026-01-05T10:00:05Z,s1,cordless drill,{ids[0]},1,click"], "one.csv")
    runner = CliRunner()
    r = runner.invoke(app, ["pipeline", "--catalog", str(EXAMPLES / "catalog.csv"), "--events", str(one),
                            "--out", str(tmp_path / "run")])
    assert r.exit_code == 2 and "the log holds 1 search;" in r.output
    r = runner.invoke(app, ["compare", "--candidate", "bm25", "--candidate", "splade-tiny", "--events", str(one),
                            "--catalog", str(EXAMPLES / "catalog.csv"), "--out", str(tmp_path / "cmp")])
    assert "better: neither" in r.output and "at least 30" in r.output


def test_values_decide_between_columns_a_name_pattern_cannot(tmp_path):
    from searchtune.config import DataConfig
    from searchtune.data import load_data
    from searchtune.data.preview import preview, summary_lines
    from searchtune.errors import DataError

    rows = ["query,product_id,human_relevance,rater_score_mean"]
    for i in range(60):  # the label on a 1-3 scale, beside a spread of rater averages with many distinct values
        rows.append(f"q{i % 12},p{i},{1 + i % 3},{1 + (i * 37 % 200) / 100:.2f}")
    path = tmp_path / "judgments.csv"
    path.write_text("\n".join(rows) + "\n")
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("id,title\n" + "".join(f"p{i},Product {i}\n" for i in range(60)))
    data = load_data(DataConfig(catalog=str(catalog), queries=str(path)))
    assert data.source["columns"]["label"] == "human_relevance"
    assert "only its values fit a label" in data.source["how"]["label"]
    assert any("rater_score_mean" in line for line in summary_lines(preview(data)))  # inspect says why
    both = tmp_path / "both.csv"  # two columns whose values both fit: still a choice for the user
    both.write_text("query,product_id,human_relevance,mean_rating\n" + "".join(f"q{i},p{i},{1 + i % 3},{1 + i % 3}\n"
                                                                     for i in range(60)))
    with pytest.raises(DataError, match="2 columns could be the label"):
        load_data(DataConfig(catalog=str(catalog), queries=str(both)))


def _new_job(path, barrier):
    from searchtune.jobs import JobStore

    barrier.wait()
    JobStore(path).create("index", {"pid": os.getpid()})


def test_processes_creating_one_job_store_at_once_all_record(tmp_path):
    import sqlite3

    from searchtune.jobs import MIGRATIONS, JobStore

    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_new_job, args=(tmp_path / "jobs.db", barrier)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert len(JobStore(tmp_path / "jobs.db").list()) == 4
    with sqlite3.connect(tmp_path / "jobs.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
