"""Several data sets: the YAML file and its errors, training rows per set, batches, the matrix, the
recommendation."""

import json

import pytest
import yaml
from conftest import EXAMPLES

from searchtune.errors import SearchtuneError
from searchtune.multi import load_spec, parse_spec, recommend, run_matrix, train_multi
from searchtune.multi.sets import load_set
from searchtune.multi.train import training_parts


def sets_file(tmp_path, extra=None, **top):
    """Two trainable sets made from the example (the second holds half of its queries) and an eval-only one
    (some of the other half)."""
    import pandas as pd

    queries = pd.read_csv(EXAMPLES / "queries.csv", dtype=str)
    half = queries[queries["query"].isin(sorted(queries["query"].unique())[::2])]
    half.to_csv(tmp_path / "half.csv", index=False)
    queries[~queries.index.isin(half.index)].head(300).to_csv(tmp_path / "rest.csv", index=False)
    raw = {"datasets": [
        {"name": "shop", "catalog": str(EXAMPLES / "catalog.csv"), "queries": str(EXAMPLES / "queries.csv"),
         "split_seed": 1},
        {"name": "half", "catalog": str(EXAMPLES / "catalog.csv"), "queries": "half.csv", "split_seed": 2,
         "max_samples": 100, "weight": 2.0},
        {"name": "control", "catalog": str(EXAMPLES / "catalog.csv"), "queries": "rest.csv", "eval_only": True},
    ], "train": {"max_seq_length": 32, "batch_size": 16, "epochs": 0.3}, **top}
    for i, changes in (extra or {}).items():
        raw["datasets"][i].update(changes)
    path = tmp_path / "sets.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_spec_errors(tmp_path):
    spec = load_spec(sets_file(tmp_path))
    assert [d.name for d in spec.trained] == ["shop", "half"] and spec.train.max_seq_length == 32
    assert spec.by_name("half").data.queries == str(tmp_path / "half.csv")  # relative to the YAML file
    cases = [({"datasets": [{"name": "a", "data": "x.csv", "colour": 1}]}, "unknown key.*colour"),
             ({"datasets": [{"name": "a", "data": "x.csv"}], "epochs": 1}, "unknown key.*epochs"),
             ({"datasets": [{"name": "a", "data": "x.csv", "eval_only": True, "max_samples": 5}]}, "eval_only set"),
             ({"datasets": [{"name": "a", "data": "x.csv"}, {"name": "a", "data": "y.csv"}]}, "used twice"),
             ({"datasets": [{"name": "a"}]}, "give 'data'"),
             ({"datasets": [{"name": "a", "data": "x.csv", "eval_only": True}], "target": "a"}, "eval_only"),
             ({"datasets": [{"name": "a", "data": "x.csv"}], "sampler": "random"}, "sampler"),
             ({"datasets": [{"name": "a", "data": "x.csv"}], "train": {"lr": 1}}, "unknown setting 'lr'"),
             # numbers are YAML numbers, flags YAML booleans, names folder names, training settings checked
             ({"datasets": [{"name": "a", "data": "x.csv", "weight": float("nan")}]}, "weight must be a number"),
             ({"datasets": [{"name": "a", "data": "x.csv", "weight": "heavy"}]}, "weight must be a number"),
             ({"datasets": [{"name": "a", "data": "x.csv", "weight": float("inf")}]}, "weight must be a number"),
             ({"datasets": [{"name": "a", "data": "x.csv", "max_samples": "lots"}]}, "max_samples must be a whole"),
             ({"datasets": [{"name": "a", "data": "x.csv", "synthetic": -5}]}, "synthetic must be a whole number of"),
             ({"datasets": [{"name": "a", "data": "x.csv", "eval_only": "false"}]}, "eval_only must be true or false"),
             ({"datasets": [{"name": "../../escape", "data": "x.csv"}]}, "a name is letters"),
             ({"datasets": [{"name": "a", "data": "x.csv"}], "train": {"epochs": float("nan")}}, "epochs")]
    for raw, message in cases:
        with pytest.raises(SearchtuneError, match=message):
            parse_spec(raw)
    missing = tmp_path / "sub" / "sets.yaml"  # relative paths start from the YAML file's folder, and say so
    missing.parent.mkdir()
    missing.write_text("datasets:\n  - {name: a, data: nowhere.csv}\n")
    with pytest.raises(SearchtuneError, match="relative paths start from the folder of .*sub/sets.yaml"):
        load_spec(missing)
    no_test = load_spec(sets_file(tmp_path, {0: {"test_fraction": 0.0}}))
    with pytest.raises(SearchtuneError, match="no held-out test query"):
        load_set(no_test.datasets[0])
    only_eval = parse_spec({"datasets": [{"name": "a", "data": "x.csv", "eval_only": True}]})
    with pytest.raises(SearchtuneError, match="nothing to train"):
        train_multi(only_eval, tmp_path / "run")


def test_rows_per_set_never_use_a_held_out_query(tmp_path):
    spec = load_spec(sets_file(tmp_path))
    sets = [load_set(d) for d in spec.datasets]
    parts, stats = training_parts(sets, spec)
    assert {k.split("/")[0] for k in parts} == {"shop", "half"}  # never the eval-only set
    held = set().union(*(s.held_out_texts() for s in sets))  # every set's dev and test, across sets
    trained = {q.strip().lower() for rows in parts.values() for q in rows["query"]}
    assert trained and not trained & held
    assert stats["half"]["rows"] == 200 and stats["half"]["rows_available"] > 100  # max_samples 100, weight 2
    assert stats["shop"]["dropped_held_out_elsewhere"] > 0  # its queries held out by "half" or "control"


@pytest.mark.parametrize("sampler", ["proportional", "round_robin"])
def test_batches_never_mix_sets(tmp_path, sampler):
    from datasets import Dataset
    from sentence_transformers.base.sampler import (
        DefaultBatchSampler,
        ProportionalBatchSampler,
    )
    from torch.utils.data import ConcatDataset

    from searchtune.train.trainer import set_round_robin

    spec = load_spec(sets_file(tmp_path))
    parts, _ = training_parts([load_set(d) for d in spec.datasets], spec)
    names = list(parts)
    datasets = [Dataset.from_dict(rows) for rows in parts.values()]
    concat = ConcatDataset(datasets)
    bounds = [0, *concat.cumulative_sizes]
    samplers = [DefaultBatchSampler(range(len(d)), batch_size=8, drop_last=False) for d in datasets]
    cls = ProportionalBatchSampler if sampler == "proportional" else set_round_robin([n.split("/")[0] for n in names])
    batches = list(cls(concat, batch_samplers=samplers, seed=0))
    sets = []
    for batch in batches:
        owners = {next(i for i in range(len(datasets)) if bounds[i] <= idx < bounds[i + 1]) for idx in batch}
        assert len(owners) == 1  # one part, hence one set and one row kind
        sets.append(names[owners.pop()].split("/")[0])
    if sampler == "round_robin":  # one set, then the other, in turn; the smaller set's batches all used
        assert all(a != b for a, b in zip(sets, sets[1:]))
        smaller = min(sum(len(s) for n, s in zip(names, samplers) if n.startswith(x + "/")) for x in set(sets))
        assert len(batches) == 2 * smaller
    else:
        assert len(batches) == sum(len(s) for s in samplers)


def test_recommendation_follows_the_numbers():
    def cell(ndcg, change=None, sig=False):
        return {"ndcg@10": ndcg, "mrr@10": ndcg, "change_vs_bm25": change, "significant_vs_bm25": sig}

    matrix = {"datasets": ["hd", "ice", "sci"], "eval_only": ["sci"], "rows": {
        "bm25": {"hd": cell(0.36), "ice": cell(0.67), "sci": cell(0.66)},
        "base": {"hd": cell(0.29, -19.4, True), "ice": cell(0.42, -37.3, True), "sci": cell(0.60, -9.1, True)},
        "hd-only": {"hd": cell(0.40, 11.1, True), "ice": cell(0.50, -25.4, True), "sci": cell(0.50, -24.2, True)},
        "multi": {"hd": cell(0.395, 9.7, True), "ice": cell(0.70, 4.5, False), "sci": cell(0.59, -10.6, True)}}}
    rec = recommend(matrix)
    assert rec["per_set"] == {"hd": "hd-only", "ice": "bm25"}  # multi leads on ice, but not significantly
    assert rec["one_model"] == "multi"
    text = "\n".join(rec["lines"])
    assert "ice: BM25" in text and "not significantly better" in text
    assert "multi (hd +9.7% vs BM25, 1.3% below the best model there; ice +4.5% vs BM25, the best model there)" in text
    assert "sci (never trained on): hd-only -16.7% vs the untuned model; for catalogs unlike" in text
    assert "multi -1.7% vs the untuned model; within 5%" in text
    matrix["rows"]["multi"]["ice"]["significant_vs_bm25"] = True
    assert recommend(matrix)["per_set"]["ice"] == "multi"


@pytest.mark.slow
def test_train_multi_then_matrix(tmp_path):
    from typer.testing import CliRunner

    from searchtune.cli import app

    path = sets_file(tmp_path, curriculum=True, target="shop")
    runner = CliRunner()
    res = runner.invoke(app, ["train-multi", "--sets", str(path), "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    stats = json.loads((tmp_path / "run" / "model" / "training_stats.json").read_text())
    assert stats["curriculum"]["target"] == "shop" and set(stats["datasets"]) == {"shop", "half"}
    assert (tmp_path / "run" / "phase-1" / "model").is_dir()
    res = runner.invoke(app, ["matrix", "--sets", str(path), "--candidate", f"multi={tmp_path / 'run' / 'model'}",
                              "--out", str(tmp_path / "m")])
    assert res.exit_code == 0, res.output
    matrix = json.loads((tmp_path / "m" / "matrix.json").read_text())
    assert matrix["datasets"] == ["shop", "half", "control"] and set(matrix["rows"]) == {"bm25", "base", "multi"}
    assert set(matrix["rows"]["multi"]["control"]) >= {"ndcg@10", "mrr@10", "change_vs_bm25", "significant_vs_bm25"}
    assert "What to deploy" in (tmp_path / "m" / "matrix.md").read_text()
    again = run_matrix(load_spec(path), {"multi": str(tmp_path / "run" / "model")}, tmp_path / "m", progress=False)
    assert again["rows"] == matrix["rows"]  # collections reused, the same numbers
