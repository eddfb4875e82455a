"""explain: a sparse model's query terms and each term's contribution to a product's score."""

import json

import pytest
from test_pipeline import example_config, small_example  # noqa: F401
from typer.testing import CliRunner

from searchtune.cli import app
from searchtune.errors import SearchtuneError
from searchtune.explain import explain


def test_contributions_sum_to_the_score():
    out = explain("cordless drill", {"untuned": "splade-tiny"}, product="DeWalt 20V cordless drill driver kit",
                  k=5)["untuned"]
    assert len(out["terms"]) == 5 and out["terms"][0]["weight"] >= out["terms"][-1]["weight"]
    total = sum(c["query"] * c["product"] for c in out["contributions"])
    assert out["score"] > 0 and total == pytest.approx(out["score"], rel=1e-3)
    assert {"drill"} <= {c["term"] for c in out["contributions"]}
    assert explain("zzzz qqqq", {"m": "splade-tiny"}, product="garden hose")["m"]["score"] >= 0


def test_explain_refuses_a_dense_model():
    with pytest.raises(SearchtuneError, match="sparse"):
        explain("drill", {"m": "minilm"})


def test_explain_a_run_from_the_cli(tmp_path, small_example):  # noqa: F811
    from searchtune.pipeline import Pipeline

    run = tmp_path / "run"
    Pipeline(example_config(small_example), run, progress=False).run()
    product = (small_example / "catalog.csv").read_text().splitlines()[1].split(",")[0]
    res = CliRunner().invoke(app, ["explain", "cordless drill", "--run", str(run), "--product", product, "--json"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.output[res.output.index("{"):res.output.rindex("}") + 1])
    assert set(body["models"]) == {"untuned", "tuned"} and "score" in body["models"]["tuned"]
    missing = CliRunner().invoke(app, ["explain", "drill", "--run", str(run), "--product", "no-such-id"])
    assert missing.exit_code == 2 and "not in the run's catalog" in missing.output


def test_what_changed_measures_shares_of_weight_by_kind_of_term():
    from searchtune.explain import what_changed

    texts = ["DeWalt 20V cordless drill", "Ryobi garden hose 50 ft", "Makita circular saw 7-1/4 in."] * 4
    out = what_changed(texts, ["DeWalt", "Ryobi", "Makita"] * 4, "splade-tiny", "splade-tiny", sample=10, top=5)
    untuned, tuned = out["models"]["untuned"], out["models"]["tuned"]
    assert out["products"] == 10 and untuned == tuned  # the same model twice: nothing changed
    assert 0 < untuned["brands"] < 1 and 0 < untuned["numbers and units"] < 1 and untuned["terms per product"] > 3
    assert len(out["gained"]) == len(out["lost"]) == 5
