"""SPLADE training rows/s: sentence-transformers' modules against searchtune's fused projection, side by side.

    python bench/train_speed.py [--queries 400] [--precision auto]

Trains splade-tiny the pipeline's way (searchtune.train.trainer.train: judged negatives, batch 64, 48
tokens, the Home Depot protocol's settings) on the first ``--queries`` training queries of Home Depot's
split, once through sentence-transformers' own SpladePooling over the full logits and once through
``searchtune.train.fused``, and prints the trainer's rows/s of each (the same rows, seed and steps).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import hd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=400)
    ap.add_argument("--precision", default="auto")
    args = ap.parse_args()
    from searchtune.config import TrainConfig
    from searchtune.data import Split
    from searchtune.evaluation.report import machine
    from searchtune.precision import resolve
    from searchtune.train import fused
    from searchtune.train.trainer import train

    data, split = hd.load()
    part = Split(split.train[:args.queries], split.dev, split.test, source="bench")
    config = TrainConfig(max_seq_length=48, min_positive_gain=2, precision=args.precision, save_steps=10_000)
    rates = {}
    for name, enabled in (("sentence-transformers SpladePooling", False), ("searchtune fused projection", True)):
        fused.ENABLED = enabled
        with tempfile.TemporaryDirectory() as out:
            stats = train(data, part, config, Path(out), progress=False).stats
        rates[name] = stats["pairs_per_second"]
        print(f"{name}: {stats['pairs']:,} rows, {stats['steps']} steps, {stats['pairs_per_second']:.1f} rows/s",
              flush=True)
    first, second = rates.values()
    print(f"fused / sentence-transformers: {second / first:.2f}x ({resolve(args.precision, 'cpu')}); "
          f"machine: {machine()}")


if __name__ == "__main__":
    main()
