"""Which kind a model is (sparse or dense) is read from the model itself, in one place."""

import json

import pytest
from typer.testing import CliRunner

from searchtune.config import TrainConfig
from searchtune.errors import SearchtuneError
from searchtune.models import model_kind, resolve_model
from searchtune.train.trainer import base_model


def cached_hub_model(cache, repo: str, files: dict) -> None:
    """A hub model as the Hugging Face cache stores it once downloaded."""
    folder = cache / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("abc123")
    snapshot = folder / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    for name, content in files.items():
        (snapshot / name).write_text(json.dumps(content))


def test_kind_dense_with_a_hub_id_trains_that_model_not_minilm():
    # the user's --kind is honoured for a hub id that says nothing here (not downloaded yet)
    assert base_model(TrainConfig(kind="dense", model="acme/shop-embedder")) == "acme/shop-embedder"
    assert model_kind("acme/shop-embedder", declared="dense") == "dense"
    # without a kind it is a clear error, not a silent guess of "sparse"
    with pytest.raises(SearchtuneError, match="pass --kind sparse or --kind dense"):
        model_kind("acme/shop-embedder")
    # the documented default: --kind dense without --model trains minilm
    assert base_model(TrainConfig(kind="dense")) == "minilm"


def test_a_model_says_what_it_is_and_a_contradicting_kind_is_refused(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    cached_hub_model(tmp_path, "acme/dense", {"modules.json": [{"type": "sentence_transformers.models.Transformer"},
                                                               {"type": "sentence_transformers.models.Pooling"}]})
    cached_hub_model(tmp_path, "acme/splade", {"config.json": {"architectures": ["BertForMaskedLM"]}})
    assert model_kind("acme/dense") == "dense" and model_kind("acme/splade") == "sparse"
    assert model_kind(resolve_model("splade-tiny")) == "sparse" and model_kind(resolve_model("minilm")) == "dense"
    with pytest.raises(SearchtuneError, match="is a sparse model, but --kind is dense"):
        base_model(TrainConfig(kind="dense", model=resolve_model("splade-tiny")))
    with pytest.raises(SearchtuneError, match="is a dense model, but --kind is sparse"):
        base_model(TrainConfig(kind="sparse", model="acme/dense"))


def test_version():
    from searchtune import __version__
    from searchtune.cli import app

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_the_report_names_each_model_by_what_it_is_not_by_the_config():
    from searchtune.evaluation.markdown import labels_for

    evaluated = {"config": {"train": {"kind": "sparse"}}, "kinds": {"base": "sparse", "finetuned": "dense"}}
    labels = labels_for(evaluated)  # e.g. `searchtune evaluate --tuned-model DENSE` in a SPLADE run
    assert labels["finetuned"] == "dense fine-tuned" and labels["base"] == "SPLADE untuned"
    assert labels_for({"config": {"train": {"kind": "dense"}}}, short=True)["base"] == "dense untuned"
