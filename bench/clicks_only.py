"""A shop's plain clicks export against the full log it came from, on the bundled example.

    python bench/clicks_only.py OUT [--impressions 60000 100000]

Simulates a search log over BM25 rankings of the bundled example's training queries (the seeded split's; dev
and test are never logged), writes it twice: whole (impressions, positions, clicks, carts, purchases) and as
the commonest export (query, product, query time, click time: `searchtune.events.clicks_export`), trains from
each with `searchtune pipeline --events` (examples/demo.yaml, every clicked product a positive:
`--min-positive-gain 1`), and prints test nDCG@10 on the human-judged test queries. BENCHMARKS.md, "Learning from clicks".
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from searchtune.config import DataConfig
from searchtune.data import load_data, split_for
from searchtune.evaluation.report import machine
from searchtune.events import SimulationConfig, clicks_export, simulate, write_log

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--impressions", type=int, nargs="+", default=[60_000])
    args = parser.parse_args()
    config = DataConfig(catalog=str(EXAMPLES / "catalog.csv"), queries=str(EXAMPLES / "queries.csv"))
    data = load_data(config)
    train = split_for(config, data.queries).train
    rows = []
    for n in args.impressions:
        log = simulate(data, train, SimulationConfig(impressions=n, seed=42))
        logs = {"impressions and positions": write_log(log, args.out / f"log-{n}.parquet"),
                "clicks only (query, product, query time, click time)": args.out / f"clicks-{n}.csv"}
        clicks_export(log).to_csv(logs["clicks only (query, product, query time, click time)"], index=False)
        for name, path in logs.items():
            run = args.out / f"run-{n}-{'clicks' if 'only' in name else 'full'}"
            if not (run / "report.json").exists():
                subprocess.run([sys.executable, "-m", "searchtune", "pipeline", "--catalog", config.catalog,
                                "--queries", config.queries, "--config", str(EXAMPLES / "demo.yaml"), "--events",
                                str(path), "--train-on-heldout-queries", "--min-positive-gain", "1", "--out", str(run),
                                "--quiet"], check=True)
            report = json.loads((run / "report.json").read_text())
            judged, ev = report["judged_metrics"], report["events"]
            rows.append(f"| {n:,} | {name} | {ev['clicks']:,} | {ev['labels']['train']['labelled_pairs']:,} | "
                        f"{judged['bm25']['ndcg@10']:.4f} | {judged['base']['ndcg@10']:.4f} | "
                        f"{judged['finetuned']['ndcg@10']:.4f} |")
    print(f"{machine()}\n")
    print("| impressions | log | clicks | labelled training pairs | BM25 | untuned | tuned from the log |\n"
          "|---:|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
