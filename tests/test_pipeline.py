"""The Pipeline object step by step: each step returns its result and keeps it for the next."""

import json

import pytest
from conftest import EXAMPLES

from searchtune.config import Config
from searchtune.errors import SearchtuneError
from searchtune.pipeline import Pipeline


def example_config(**train) -> Config:
    config = Config.load(EXAMPLES / "demo.yaml")
    config.data.catalog, config.data.queries = str(EXAMPLES / "catalog.csv"), str(EXAMPLES / "queries.csv")
    for key, value in {"epochs": 0.2, "max_seq_length": 16, **train}.items():
        setattr(config.train, key, value)
    return config


def test_steps_return_results_and_keep_them(tmp_path, splade):
    p = Pipeline(example_config(), tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "config.yaml").exists()
    data = p.load()
    assert p.data is data and len(data.products) > 100 and data.queries
    assert p.synthetic() is None  # real queries and no LLM: no synthetic queries
    split = p.split()
    assert p.split_ is split and split.test and split.dev
    assert not set(split.train) & (set(split.dev) | set(split.test))
    assert json.loads((tmp_path / "run" / "split.json").read_text())["test"] == split.test
    systems = p.baselines()
    assert set(systems) == {"bm25", "bm25-unstemmed"} and set(p.dev) == {"bm25", "bm25-unstemmed"}
    assert 0 < systems["bm25"].metrics["ndcg@10"] <= 1
    base = p.evaluate_model("base", "splade-tiny")
    assert base is p.systems["base"] and base.timings["index"]["documents"] == len(data.products)
    # scoring the same model again reuses the collection: the fingerprint (catalog + model) matches
    p.resume = True
    again = p.evaluate_model("base", "splade-tiny")
    assert again.metrics == base.metrics


def test_a_run_directory_is_not_overwritten_and_bad_config_is_refused(tmp_path):
    Pipeline(example_config(), tmp_path / "run", progress=False)
    with pytest.raises(SearchtuneError, match="--resume"):
        Pipeline(example_config(), tmp_path / "run", progress=False)
    bad = example_config()
    bad.mine.range_min = 60
    with pytest.raises(SearchtuneError, match="window"):
        Pipeline(bad, tmp_path / "other", progress=False)


def test_catalog_only_gets_synthetic_queries_and_a_split_by_product(tmp_path):
    config = Config()
    config.data.data = str(EXAMPLES / "catalog.csv")
    p = Pipeline(config, tmp_path / "run", progress=False)
    loaded = p.load()
    records = p.synthetic()
    assert records and p.synthetic_stats["file"].endswith("queries.jsonl")
    split = p.split()
    assert p.data is not loaded and not loaded.queries  # split returned new data; the loaded data is unchanged
    assert all(q.startswith("syn:") for q in split.train + split.test)
    assert p.synthetic_stats["evaluation"].startswith("synthetic queries")


@pytest.mark.slow
def test_train_keeps_its_stats_and_the_report_uses_them(tmp_path):
    p = Pipeline(example_config(), tmp_path / "run", progress=False)
    p.split()
    p.baselines()
    model = p.train()
    assert model == tmp_path / "run" / "model" and p.training["steps"] > 0 and p.mining is None
    p.evaluate_model("finetuned", str(model))
    report = p.report()
    assert report["timings"]["training"]["steps"] == p.training["steps"]
    assert set(report["metrics"]) == {"bm25", "bm25-unstemmed", "finetuned"}
    log = (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()
    assert log and "loss" in json.loads(log[0])  # the trainer's log goes to the file, not the console
