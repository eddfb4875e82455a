"""`searchtune diff`: two runs compared system by system, and a regression gate that ignores noise."""

import json

import numpy as np
from typer.testing import CliRunner

from searchtune.cli import app
from searchtune.evaluation.results import Results
from searchtune.evaluation.runs import SystemRun
from searchtune.rundir import RunDir


def run_with(folder, scores: dict[str, list[float]]):
    systems = {name: SystemRun(name, {}, metrics={"ndcg@10": float(np.mean(v))},
                               per_query={"ndcg@10": {f"q{i}": x for i, x in enumerate(v)}})
               for name, v in scores.items()}
    folder.mkdir()
    Results(config={}, systems=systems).save(RunDir(folder).results)
    return folder


def test_a_clear_drop_fails_the_gate_and_noise_does_not(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.9, 200)
    a = run_with(tmp_path / "a", {"bm25": list(base), "finetuned": list(base + 0.05)})
    worse = np.clip(base + 0.05 - 0.08 + rng.normal(0, 0.02, 200), 0, 1)  # tuned lost 0.08 on every query
    noisy = np.clip(base + rng.normal(0, 0.05, 200), 0, 1)  # BM25 moved by noise only
    b = run_with(tmp_path / "b", {"bm25": list(noisy), "finetuned": list(worse)})
    runner = CliRunner()
    out = runner.invoke(app, ["diff", str(a), str(b), "--json", "--fail-on-drop", "0.05"])
    assert out.exit_code == 1, out.output
    result = json.loads(out.output[:out.output.rindex("}") + 1])
    assert result["failed"] == ["finetuned"] and result["systems"]["finetuned"]["dropped"]
    assert not result["systems"]["bm25"]["dropped"] and result["systems"]["finetuned"]["queries"] == 200
    assert runner.invoke(app, ["diff", str(a), str(b), "--fail-on-drop", "0.1"]).exit_code == 0  # smaller than that
    assert runner.invoke(app, ["diff", str(a), str(a), "--fail-on-drop", "0"]).exit_code == 0  # no change
    missing = runner.invoke(app, ["diff", str(a), str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "results.json" in missing.output


def test_a_drop_on_one_segment_fails_the_gate_even_when_the_whole_holds(tmp_path):
    rng = np.random.default_rng(1)
    base = rng.uniform(0.3, 0.9, 300)
    a = run_with(tmp_path / "a", {"finetuned": list(base)})
    after = base + rng.normal(0, 0.01, 300)
    after[:40] -= 0.2  # the numbers-and-units queries lost 0.2; the other 260 hold
    b = run_with(tmp_path / "b", {"finetuned": list(np.clip(after, 0, 1))})
    results = Results.load(RunDir(b).results)
    results.segments = {"numbers and units": {"queries": 40, "query_ids": [f"q{i}" for i in range(40)], "systems": {}},
                        "brand": {"queries": 60, "query_ids": [f"q{i}" for i in range(100, 160)], "systems": {}}}
    results.save(RunDir(b).results)
    out = CliRunner().invoke(app, ["diff", str(a), str(b), "--json", "--fail-on-drop", "0.05"])
    assert out.exit_code == 1, out.output
    result = json.loads(out.output[:out.output.rindex("}") + 1])
    assert result["failed"] == ["finetuned / numbers and units"]  # the whole moved by -0.027: within the 0.05
    assert result["systems"]["finetuned"]["segments"]["brand"]["dropped"] is False
