"""Weight averaging (model soups): the mean is taken per parameter, mismatched models are refused,
and the greedy soup keeps an ingredient only when the dev score rises."""
import json
from pathlib import Path

import pytest
import torch

from searchtune.errors import SearchtuneError
from searchtune.train.soup import average_models, greedy_soup


def _save_shifted(model, path, shift):
    with torch.no_grad():
        for p in model.parameters():
            p.add_(shift)
    model.save(str(path))
    with torch.no_grad():
        for p in model.parameters():
            p.sub_(shift)
    return path


def test_average_is_the_weighted_mean_of_each_parameter(splade, tmp_path):
    a = _save_shifted(splade, tmp_path / "a", 0.0)
    b = _save_shifted(splade, tmp_path / "b", 0.3)
    out = average_models([a, b], tmp_path / "soup", weights=[3, 1])
    from searchtune.models import load_encoder

    soup = load_encoder(out, kind="sparse").state_dict()
    ref = splade.state_dict()
    name = "0.auto_model.bert.encoder.layer.0.attention.self.query.weight"
    name = name if name in ref else next(k for k, v in ref.items() if v.is_floating_point() and v.dim() == 2)
    assert torch.allclose(soup[name], ref[name] + 0.3 * 0.25, atol=1e-6)
    meta = json.loads((out / "soup.json").read_text())
    assert meta["weights"] == [0.75, 0.25]
    # an equal-weight average of a model with itself is that model: same encodings
    same = load_encoder(average_models([a, a], tmp_path / "self"), kind="sparse")
    e1 = same.encode_query(["cordless drill"], convert_to_tensor=True).to_dense()
    e2 = splade.encode_query(["cordless drill"], convert_to_tensor=True).to_dense()
    assert torch.allclose(e1, e2, atol=1e-5)


def test_models_of_different_shapes_are_refused(splade, tmp_path):
    from searchtune.models import resolve_model

    a = _save_shifted(splade, tmp_path / "a", 0.0)
    with pytest.raises(SearchtuneError, match="cannot average"):
        average_models([a, resolve_model("minilm")], tmp_path / "bad")
    with pytest.raises(SearchtuneError, match="weights"):
        average_models([a, a], tmp_path / "bad", weights=[1])


def test_greedy_soup_keeps_only_what_raises_dev(splade, tmp_path):
    paths = {s: str(_save_shifted(splade, tmp_path / f"m{s}", s)) for s in (0.0, 0.01, 0.02)}
    known = {paths[0.0]: 0.50, paths[0.01]: 0.45, paths[0.02]: 0.40}
    calls = []

    def score(path):  # pretend dev likes the soup with m0.01 but not the one adding m0.02
        meta = json.loads((tmp_path / path / "soup.json").read_text()) if "soup-" in path else None
        calls.append(path)
        return 0.55 if meta and len(meta["ingredients"]) == 2 else 0.30

    res = greedy_soup(list(paths.values()), tmp_path / "soups", score, scores=known)
    assert res["ingredients"] == [paths[0.0], paths[0.01]]
    assert res["score"] == 0.55 and res["model"].endswith("soup-1")
    assert [t["kept"] for t in res["tried"]] == [True, False]
    assert len(calls) == 2  # ingredients with known scores are not scored again


def test_greedy_soup_continues_from_a_chosen_soup(splade, tmp_path):
    paths = {s: str(_save_shifted(splade, tmp_path / f"m{s}", s)) for s in (0.0, 0.01, 0.02)}
    start = average_models([paths[0.0], paths[0.01]], tmp_path / "start")
    known = {paths[0.0]: 0.50, paths[0.01]: 0.45, paths[0.02]: 0.40}

    def score(path):  # dev: the start soup 0.52, with m0.02 added 0.53
        meta = json.loads((Path(path) / "soup.json").read_text())
        return {2: 0.52, 3: 0.53}[len(meta["ingredients"])]

    res = greedy_soup(list(paths.values()), tmp_path / "soups", score, scores=known, start=start)
    assert [t["added"] for t in res["tried"]] == [paths[0.02]]  # the start's ingredients are not tried again
    assert res["ingredients"] == [paths[0.0], paths[0.01], paths[0.02]] and res["score"] == 0.53
    assert res["start"] == str(start)


def test_cli_average_writes_a_loadable_soup_and_rejects_bad_weights(splade, tmp_path):
    from typer.testing import CliRunner

    from searchtune.cli import app

    a = _save_shifted(splade, tmp_path / "a", 0.0)
    b = _save_shifted(splade, tmp_path / "b", 0.1)
    runner = CliRunner()
    res = runner.invoke(app, ["average", str(a), str(b), "--out", str(tmp_path / "s"), "--weights", "1,1"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "s" / "soup.json").read_text())["weights"] == [0.5, 0.5]
    bad = runner.invoke(app, ["average", str(a), str(b), "--out", str(tmp_path / "t"), "--weights", "x"])
    assert bad.exit_code != 0 and "--weights" in bad.output
