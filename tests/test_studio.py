"""searchtune studio: every API endpoint (including refused writes and bad paths) and, in real headless
Chromium, a training job started from the page and read back on the Evaluate page."""

import json
import os
import shutil
import socket
import stat
import threading
import time
from pathlib import Path

import pytest
from conftest import EXAMPLES
from fastapi.testclient import TestClient

from searchtune.jobs import JobStore
from searchtune.studio import Studio, create_app

PORT = 8765
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def workspace(tmp_path, splade):
    """A data folder (the example files), and a runs folder holding one finished run with a collection."""
    import pandas as pd

    from searchtune.data import SearchData
    from searchtune.index import EdgeIndex
    from searchtune.index import collection as col

    data = tmp_path / "data"
    (data / "shop").mkdir(parents=True)
    for f in ("catalog.csv", "queries.csv"):
        shutil.copy(EXAMPLES / f, data / "shop" / f)
    (tmp_path / "secret.csv").write_text("id,title\n1,secret\n")
    runs = tmp_path / "runs"
    run = runs / "r1"
    (run / "qdrant").mkdir(parents=True)
    products = pd.DataFrame({"product_id": ["1", "2", "3"], "title": ["Cordless drill", "Garden hose", "Circular saw"],
                             "brand": ["Ryobi", "Sun Joe", "Makita"],
                             "text": ["Ryobi Cordless drill", "Sun Joe Garden hose", "Makita Circular saw"]})
    with EdgeIndex("base", run / "qdrant") as ix:
        col.build(ix, SearchData(products), col.Models(sparse_base="splade-tiny"), progress=False,
                  loaded={"sparse_base": splade})
    report = {"metrics": {"bm25": {"ndcg@10": 0.5, "mrr@10": 0.6}, "finetuned": {"ndcg@10": 0.6, "mrr@10": 0.7}},
              "change_vs_bm25_percent": {"finetuned": {"ndcg@10": 20.0}}, "split": {"test_evaluated": 3},
              "counts": {"products": 3}, "examples": []}
    (run / "report.json").write_text(json.dumps(report))
    return tmp_path, data, runs


def client_for(workspace, token=None, host="127.0.0.1"):
    tmp, data, runs = workspace
    studio = Studio(data_roots=[data], runs_dir=runs, token=token, host=host, port=PORT)
    return TestClient(create_app(studio), base_url=f"http://127.0.0.1:{PORT}"), studio


def test_read_endpoints(workspace):
    c, _ = client_for(workspace)
    assert c.get("/api/health").json()["ok"] is True
    assert "searchtune studio" in c.get("/").text
    files = c.get("/api/files").json()["files"]
    assert files == ["shop/catalog.csv", "shop/queries.csv"]  # nothing outside the data root
    assert "splade-tiny" in c.get("/api/models").json()["models"]
    runs = c.get("/api/runs").json()["runs"]
    assert runs[0]["name"] == "r1" and runs[0]["ndcg@10"]["finetuned"] == 0.6
    assert c.get("/api/runs/r1").json()["metrics"]["bm25"]["ndcg@10"] == 0.5
    assert c.get("/api/runs/nope").status_code == 404
    cols = c.get("/api/collections").json()["collections"]
    assert [(x["place"], x["name"], x["points"]) for x in cols] == [("run:r1", "base", 3)]
    found = c.post("/api/search", json={"place": "run:r1", "collection": "base", "query": "drill for screws"})
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["hits"][0]["title"] == "Cordless drill" and body["terms"] and body["mode"] == "sparse"
    assert c.post("/api/search", json={"place": "run:r1", "collection": "nope", "query": "x"}).status_code == 404
    dense = c.post("/api/search", json={"place": "run:r1", "collection": "base", "query": "x", "mode": "dense"})
    assert dense.status_code == 400 and "--dense-model" in dense.json()["error"]
    assert c.post("/api/search", json={"place": "run:r1", "collection": "base", "query": " "}).status_code == 400
    assert c.get("/api/jobs").json()["jobs"] == []


def test_the_train_page_previews_the_data_before_a_job(workspace):
    c, _ = client_for(workspace)
    r = c.post("/api/inspect", json={"config": {"data": {"catalog": "shop/catalog.csv", "queries": "shop/queries.csv"}}})
    assert r.status_code == 200, r.text
    p = r.json()["preview"]
    assert p["columns"]["title"] == "title" and p["label_scale"]["name"] == "wands" and len(p["sample_texts"]) == 3
    assert any(line.startswith("columns: ") for line in r.json()["lines"])
    outside = c.post("/api/inspect", json={"config": {"data": {"catalog": "../secret.csv"}}})
    assert outside.status_code in (400, 403) and "secret" not in outside.text.split("error")[0]


def test_a_runs_system_runs_in_the_studio_and_stays_inside_its_run(workspace):
    from searchtune.system import System

    tmp, data, runs = workspace
    run = runs / "r1"
    System(vectors=("sparse_base",), models={"sparse_base": "splade-tiny"}, collection="base",
           data_dir=str(run / "qdrant"), label="SPLADE untuned").save(run / "system.json")
    c, _ = client_for(workspace)
    assert [s["label"] for s in c.get("/api/collections").json()["systems"]] == ["SPLADE untuned"]
    found = c.post("/api/search", json={"system": "r1", "query": "garden hose"}).json()
    assert found["hits"][0]["title"] == "Garden hose" and found["hits"][0]["first_rank"] == 1
    System(vectors=("sparse_base",), models={"sparse_base": str(tmp / "elsewhere")}, collection="base",
           data_dir=str(run / "qdrant")).save(run / "system.json")
    refused = c.post("/api/search", json={"system": "r1", "query": "garden hose"})
    assert refused.status_code == 400 and "outside the run" in refused.json()["error"]


def test_jobs_endpoints_launch_watch_and_fail_with_the_reason(workspace, monkeypatch):
    for var in ("OPENAI_API_KEY", "SEARCHTUNE_LLM_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    c, studio = client_for(workspace)
    bad_llm = c.post("/api/jobs", json={"kind": "pipeline", "name": "x", "config": {
        "data": {"data": "shop/catalog.csv"}, "generate": {"llm": "a b;c"}}})
    assert bad_llm.status_code == 400 and "llm" in bad_llm.json()["error"]
    # a real subprocess: a catalog without judgments gets synthetic queries from the named LLM, which has no
    # API key here, so the job fails with that reason
    r = c.post("/api/jobs", json={"kind": "pipeline", "name": "bad", "config": {
        "data": {"data": "shop/catalog.csv"}, "generate": {"llm": "openai:gpt-4o-mini"}}})
    assert r.status_code == 200, r.text
    job_id = r.json()["id"]
    for _ in range(240):
        job = c.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("failed", "succeeded"):
            break
        time.sleep(0.5)
    assert job["status"] == "failed" and "no API key" in job["error"], job
    assert job["origin"] == "studio" and job["command"].startswith("searchtune pipeline")
    assert "--config" in job["command"] and job["config"]["generate"]["llm"] == "openai:gpt-4o-mini"
    # the job is marked failed before the CLI prints its error line and exits: give the log a moment
    for _ in range(40):
        log = c.get(f"/api/jobs/{job_id}/log").json()
        if "no API key" in log["text"]:
            break
        time.sleep(0.25)
    assert "no API key" in log["text"] and log["offset"] > 0
    assert c.get(f"/api/jobs/{job_id}/log", params={"offset": log["offset"]}).json()["text"] == ""
    progress = c.get(f"/api/jobs/{job_id}/progress").json()
    assert progress["loss"] == [] and progress["job"]["id"] == job_id
    assert c.get("/api/jobs", params={"status": "failed"}).json()["jobs"][0]["id"] == job_id
    assert c.get("/api/jobs", params={"status": "running"}).json()["jobs"] == []
    assert c.post(f"/api/jobs/{job_id}/cancel", json={}).status_code == 400  # already over
    # cancel a running job: a sleeping child stands in for a long training
    queued = studio.store.create("train", {}, origin="studio")
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    studio.store.start(queued.id, proc.pid)
    cancelled = c.post(f"/api/jobs/{queued.id}/cancel", json={})
    assert cancelled.json()["status"] == "cancelled"
    assert proc.wait(timeout=10) != 0  # the process got SIGTERM
    assert c.get("/api/jobs/nope").status_code == 400


def test_refused_writes_and_bad_paths(workspace):
    c, _ = client_for(workspace)
    good = {"kind": "pipeline", "name": "ok",
            "config": {"data": {"catalog": "shop/catalog.csv", "queries": "shop/queries.csv"}}}

    def with_data(**data):
        return {**good, "config": {"data": {**good["config"]["data"], **data}}}

    # not JSON (what a cross-site form would send)
    assert c.post("/api/jobs", content="name=x", headers={"Content-Type": "application/x-www-form-urlencoded"}
                  ).status_code == 415
    # DNS rebinding / wrong host, and cross-origin
    assert c.post("/api/jobs", json=good, headers={"Host": "evil.example:8765"}).status_code == 403
    assert c.post("/api/jobs", json=good, headers={"Origin": "http://evil.example"}).status_code == 403
    assert c.put("/api/settings", json={"HF_TOKEN": "x"}, headers={"Origin": "http://evil.example"}).status_code == 403
    # paths outside the data root, traversal, absolute paths, run names with separators
    for bad in ("../secret.csv", "/etc/passwd", "shop/../../secret.csv", "shop/missing.csv"):
        r = c.post("/api/jobs", json=with_data(catalog=bad))
        assert r.status_code in (400, 404) and "error" in r.json(), bad
    link = workspace[1] / "shop" / "link.csv"
    link.symlink_to(workspace[0] / "secret.csv")
    assert c.post("/api/jobs", json=with_data(catalog="shop/link.csv")).status_code == 404  # resolves outside
    for name in ("../up", "a/b", "", ".hidden"):
        assert c.post("/api/jobs", json={**good, "name": name}).status_code == 400, name
    assert c.get("/api/runs/..%2F..%2Fetc").status_code in (400, 404)
    assert c.post("/api/jobs", json={**good, "kind": "publish"}).status_code == 400
    assert c.post("/api/jobs", json={**good, "config": {**good["config"], "train": {"epochs": "many"}}}
                  ).status_code == 400
    assert c.post("/api/jobs", json={**good, "config": {**good["config"], "index": {"qdrant_url": "http://x"}}}
                  ).status_code == 400
    assert c.post("/api/jobs", json={**good, "config": {**good["config"], "mine": {"range_min": 90}}}
                  ).status_code == 400  # Config.validate: the window ends before it starts
    assert c.post("/api/jobs", json=[1, 2]).status_code == 400
    assert c.post("/api/search", json={"place": "run:../x", "collection": "base", "query": "x"}).status_code == 400
    assert JobStore().list() == []  # nothing refused was started


def test_a_job_reads_only_the_data_roots_loads_only_known_models_and_sends_keys_only_where_settings_say(workspace):
    c, _ = client_for(workspace)
    tmp, data, runs = workspace
    (tmp / "clicks.csv").write_text("timestamp,search_id,query,product_id,position,event\n")  # outside the root
    good = {"kind": "pipeline", "name": "ok",
            "config": {"data": {"catalog": "shop/catalog.csv", "queries": "shop/queries.csv"}}}

    def job(**sections):
        return c.post("/api/jobs", json={**good, "config": {**good["config"], **sections}})

    for bad in ("../clicks.csv", str(tmp / "clicks.csv"), "shop/../../clicks.csv"):  # a log is data too
        assert job(events={"log": bad}).status_code in (400, 404), bad
    for section, key, value in (("generate", "base_url", "http://evil.example/v1"),
                                ("generate", "llm", "http://evil.example/v1"),
                                ("generate", "llm", "gguf:/etc/passwd"),
                                ("rerank", "model", str(tmp)), ("train", "dense_model", "/etc"),
                                ("mine", "denoise_with", str(tmp / "x")), ("train", "model", "org/any-hub-model")):
        r = job(**{section: {key: value}})
        assert r.status_code in (400, 404), (section, key, value, r.text)
    assert job(data={**good["config"]["data"], "columns": {"title": "a\nb"}}).status_code == 400
    assert JobStore().list() == []  # nothing refused was started
    assert not (runs / "ok").exists()  # nor left a run folder behind


def test_settings_record_where_keys_go_and_never_show_url_credentials(workspace, searchtune_home):
    c, _ = client_for(workspace)
    r = c.put("/api/settings", json={"QDRANT_URL": "https://admin:hunter2@qdrant.example:6333",
                                     "SEARCHTUNE_LLM_BASE_URL": "http://llm.internal/v1"})
    assert r.status_code == 200 and "hunter2" not in r.text
    assert c.get("/api/settings").json()["settings"]["QDRANT_URL"]["value"] == "https://***@qdrant.example:6333"
    log = [json.loads(line) for line in (searchtune_home / "settings.log").read_text().splitlines()]
    assert {e["key"] for e in log} == {"QDRANT_URL", "SEARCHTUNE_LLM_BASE_URL"} and "hunter2" not in json.dumps(log)
    c.put("/api/settings", json={"SEARCHTUNE_LLM_BASE_URL": "http://llm.internal/v1"})  # unchanged: no record
    assert len((searchtune_home / "settings.log").read_text().splitlines()) == 2


def test_token_is_required_when_set(workspace):
    c, _ = client_for(workspace, token="s3cret", host="0.0.0.0")
    assert c.get("/api/health").status_code == 401
    assert c.get("/api/health", headers={"X-Searchtune-Token": "wrong"}).status_code == 401
    assert c.get("/api/health", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert c.get("/", params={"token": "s3cret"}).status_code == 200
    assert c.get("/api/health", params={"token": "s3cret"}).status_code == 401  # only the page takes ?token=
    assert c.put("/api/settings", json={"HF_TOKEN": "x"}).status_code == 401
    from searchtune.errors import SearchtuneError
    from searchtune.studio.app import serve

    with pytest.raises(SearchtuneError, match="--token"):
        serve(host="0.0.0.0", port=PORT)


def test_settings_are_stored_0600_and_never_returned_in_clear(workspace, searchtune_home):
    c, _ = client_for(workspace)
    secret = "sk-test-1234567890abcdef"
    r = c.put("/api/settings", json={"OPENAI_API_KEY": secret, "QDRANT_URL": "http://qdrant:6333"})
    assert r.status_code == 200 and secret not in r.text
    env = searchtune_home / ".env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert f"OPENAI_API_KEY={secret}" in env.read_text()
    got = c.get("/api/settings").json()["settings"]
    assert got["OPENAI_API_KEY"]["set"] and got["OPENAI_API_KEY"]["value"].endswith("cdef")
    assert secret not in json.dumps(got) and got["QDRANT_URL"]["value"] == "http://qdrant:6333"
    assert c.put("/api/settings", json={"NOT_A_KEY": "x"}).status_code == 400
    assert c.put("/api/settings", json={"HF_TOKEN": "a\nEVIL=1"}).status_code == 400
    c.put("/api/settings", json={"OPENAI_API_KEY": ""})
    assert "OPENAI_API_KEY" not in env.read_text()


def test_settings_keep_comments_and_refuse_separator_characters(workspace, searchtune_home):
    c, _ = client_for(workspace)
    env = searchtune_home / ".env"
    env.write_text("# mine: do not lose\nexport OPENAI_API_KEY='abc def'\nUNRELATED=1\n")
    assert c.put("/api/settings", json={"HF_TOKEN": "hf_x"}).status_code == 200
    text = env.read_text()
    assert "# mine: do not lose" in text and "export OPENAI_API_KEY='abc def'" in text and "UNRELATED=1" in text
    for evil in ("a\u2028QDRANT_URL=http://evil", "a\u2029b", "a\x00b", "a\u200bb"):
        r = c.put("/api/settings", json={"HF_TOKEN": evil})
        assert r.status_code == 400 and "U+" in r.json()["error"]
    assert "evil" not in env.read_text() and stat.S_IMODE(env.stat().st_mode) == 0o600


def test_remote_mode_works_for_its_own_names_and_reads_are_guarded_like_writes(workspace):
    tmp, data, runs = workspace
    studio = Studio(data_roots=[data], runs_dir=runs, token="T0k3n", host="0.0.0.0", port=PORT,
                    extra_hosts=["studio.example.org"])
    c = TestClient(create_app(studio), base_url=f"http://studio.example.org:{PORT}")
    auth = {"Authorization": "Bearer T0k3n"}
    assert c.put("/api/settings", json={"HF_TOKEN": "x"}, headers=auth).status_code == 200  # a write, remotely
    local = Studio(data_roots=[data], runs_dir=runs, port=PORT)
    rebound = TestClient(create_app(local), base_url=f"http://attacker.example:{PORT}")
    for path in ("/api/settings", "/api/jobs", "/api/files", "/api/runs"):  # DNS rebinding: reads refused too
        assert rebound.get(path).status_code == 403
    ok = TestClient(create_app(local), base_url=f"http://127.0.0.1:{PORT}")
    assert ok.get("/api/runs", headers={"Origin": "http://evil.example"}).status_code == 403


def test_a_run_in_use_by_a_job_is_refused_at_once(workspace):
    c, studio = client_for(workspace)
    tmp, data, runs = workspace
    job = studio.store.create("pipeline", {}, out_dir=str((runs / "r1").resolve()), origin="studio",
                              status="running")
    studio.store.set_pid(job.id, os.getpid())
    r = c.post("/api/jobs", json={"kind": "pipeline", "name": "r1", "resume": True,
                                  "config": {"data": {"data": "shop/catalog.csv"}}})
    assert r.status_code == 409 and job.id in r.json()["error"]


def test_bodies_are_capped_and_broken_files_never_give_a_500(workspace):
    tmp, data, runs = workspace
    c, _ = client_for(workspace)
    big = c.post("/api/search", content=b'{"query": "' + b"x" * (2 << 20) + b'"}', headers=JSON)
    assert big.status_code == 413
    deep = c.post("/api/search", content=b"[" * 100_000 + b"]" * 100_000, headers=JSON)
    assert deep.status_code == 400
    broken = runs / "broken"
    broken.mkdir()
    (broken / "report.json").write_text('{"metrics": {"bm25": ')
    listed = c.get("/api/runs")
    assert listed.status_code == 200 and any(r["name"] == "broken" and r.get("note") for r in listed.json()["runs"])
    assert c.get("/api/models").status_code == 200
    assert c.get("/api/runs/broken").status_code == 422
    # a collection's metadata and a round's record cut off or of the wrong shape: shown as such, never a 500
    (runs / "r1" / "qdrant" / "cut").mkdir()
    (runs / "r1" / "qdrant" / "cut.json").write_text('{"fingerprint": ')
    (runs / "r1" / "qdrant" / "odd").mkdir()
    (runs / "r1" / "qdrant" / "odd.json").write_text('["not", "a", "mapping"]')
    listed = c.get("/api/collections")
    assert listed.status_code == 200
    assert {x["name"]: x.get("error") for x in listed.json()["collections"]}["cut"] == "unreadable metadata"
    job = JobStore().create("pipeline", {}, out_dir=str(broken), status="running")
    for name, text in (("round-1", '{"round": 1, "source": "judged"}'), ("round-2", "[1]"), ("round-x", "{")):
        (broken / "rounds" / name).mkdir(parents=True)
        (broken / "rounds" / name / "round.json").write_text(text)
    (broken / "train_log.jsonl").write_text('{"step": "a", "loss": 1}\n[1]\n{"step": 2, "loss": 0.5}\n')
    progress = c.get(f"/api/jobs/{job.id}/progress")
    assert progress.status_code == 200 and progress.json()["loss"] == [{"step": 2, "loss": 0.5, "phase": "train"}]
    assert [r["round"] for r in progress.json()["rounds"]] == [1]


def test_url_credentials_never_reach_the_job_store(searchtune_home):
    from searchtune.jobs import JobStore

    store = JobStore()
    job = store.create("pipeline", {"index": {"qdrant_url": "https://admin:s3cret@q.example:6333"}},
                       command="searchtune pipeline --qdrant-url https://admin:s3cret@q.example:6333")
    raw = (searchtune_home / "jobs.db").read_bytes() + b"".join(
        p.read_bytes() for p in searchtune_home.glob("jobs.db-*"))
    assert b"s3cret" not in raw and "***@q.example" in job.command
    assert stat.S_IMODE((searchtune_home / "jobs.db").stat().st_mode) == 0o600


# -- the browser ---------------------------------------------------------------------
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.browser
def test_train_from_the_page_then_read_the_metrics(workspace, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed (Debian package 'chromium'; `make setup` installs it when it can)")
    pw = pytest.importorskip("playwright.sync_api")
    import uvicorn

    _, data, runs = workspace
    port = free_port()
    studio = Studio(data_roots=[data], runs_dir=runs, port=port)
    server = uvicorn.Server(uvicorn.Config(create_app(studio), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    shots = Path(os.environ.get("SEARCHTUNE_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    try:
        with pw.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"http://127.0.0.1:{port}/#train")
            page.wait_for_selector("#t-catalog option[value='shop/catalog.csv']", state="attached")
            page.fill("#t-name", "browser-run")
            page.select_option("#t-catalog", "shop/catalog.csv")
            page.select_option("#t-queries", "shop/queries.csv")
            page.fill("#t-epochs", "0.3")
            page.fill("#t-lr", "3e-4")
            page.fill("#t-batch", "32")
            page.fill("#t-maxlen", "32")
            page.click("#t-start")
            page.wait_for_selector("#t-status[data-status='running'], #t-status[data-status='succeeded']",
                                   timeout=60_000)
            page.wait_for_selector("#t-chart path", timeout=600_000)  # the loss curve draws while it trains
            page.screenshot(path=str(shots / "train.png"))
            page.wait_for_selector("#t-status[data-status='succeeded'], #t-status[data-status='failed']",
                                   timeout=600_000)
            assert page.get_attribute("#t-status", "data-status") == "succeeded", page.inner_text("#t-log")[-3000:]
            page.screenshot(path=str(shots / "train-done.png"))

            page.click("nav button[data-page='evaluate']")
            page.select_option("#e-run", "browser-run")
            page.wait_for_selector("#e-compare")
            ndcg = float(page.inner_text(".metric[data-metric='ndcg@10'] .v"))
            report = json.loads((runs / "browser-run" / "report.json").read_text())
            assert ndcg == pytest.approx(report["metrics"]["finetuned"]["ndcg@10"], abs=1e-4)
            assert "SPLADE tuned" in page.inner_text("#e-compare") and "95% CI" in page.inner_text("#e-compare")
            assert report["recommendation"]["label"] in page.inner_text("#e-deploy-system")  # the choice and why
            assert page.locator("#e-segment-table tr").count() > 1
            page.fill("#x-query", "cordless drill")
            page.click("#x-go")
            page.wait_for_selector("#x-out .terms span")  # the explain view: terms untuned and tuned
            page.screenshot(path=str(shots / "evaluate.png"), full_page=True)

            page.click("nav button[data-page='search']")
            page.wait_for_selector("#s-left option", state="attached")
            page.fill("#s-query", "cordless drill")
            page.click("#s-go")
            page.wait_for_selector("#s-out-right ol li")
            page.wait_for_selector("#s-out-left ol li")
            assert page.locator("#s-out-right .terms span").count() > 0
            page.screenshot(path=str(shots / "search.png"), full_page=True)

            page.click("nav button[data-page='collections']")
            page.wait_for_selector("#c-table table")
            assert "browser-run" in page.inner_text("#c-table")
            assert str(tmp_path) not in page.inner_text("#c-table")  # folders named as the pages name them
            page.screenshot(path=str(shots / "collections.png"))

            page.click("nav button[data-page='jobs']")
            page.wait_for_selector("#jobs-table button[data-job]")
            page.click("#jobs-table button[data-job]")
            page.wait_for_selector("#j-detail pre.log")
            assert "succeeded" in page.inner_text("#j-detail")
            assert str(tmp_path) not in page.inner_text("#j-detail") and "runs/browser-run" in page.inner_text("#j-detail")
            page.screenshot(path=str(shots / "jobs.png"), full_page=True)

            from searchtune.config import DataConfig
            from searchtune.data import load_data
            from searchtune.events import SimulationConfig, simulate, write_log

            shop = load_data(DataConfig(catalog=str(data / "shop" / "catalog.csv"),
                                        queries=str(data / "shop" / "queries.csv")))
            write_log(simulate(shop, list(shop.queries), SimulationConfig(impressions=20_000, seed=1)),
                      data / "shop" / "clicks.csv.gz")
            page.click("nav button[data-page='events']")
            page.wait_for_selector("#v-file option[value='shop/clicks.csv.gz']", state="attached")
            page.select_option("#v-file", "shop/clicks.csv.gz")
            page.select_option("#v-catalog", "shop/catalog.csv")
            page.click("#v-import")
            page.wait_for_selector("#v-stores")
            page.wait_for_selector("#v-chart rect")
            assert "new events" in page.inner_text("#v-msg") and page.locator("#v-chart rect").count() == 10
            page.screenshot(path=str(shots / "events.png"), full_page=True)

            page.click("nav button[data-page='settings']")
            page.wait_for_selector("#set-OPENAI_API_KEY")
            page.fill("#set-OPENAI_API_KEY", "sk-browser-secret-9876")
            page.click("#set-save")
            page.wait_for_function("document.getElementById('set-msg').textContent === 'saved'")
            page.wait_for_function("document.getElementById('set-OPENAI_API_KEY').placeholder.endsWith('9876')")
            assert "sk-browser-secret" not in page.content()
            page.screenshot(path=str(shots / "settings.png"))
            assert not errors, errors
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_events_page_imports_and_charts(workspace):
    from searchtune.config import DataConfig
    from searchtune.data import load_data
    from searchtune.events import SimulationConfig, simulate, write_log

    tmp, data_dir, _ = workspace
    shop = data_dir / "shop"
    data = load_data(DataConfig(catalog=str(shop / "catalog.csv"), queries=str(shop / "queries.csv")))
    write_log(simulate(data, list(data.queries), SimulationConfig(impressions=3000, seed=1)), shop / "log.csv.gz")
    client, _ = client_for(workspace)
    assert client.get("/api/events").json() == {"stores": []}
    assert "shop/log.csv.gz" in client.get("/api/files").json()["files"]
    r = client.post("/api/events/import", json={"file": "shop/log.csv.gz", "catalog": "shop/catalog.csv"},
                    headers=JSON)
    assert r.status_code == 200, r.text
    assert r.json()["added"] == r.json()["rows"] > 0
    again = client.post("/api/events/import", json={"file": "shop/log.csv.gz"}, headers=JSON).json()
    assert again["added"] == 0
    (store,) = client.get("/api/events").json()["stores"]
    assert store["counts"]["clicks"] > 0 and store["ctr"][0]["position"] == 1
    assert store["ctr"][0]["ctr"] > store["ctr"][-1]["ctr"]  # clicks fall with position
    bad = client.post("/api/events/import", json={"file": "shop/catalog.csv"}, headers=JSON)
    assert bad.status_code == 400 and "column" in bad.json()["error"]
    assert 'data-page="events"' in client.get("/").text
