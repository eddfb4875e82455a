"""Home Depot: weighted soups (weight averages of fine-tuned models), scored on dev; test read once for one.

Usage:
  .venv/bin/python bench/weighted_soup.py --out runs/hd-soup-s19 --trial NAME=SPEC [--trial NAME=SPEC]...
  .venv/bin/python bench/weighted_soup.py --out runs/hd-soup-s19 --test NAME

SPEC is a comma-separated list of ingredients, each ``PATH`` or ``PATH*WEIGHT`` (weight 1 when left out);
``soup:PATH`` stands for every ingredient of an earlier soup (PATH/soup.json), each with weight 1. Each trial
is averaged into OUT/NAME (searchtune.soup.average_models) and scored on the dev queries only. ``--test NAME``
reads the test queries once, for the soup OUT/NAME that dev chose, and nothing else. Every result is appended
to OUT/results.jsonl with the command that produced it.

Session 18's scripts (s18_weighted_soup.py, s18_weighted_test.py) are this script with fixed arguments.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import hd  # noqa: E402

from searchtune.metrics import evaluate_run  # noqa: E402
from searchtune.soup import average_models  # noqa: E402


def parse_spec(spec: str) -> tuple[list[str], list[float]]:
    paths, weights = [], []
    for item in filter(None, spec.split(",")):
        if item.startswith("soup:"):
            ingredients = json.loads((Path(item[5:]) / "soup.json").read_text())["ingredients"]
            paths += ingredients
            weights += [1.0] * len(ingredients)
            continue
        path, _, w = item.partition("*")
        if not Path(path).exists():
            sys.exit(f"--trial: no model at {path}")
        paths.append(path)
        weights.append(float(w) if w else 1.0)
    return paths, weights


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--trial", action="append", default=[], help="NAME=SPEC, scored on dev")
    p.add_argument("--test", default=None, help="NAME of a soup in --out: read test once for it")
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    d, s = hd.load()
    log = out / "results.jsonl"

    def record(entry: dict) -> None:
        entry["command"] = " ".join(sys.argv)
        print(json.dumps(entry), flush=True)
        with log.open("a") as f:
            f.write(json.dumps(entry) + "\n")

    for trial in a.trial:
        name, _, spec = trial.partition("=")
        paths, weights = parse_spec(spec)
        model = average_models(paths, out / name, weights=weights)
        t = time.time()
        qrels, system = hd.score_model(d, s, str(model), "dev", out / "qdrant")
        record({"name": name, "paths": paths, "weights": weights, "dev": evaluate_run(qrels, system.run),
                "queries": len(qrels), "seconds": round(time.time() - t)})
    if a.test:
        model = out / a.test
        t = time.time()
        qrels, system = hd.score_model(d, s, str(model), "test", out / "qdrant")
        record({"name": a.test, "test": evaluate_run(qrels, system.run), "queries": len(qrels),
                "seconds": round(time.time() - t)})


if __name__ == "__main__":
    main()
