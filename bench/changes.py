"""What fine-tuning changed in how a catalog is read, for finished runs (the report section, over more products).

    .venv/bin/python bench/changes.py RUN [RUN ...] [--sample 2000]

For each run: its untuned base model against RUN/model, at the run's training length, over a seeded sample of
the catalog's products (searchtune.explain.what_changed). BENCHMARKS.md, "What fine-tuning changed".
"""

from __future__ import annotations

import argparse
from pathlib import Path

from searchtune.config import Config
from searchtune.explain import what_changed
from searchtune.models import trained_config
from searchtune.prepare import load
from searchtune.rundir import RunDir
from searchtune.train.trainer import base_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--sample", type=int, default=2000)
    args = ap.parse_args()
    for run in args.runs:
        rd = RunDir(run)
        config = Config.load(rd.config)
        data = load(config)
        brands = data.products["brand"].tolist() if "brand" in data.products else []
        out = what_changed(data.products["text"].tolist(), brands, base_model(config.train), str(rd.model),
                           sample=args.sample, max_length=(trained_config(rd.model) or {}).get("max_seq_length"))
        kinds = list(out["models"]["untuned"])
        print(f"\n{run}: {out['products']:,} products\n")
        print("| | " + " | ".join(kinds) + " |\n|---|" + "---:|" * len(kinds))
        for label, m in out["models"].items():
            print(f"| {label} | " + " | ".join(f"{m[k]:.1%}" if k != "terms per product" else f"{m[k]}"
                                               for k in kinds) + " |")
        print("gained:", ", ".join(t["term"] for t in out["gained"]))
        print("lost:", ", ".join(t["term"] for t in out["lost"]))


if __name__ == "__main__":
    main()
