"""Past one machine and one language: the device a process computes on, several processes, other languages."""

import pytest
from typer.testing import CliRunner

from searchtune.cli import app
from searchtune.errors import SearchtuneError


def test_device_resolution(monkeypatch):
    import torch

    from searchtune import device

    monkeypatch.delenv(device.ENV, raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    with pytest.raises(SearchtuneError, match="not one of: auto, cpu, cuda"):
        device.check("tpu")
    assert device.check(" CUDA:1 ") == "cuda:1"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device.resolve() == device.resolve("auto") == "cpu"
    with pytest.raises(SearchtuneError, match="--device cuda: .*--device cpu"):
        device.resolve("cuda")
    # a machine with two GPUs: auto takes one, each torchrun process its own
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert device.resolve("auto") == "cuda:0" and device.resolve("cuda:1") == "cuda:1"
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert device.resolve("auto") == device.resolve("cuda") == "cuda:1"
    with pytest.raises(SearchtuneError, match="sees 2 GPU"):
        device.resolve("cuda:2")
    monkeypatch.setenv(device.ENV, "cpu")  # the process's choice wins over auto
    assert device.resolve() == "cpu"


def test_the_device_option_reaches_the_models(monkeypatch, tmp_path):
    from searchtune import device
    from searchtune.models import load_encoder

    monkeypatch.delenv(device.ENV, raising=False)
    bad = CliRunner().invoke(app, ["search", "drill", "--device", "tpu"])
    assert bad.exit_code == 2 and "--device 'tpu'" in bad.output
    assert "--device" not in CliRunner().invoke(app, ["inspect", "--help"]).output  # it loads no model
    device.use("cpu")
    assert load_encoder("splade-tiny", kind="sparse").device.type == "cpu"


@pytest.mark.slow
def test_training_under_torchrun_with_two_processes(tmp_path, searchtune_home):
    """Two gloo processes train one model: rank 0 alone writes it, its log and its job; the model lands within
    noise of one process's on the bundled example (the same effective batch: 2 × 16 against 32)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from conftest import EXAMPLES

    from searchtune.evaluation.diff import diff_runs
    from searchtune.evaluation.results import Results
    from searchtune.jobs import JobStore

    bin_dir = Path(sys.executable).parent
    data = ["--config", str(EXAMPLES / "demo.yaml"), "--catalog", str(EXAMPLES / "catalog.csv"), "--queries",
            str(EXAMPLES / "queries.csv"), "-q"]
    env = {**os.environ, "SEARCHTUNE_HOME": str(searchtune_home), "OMP_NUM_THREADS": "1"}

    def launch(out, *extra):
        return subprocess.run([str(bin_dir / "torchrun"), "--nproc_per_node", "2", "--no-python",
                               str(bin_dir / "searchtune"), "train", *data, "--out", str(out), "--batch-size", "16",
                               *extra], env=env, capture_output=True, text=True, timeout=600)

    two = tmp_path / "two"
    done = launch(two)
    assert done.returncode == 0, done.stderr[-3000:]
    steps = [json.loads(line)["step"] for line in (two / "train_log.jsonl").read_text().splitlines()]
    assert steps and len(steps) == len(set(steps))  # one writer: no entry twice
    assert (two / "model" / "training_stats.json").is_file() and not (two / "checkpoints").exists()
    assert [j.kind for j in JobStore().list()] == ["train"]
    again = launch(two, "--resume")  # a finished training is read back, by both ranks
    assert again.returncode == 0, again.stderr[-3000:]
    clash = launch(two)  # rank 0 refuses a run that exists; rank 1 is told and stops instead of waiting
    assert clash.returncode != 0 and "already holds a run" in clash.stdout + clash.stderr
    assert "rank 0 stopped before training" in clash.stdout + clash.stderr
    refused = subprocess.run([str(bin_dir / "torchrun"), "--nproc_per_node", "2", "--no-python",
                              str(bin_dir / "searchtune"), "pipeline", *data, "--out", str(tmp_path / "p")],
                             env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0 and "pipeline runs in one process" in refused.stderr + refused.stdout

    def evaluated(out, *extra):
        res = subprocess.run([str(bin_dir / "searchtune"), "pipeline", *data, "--out", str(out), *extra],
                             env=env, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr[-3000:]
        return Results.load(out / "results.json")

    change = diff_runs(evaluated(tmp_path / "one"), evaluated(two, "--batch-size", "16", "--resume"))
    tuned = change["systems"]["finetuned"]
    assert tuned["queries"] == 38 and not tuned["dropped"] and not tuned["rose"], tuned  # within noise


GERMAN = """id,title,description
1,Akku-Bohrmaschine 18V,Die kompakte Bohrmaschine für Holz und Metall mit zwei Akkus und einem Ladegerät
2,Gartenschlauch 20 m,Der flexible Schlauch für den Garten mit einer Spritzdüse und einem Halter
3,Schlagbohrmaschinen-Set,Ein Koffer mit zwei Bohrern und der Schlagbohrmaschine für die Wand
4,LED-Lampe E27,Die warmweiße Lampe für das Wohnzimmer mit einem Sockel aus Glas und einer langen Lebensdauer
5,Rasenmäher elektrisch,Der leise Rasenmäher für kleine Gärten mit einem Fangkorb und einer Schnitthöhe von 30 mm
6,Werkbank aus Holz,Eine stabile Werkbank für die Werkstatt mit einer Schublade und einem Schraubstock
"""


@pytest.fixture
def german(tmp_path):
    from conftest import write

    from searchtune.config import DataConfig
    from searchtune.data import load_data

    return load_data(DataConfig(catalog=str(write(tmp_path / "katalog.csv", GERMAN))))


def test_a_german_catalog_is_detected_and_bm25_matches_inflected_forms(german, tmp_path):
    from searchtune.evaluation.bm25 import BM25Baseline, bm25_index
    from searchtune.index import EdgeIndex
    from searchtune.index import collection as col

    assert german.language == "german" and german.source["language"]["how"] == "detected"
    queries = {"q1": "Bohrmaschinen", "q2": "Lampen fürs Wohnzimmer", "q3": "Gartenschläuche"}
    found = bm25_index(german, stem=True).search(queries, k=3)
    assert next(iter(found["q1"])) == "1" and next(iter(found["q2"])) == "4" and next(iter(found["q3"])) == "2"
    english = BM25Baseline(language="english").index(german.product_ids, german.products["text"].tolist())
    assert "1" not in english.search(queries, k=3)["q1"]  # English stemming leaves "bohrmaschinen" unmatched
    # the BM25 vectors inside Qdrant stem the same way, and the collection remembers its language
    with EdgeIndex("de", tmp_path / "qdrant") as index:
        col.build(index, german, col.Models(), bm25=True, progress=False)
        assert index.metadata()["bm25_language"] == "german"
        hits = col.search(index, col.Models(), ["Bohrmaschinen"], "bm25-qdrant", k=3)
        assert hits[0] and hits[0][0].product_id == "1"


def test_other_languages_are_set_by_name_or_code_and_the_offline_generator_says_it_writes_english(german):
    from searchtune.config import Config
    from searchtune.synthetic import generate

    config = Config()
    config.data.language = "DE"
    assert config.validate().data.language == "german"
    config.data.language = "klingon"
    with pytest.raises(SearchtuneError, match="--language 'klingon'.*german \\(de\\)"):
        config.validate()
    with pytest.raises(SearchtuneError, match="offline query generator writes English.*--llm"):
        generate(german.products, llm=None, language=german.language)
    from searchtune.synthetic.prompt import build_messages, clean_query, prompt_version

    assert "write the queries in German" in build_messages("Bohrmaschine", language="german")[0]["content"]
    assert prompt_version("german") != prompt_version()  # cached English answers are not reused
    assert clean_query("Bohrmaschine für Holz") == "bohrmaschine für holz" and clean_query("дрель") == "дрель"


def test_encoding_in_two_processes_indexes_what_one_process_does(tmp_path):
    """The bundled catalog in chunks of 64, encoded by a pool of two processes and in this one: the same points,
    the same hits with the same scores."""
    from conftest import EXAMPLES

    from searchtune.config import DataConfig
    from searchtune.data import load_data
    from searchtune.index import EdgeIndex
    from searchtune.index import collection as col

    data = load_data(DataConfig(catalog=str(EXAMPLES / "catalog.csv")))
    models = col.Models.single("splade-tiny", "base", 32)
    queries = ["cordless drill", "string trimmer", "white paint", "led light bulb", "garden hose"]
    found = []
    for processes in (1, 2):
        with EdgeIndex(f"p{processes}", tmp_path / "qdrant") as index:
            stats = col.build(index, data, models, bm25=True, progress=False, chunk_size=64, processes=processes)
            assert index.count() == len(data.products) and stats["documents"] == len(data.products)
            found.append(col.search(index, models, queries, "sparse-base", k=10))
    for one, two in zip(*found):
        assert [h.product_id for h in one] == [h.product_id for h in two]
        assert all(abs(a.score - b.score) < 1e-4 for a, b in zip(one, two))
