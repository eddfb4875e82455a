"""Synthetic queries: the LLM client through real HTTP (fake OpenAI-compatible server), parsing, cache and
resume, the offline generator, the honest splits, and the pipeline on a catalog without queries."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from conftest import EXAMPLES, ROOT
from fake_llm import FakeLLM

from searchtune.config import DataConfig
from searchtune.data import load_data, split_queries
from searchtune.errors import SearchtuneError
from searchtune.synthetic import generate, read_queries, write_queries
from searchtune.synthetic.backends import make_backend
from searchtune.synthetic.cache import AnswerCache
from searchtune.synthetic.dataset import catalog_only, product_unit, train_on_synthetic
from searchtune.synthetic.generate import generate_with_llm
from searchtune.synthetic.offline import generate_offline
from searchtune.synthetic.prompt import KINDS, ParseError, parse_answer
from searchtune.synthetic.records import SyntheticQuery


@pytest.fixture
def server():
    s = FakeLLM()
    yield s
    s.close()


def products(*titles: str) -> pd.DataFrame:
    return pd.DataFrame({"product_id": [f"p{i}" for i in range(len(titles))], "title": list(titles),
                         "brand": [""] * len(titles), "text": list(titles)})


def run(server, frame, tmp_path, **kw):
    backend = make_backend("test-model", base_url=server.url, api_key="k", timeout=kw.pop("timeout", 5),
                           max_retries=kw.pop("max_retries", 2))
    cache = AnswerCache(tmp_path / "cache.sqlite")
    try:
        return generate_with_llm(frame, backend, cache=cache, progress=False, **kw)
    finally:
        cache.close()


# -- parsing ------------------------------------------------------------------
def test_parse_answer_accepts_the_shapes_models_return():
    fenced = '```json\n{"queries": [{"kind": "specific", "query": "Dewalt DCD771"}, {"kind": "general", "query": "drill"}]}\n```'
    assert parse_answer(fenced).queries == [("specific", "dewalt dcd771"), ("general", "drill")]
    keyed = 'Sure! {"specific": "bosch gsr12", "general": "drill", "need": "drill for shelves", "attribute": "12v drill"}'
    assert [k for k, _ in parse_answer(keyed).queries] == list(KINDS)
    lines = "1. Specific: makita xfd131\n2. General: cordless drill\n3. Need: hang pictures\n4. Attribute: 18v drill."
    assert parse_answer(lines).queries[-1] == ("attribute", "18v drill")
    plain = '["red kettle", "kettle", "boil water fast", "1.7 l kettle"]'
    assert [k for k, _ in parse_answer(plain).queries] == list(KINDS)  # kinds by position


def test_parse_answer_rejects_what_is_not_a_query():
    with pytest.raises(ParseError):
        parse_answer("Sorry, I cannot help with that.")
    with pytest.raises(ParseError):
        parse_answer('{"queries": [{"kind": "general", "query": "' + "word " * 30 + '"}]}')
    p = parse_answer('{"queries": [{"kind": "general", "query": "drill"}, {"kind": "need", "query": ""}, '
                     '{"kind": "need", "query": "DRILL"}]}')
    assert p.queries == [("general", "drill")] and p.invalid == 1  # empty rejected, duplicate dropped


# -- the client through real HTTP ---------------------------------------------
def test_good_answers_give_four_kinds_per_product_with_token_accounting(server, tmp_path):
    server.cost = 0.001
    records, stats = run(server, products("Acme Cordless Drill", "Zen Garden Hose"), tmp_path,
                         price_input=1.0, price_output=2.0)
    assert len(records) == 8 and {r.kind for r in records} == set(KINDS)
    assert all(r.query == r.query.lower() and r.source == "llm:test-model" for r in records)
    assert stats["ok"] == 2 and stats["prompt_tokens"] == 200 and stats["completion_tokens"] == 40
    assert stats["cost_reported"] == pytest.approx(0.002)
    assert stats["cost_estimated"] == pytest.approx(200 / 1e6 * 1.0 + 40 / 1e6 * 2.0)


def test_malformed_answer_is_retried_then_skipped_counted_and_cached(server, tmp_path):
    frame = products("Acme Drill", "MALFORMED Lamp")
    records, stats = run(server, frame, tmp_path, parse_retries=2)
    assert {r.product_id for r in records} == {"p0"}
    assert stats["skipped_malformed"] == 1
    assert server.requests["Product: MALFORMED Lamp"] == 3  # first try + 2 retries
    _, again = run(server, frame, tmp_path, parse_retries=2)  # rerun: nothing asked again
    assert again["from_cache"] == 1 and again["skipped_malformed_cached"] == 1 and again["asked"] == 0
    assert server.requests["Product: MALFORMED Lamp"] == 3 and server.requests["Product: Acme Drill"] == 1
    _, forced = run(server, frame, tmp_path, parse_retries=0, retry_failed=True)
    assert forced["asked"] == 1 and server.requests["Product: MALFORMED Lamp"] == 4


def test_rate_limit_and_server_error_are_retried_with_backoff(server, tmp_path):
    records, stats = run(server, products("RATELIMIT Saw", "SERVERERR Hammer"), tmp_path, max_retries=2)
    assert stats["ok"] == 2 and stats["failed_transient"] == 0 and len(records) == 8
    assert server.requests["Product: RATELIMIT Saw"] == 2 and server.requests["Product: SERVERERR Hammer"] == 2


def test_timeout_is_not_cached_and_a_rerun_asks_only_what_is_missing(server, tmp_path):
    frame = products("Acme Drill", "HANG Ladder", "Zen Hose")
    t = time.perf_counter()
    records, stats = run(server, frame, tmp_path, timeout=0.5, max_retries=1, concurrency=3)
    assert time.perf_counter() - t < 4.5  # did not wait for the hanging answer
    assert stats["failed_transient"] == 1 and stats["ok"] == 2 and len(records) == 8
    assert server.requests["Product: HANG Ladder"] == 2  # one retry after the timeout
    _, again = run(server, frame, tmp_path, timeout=0.5, max_retries=0)
    assert again["from_cache"] == 2 and again["asked"] == 0 and again["failed_transient"] == 1
    assert server.requests["Product: Acme Drill"] == 1 and server.requests["Product: Zen Hose"] == 1


def test_refused_key_stops_the_run_with_a_clear_error(server, tmp_path):
    server.status = 401
    with pytest.raises(SearchtuneError, match="refused the API key"):
        run(server, products("Acme Drill"), tmp_path)


def test_missing_key_for_a_hosted_provider_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("SEARCHTUNE_LLM_API_KEY", raising=False)
    with pytest.raises(SearchtuneError, match="no API key"):
        make_backend("openai:gpt-4o-mini")


def test_key_and_url_come_from_the_env_file(server, tmp_path, searchtune_home, monkeypatch):
    monkeypatch.delenv("SEARCHTUNE_LLM_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    searchtune_home.mkdir(parents=True, exist_ok=True)
    (searchtune_home / ".env").write_text(f"SEARCHTUNE_LLM_BASE_URL={server.url}\nSEARCHTUNE_LLM_API_KEY=sk-file\n")
    backend = make_backend("some-model")
    assert backend.base_url.rstrip("/") == server.url and backend.client.api_key == "sk-file"


def test_interrupted_cli_run_resumes_without_paying_twice(server, tmp_path):
    """Kill `searchtune generate-queries` mid-catalog; the rerun asks only for the products not yet answered."""
    catalog = tmp_path / "catalog.csv"
    pd.DataFrame({"id": range(12), "title": [f"Widget number {i}" for i in range(12)]}).to_csv(catalog, index=False)
    server.delay = 0.3
    cache = tmp_path / "cache.sqlite"
    out = tmp_path / "q.jsonl"
    cmd = [sys.executable, "-m", "searchtune", "generate-queries", "--catalog", str(catalog), "--llm", "m",
           "--llm-base-url", server.url, "--llm-api-key", "sk-secret", "--concurrency", "1", "--cache", str(cache),
           "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 60
    while sum(server.requests.values()) < 4 and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    answered = len(AnswerCache(cache))
    assert 3 <= answered < 12
    server.delay = 0.0
    before = sum(server.requests.values())
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    assert sum(server.requests.values()) - before == 12 - answered
    assert max(server.requests.values()) <= 2  # at most the one answer lost to the kill was asked twice
    recs = read_queries(out)
    assert len({r.product_id for r in recs}) == 12 and len(recs) == 48
    stats = json.loads((tmp_path / "q.stats.json").read_text())
    assert stats["from_cache"] == answered
    assert "sk-secret" not in json.dumps(stats)
    from searchtune.jobs import JobStore

    jobs = JobStore().list()
    assert jobs and all("sk-secret" not in json.dumps(j.to_dict()) for j in jobs)


# -- offline generator --------------------------------------------------------
def test_offline_generator_writes_each_kind_from_the_catalog_fields():
    data = load_data(DataConfig(catalog=str(EXAMPLES / "catalog.csv")))
    sample = data.products.head(40)
    records, stats = generate_offline(sample, per_product=4, seed=1)
    assert stats["by_kind"] == {k: 40 for k in KINDS}
    again, _ = generate_offline(sample, per_product=4, seed=1)
    assert again == records  # deterministic for a seed
    rows = sample.set_index("product_id")
    for r in records:
        row = rows.loc[r.product_id]
        assert r.query == r.query.lower() and 1 <= len(r.query.split()) <= 10 and r.source == "offline"
        if r.kind == "specific":
            assert row["brand"].lower().split()[0] in r.query
        if r.kind == "general":
            leaf = row["category"].split(">")[-1].strip().lower()
            assert r.query == leaf or r.query in row["title"].lower()
        if r.kind == "need":
            assert " for " in f" {r.query} " or r.query.startswith("best ")
        if r.kind == "attribute":
            values = [v.split("=", 1)[1].lower() for v in row["attributes"].split("; ")]
            assert any(w in r.query for v in values for w in v.split()) or any(c.isdigit() for c in r.query)


def test_offline_generator_on_titles_only():
    records, _ = generate_offline(products("DEWALT 20V MAX Cordless Drill DCD771C2 in Yellow",
                                           "Everbilt 1/2 in. x 10 ft. Galvanized Steel Pipe"), seed=3)
    by = {(r.product_id, r.kind): r.query for r in records}
    assert "dcd771c2" in by[("p0", "specific")]
    assert "yellow" in by[("p0", "attribute")] or "20v" in by[("p0", "attribute")]
    assert "pipe" in by[("p1", "general")]


# -- honest splits --------------------------------------------------------------
def test_catalog_only_split_is_by_product_and_never_trains_on_held_out_products():
    data = load_data(DataConfig(catalog=str(EXAMPLES / "catalog.csv")))
    records, _ = generate_offline(data.products, seed=0)
    records.append(SyntheticQuery("shared query", data.product_ids[0], "general", "offline"))
    records.append(SyntheticQuery("shared query", data.product_ids[1], "general", "offline"))
    loaded = data
    data, split = catalog_only(loaded, records, dev_fraction=0.1, test_fraction=0.2, seed=7)
    assert split.train and split.dev and split.test
    assert not loaded.queries and data.queries  # split returns new data; the loaded data is unchanged

    def part(pid):
        u = product_unit(7, pid)
        return "test" if u < 0.2 else "dev" if u < 0.3 else "train"

    for q in split.train:  # a training query was written only for training products
        assert all(part(p) == "train" for p in data.qrels[q])
    for q in split.test:
        assert any(part(p) == "test" for p in data.qrels[q])
    assert data.queries["syn:shared query"] == "shared query" and len(data.qrels["syn:shared query"]) == 2


def test_real_queries_stay_the_test_set_and_synthetic_twins_of_test_queries_are_dropped(tmp_path):
    data = load_data(DataConfig(catalog=str(EXAMPLES / "catalog.csv"), queries=str(EXAMPLES / "queries.csv")))
    split = split_queries(list(data.queries), seed=1)
    test_text = data.queries[split.test[0]]
    pid = data.product_ids[0]
    records = [SyntheticQuery(test_text.upper(), pid, "general", "x"), SyntheticQuery("fresh query", pid, "need", "x")]
    grown, new = train_on_synthetic(data, split, records)
    assert new.test == split.test and new.dev == split.dev
    assert new.train == ["syn:fresh query"]
    assert grown.counts["skipped_synthetic_equal_to_held_out_query"] == 1
    assert "syn:fresh query" in grown.queries and "syn:fresh query" not in data.queries


def test_queries_file_errors_name_the_line(tmp_path):
    path = tmp_path / "q.jsonl"
    write_queries(path, [SyntheticQuery("drill", "p1", "general", "x")])
    assert read_queries(path)[0].query == "drill"
    path.write_text('{"query": "drill", "product_id": "p1"}\n{"query": "", "product_id": "p2"}\n')
    with pytest.raises(SearchtuneError, match=r"q.jsonl, row 2.*column 'query'"):
        read_queries(path)


# -- the pipeline on a catalog alone ----------------------------------------------
@pytest.mark.slow
def test_pipeline_on_a_catalog_without_queries_trains_on_offline_queries(tmp_path):
    from searchtune.config import Config
    from searchtune.pipeline import Pipeline

    cfg = Config()
    cfg.data.catalog = str(EXAMPLES / "catalog.csv")
    cfg.generate.max_products = 50
    cfg.train.epochs = 1
    cfg.train.batch_size = 16
    cfg.train.max_seq_length = 48
    report = Pipeline(cfg, tmp_path / "run", progress=False).run()
    syn = report["synthetic_queries"]
    assert syn["source"] == "offline" and syn["evaluation"].startswith("synthetic")
    assert (tmp_path / "run" / "synthetic" / "queries.jsonl").exists()
    assert set(report["metrics"]) >= {"bm25", "base", "finetuned"}
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    assert split["source"].startswith("synthetic, by product")
    assert "Trained on synthetic queries" in (tmp_path / "run" / "report.md").read_text()


@pytest.mark.slow
def test_cli_trains_on_synthetic_queries_and_evaluates_on_the_real_test_queries(tmp_path):
    from typer.testing import CliRunner

    from searchtune.cli import app

    runner = CliRunner()
    queries = tmp_path / "syn.jsonl"
    r = runner.invoke(app, ["generate-queries", "--catalog", str(EXAMPLES / "catalog.csv"), "--max-products", "60",
                            "--out", str(queries)])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "syn.stats.json").read_text())["source"] == "offline"
    out = tmp_path / "run"
    r = runner.invoke(app, ["pipeline", "--catalog", str(EXAMPLES / "catalog.csv"), "--queries",
                            str(EXAMPLES / "queries.csv"), "--synthetic-queries", str(queries), "--epochs", "1",
                            "--batch-size", "16", "--max-seq-length", "48", "--out", str(out)])
    assert r.exit_code == 0, r.output
    report = json.loads((out / "report.json").read_text())
    assert report["synthetic_queries"]["evaluation"] == "real held-out queries"
    split = json.loads((out / "split.json").read_text())
    assert split["train"] and all(q.startswith("syn:") for q in split["train"])
    assert not any(q.startswith("syn:") for q in split["test"] + split["dev"])
    real = load_data(DataConfig(catalog=str(EXAMPLES / "catalog.csv"), queries=str(EXAMPLES / "queries.csv")))
    assert set(split["test"]) <= set(real.queries)  # the test set is the real queries'


@pytest.mark.slow
def test_local_gguf_model_writes_parseable_queries(tmp_path):
    """In-process llama.cpp (cyllama) with the model `make llm` fetches; skipped where it is not installed."""
    pytest.importorskip("cyllama", reason="cyllama not installed (make llm)")
    models = sorted((ROOT / ".models").glob("*.gguf"))
    if not models:
        pytest.skip("no .gguf model in .models/ (make llm fetches one)")
    records, stats = generate(products("DEWALT 20V MAX Cordless Drill Driver Kit DCD771C2"), llm=str(models[0]),
                              cache_path=tmp_path / "c.sqlite", progress=False)
    assert stats["ok"] == 1 and stats["completion_tokens"] > 0 and records
    assert all(r.query == r.query.lower() and r.kind in KINDS for r in records)
