"""The job store: migrations, lifecycle, crashes, concurrency; and the jobs/export/publish commands."""

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from typer.testing import CliRunner

from searchtune.cli import app
from searchtune.errors import SearchtuneError
from searchtune.jobs import MIGRATIONS, JobStore, recorded

runner = CliRunner()


def test_schema_is_migrated_in_order_and_keeps_data(tmp_path):
    path = tmp_path / "jobs.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])  # a store written by the first schema version
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO jobs (id, kind, status, created_at) VALUES ('old', 'train', 'succeeded', 1.0)")
    db.commit()
    db.close()
    store = JobStore(path)
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    old = store.get("old")
    assert old.status == "succeeded" and old.origin == "cli"  # column added by migration 3, default filled
    newer = sqlite3.connect(path)
    newer.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    newer.commit()
    newer.close()
    with pytest.raises(SearchtuneError, match="newer searchtune"):
        JobStore(path)


def test_lifecycle_success_failure_and_cancel(tmp_path):
    store = JobStore(tmp_path / "jobs.db")
    with recorded("train", {"lr": 1e-4}, store=store) as job:
        job["metrics"] = {"ndcg@10": 0.5}
    done = store.get(job["job_id"])
    assert done.status == "succeeded" and done.metrics == {"ndcg@10": 0.5} and done.finished_at >= done.started_at
    with pytest.raises(SearchtuneError), recorded("evaluate", {}, store=store) as job2:
        raise SearchtuneError("data.csv, row 3, column 'title': empty product title")
    failed = store.get(job2["job_id"])
    assert failed.status == "failed" and "row 3" in failed.error
    with pytest.raises(KeyboardInterrupt), recorded("train", {}, store=store) as job3:
        raise KeyboardInterrupt
    assert store.get(job3["job_id"]).status == "cancelled"
    assert [j.status for j in store.list(kind="train")] == ["cancelled", "succeeded"]
    with pytest.raises(SearchtuneError, match="only a queued or running job"):
        store.cancel(job["job_id"])


CRASHER = """
import os, sys, logging
from searchtune.jobs import JobStore, recorded
logging.basicConfig(level=logging.INFO)
with recorded("train", {"crash": True}, store=JobStore(sys.argv[1])) as job:
    logging.getLogger("searchtune").info("step 1 of 10 done")
    print(job["job_id"], flush=True)
    os.kill(os.getpid(), 9)   # SIGKILL: no chance to report
"""


def test_a_killed_job_ends_failed_with_its_log_kept(tmp_path):
    db = tmp_path / "jobs.db"
    proc = subprocess.run([sys.executable, "-c", CRASHER, str(db)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9
    job_id = proc.stdout.split()[0]
    store = JobStore(db)
    assert store.get(job_id).status == "running"  # nobody has looked yet
    assert store.reconcile() == 1
    job = store.get(job_id)
    assert job.status == "failed" and "crashed or killed" in job.error
    assert "step 1 of 10 done" in store.log(job_id)[0]


def test_concurrent_readers_never_see_a_broken_store(tmp_path):
    store = JobStore(tmp_path / "jobs.db")
    errors, stop = [], threading.Event()

    def reader():
        other = JobStore(tmp_path / "jobs.db")
        while not stop.is_set():
            try:
                for j in other.list(limit=500):
                    assert j.status in ("queued", "running", "succeeded")
            except Exception as exc:  # pragma: no cover - the assertion below reports it
                errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(60):
        job = store.create("index", {"i": i})
        store.start(job.id, os.getpid())
        store.succeed(job.id, {"i": i})
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert len(store.list(limit=500)) == 60


def test_jobs_cli_records_commands(tmp_path):
    bad = tmp_path / "c.csv"
    bad.write_text("id,title\n1,Drill\n2,\n")
    result = runner.invoke(app, ["pipeline", "--data", str(bad), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    listed = runner.invoke(app, ["jobs", "list"])
    assert listed.exit_code == 0 and "pipeline" in listed.output and "failed" in listed.output
    job_id = JobStore().list()[0].id
    shown = runner.invoke(app, ["jobs", "show", job_id])
    assert shown.exit_code == 0 and "empty product title" in shown.output
    again = runner.invoke(app, ["jobs", "cancel", job_id])
    assert again.exit_code == 2 and "only a queued or running job" in again.output
    missing = runner.invoke(app, ["jobs", "show", "nope"])
    assert missing.exit_code == 2 and "no job 'nope'" in missing.output


@pytest.fixture
def trained_run(tmp_path, splade):
    """A run folder as the pipeline leaves it (model + report), without training."""
    run = tmp_path / "run"
    splade.save_pretrained(str(run / "model"))
    (run / "model" / "searchtune_config.yaml").write_text("model: splade-tiny\nlearning_rate: 0.0002\n")
    metrics = {"bm25": {"ndcg@10": 0.5, "mrr@10": 0.6}, "finetuned": {"ndcg@10": 0.6, "mrr@10": 0.7}}
    (run / "report.json").write_text(json.dumps({
        "metrics": metrics, "change_vs_bm25_percent": {"finetuned": {"ndcg@10": 20.0, "mrr@10": 16.67}},
        "split": {"test_evaluated": 38}, "counts": {"products": 286, "queries": 207}}))
    return run


def test_export_writes_a_model_sentence_transformers_loads(tmp_path, trained_run):
    from sentence_transformers import SparseEncoder

    out = tmp_path / "exported"
    result = runner.invoke(app, ["export", str(trained_run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    card = (out / "README.md").read_text()
    assert "base_model: splade-tiny" in card and "| 0.6000 | 0.7000 | — | +20.0% |" in card and "products: 286" in card
    model = SparseEncoder(str(out))
    emb = model.encode_query(["cordless drill"], convert_to_tensor=True)
    assert emb.shape[-1] == 30522
    again = runner.invoke(app, ["export", str(trained_run), "--out", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.output
    empty = runner.invoke(app, ["export", str(tmp_path / "nothing"), "--out", str(tmp_path / "x")])
    assert empty.exit_code == 2 and "no trained model" in empty.output


def test_export_onnx_gives_the_same_vectors_as_pytorch(tmp_path, trained_run):
    """The ONNX graph, run here on texts the export never checked, gives SparseEncoder's terms and weights."""
    import numpy as np
    from sentence_transformers import SparseEncoder
    from transformers import AutoTokenizer

    from searchtune.onnx_export import TOLERANCE, run_graph

    out = tmp_path / "exported"
    result = runner.invoke(app, ["export", str(trained_run), "--out", str(out), "--format", "onnx"])
    assert result.exit_code == 0, result.output
    assert "document matches PyTorch" in result.output
    parity = json.loads((out / "onnx" / "parity.json").read_text())["document"]
    assert parity["ok"] and parity["terms"] > 0 and parity["terms_differ"] == 0
    texts = ["stainless steel kitchen sink 33 in.", "ryobi one+ 18v", "led bulb 60w equivalent daylight (4-pack)"]
    got = run_graph(out / "onnx" / "document.onnx", AutoTokenizer.from_pretrained(str(out / "onnx")), texts,
                    max_length=64)
    model = SparseEncoder(str(out), device="cpu")
    model.max_seq_length = 64
    want = model.encode_document(texts, convert_to_tensor=True).to_dense().float().numpy()
    assert np.abs(got - want).max() <= TOLERANCE
    assert ((got > TOLERANCE) == (want > TOLERANCE)).all()
    bad = runner.invoke(app, ["export", str(trained_run), "--out", str(tmp_path / "x"), "--format", "tflite"])
    assert bad.exit_code == 2 and "--format 'tflite'" in bad.output


def test_publish_says_why_it_cannot(tmp_path, trained_run, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    result = runner.invoke(app, ["publish", str(trained_run), "--repo", "me/shop-splade"])
    assert result.exit_code == 2 and "no Hugging Face token" in result.output
    monkeypatch.setenv("HF_TOKEN", "hf_test_token_not_real")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there: no network
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "2")
    started = time.time()
    result = runner.invoke(app, ["publish", str(trained_run), "--repo", "me/shop-splade"])
    assert result.exit_code == 2, result.output
    assert "publish to me/shop-splade failed" in result.output and "not published" in result.output
    assert "hf_test_token_not_real" not in result.output
    assert time.time() - started < 60
    assert JobStore().list(kind="publish")[0].status == "failed"
