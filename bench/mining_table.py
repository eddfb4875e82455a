"""Test-set table for the hard-negative benchmark (issue: ANCE rounds).

Usage: .venv/bin/python bench/mining_table.py LABEL=RUN_DIR [LABEL=RUN_DIR ...] [--json OUT.json]

For a run trained with rounds (``RUN/rounds/rounds.json``) every round's model
is scored on the test queries, searching the collection that round already
indexed (``RUN/qdrant/round-N``), so the table shows what each round would
have given. Rounds were *chosen* on dev only (the pipeline never looks at
test); this script only reports. A run without rounds contributes its
fine-tuned system from ``report.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from searchtune.config import Config
from searchtune.evaluate import model_run, score
from searchtune.index import open_index
from searchtune.pipeline import Pipeline


def main(argv: list[str]) -> None:
    out_json = None
    if "--json" in argv:
        i = argv.index("--json")
        out_json = argv[i + 1]
        argv = argv[:i] + argv[i + 2:]
    rows = []
    pipe = None
    for spec in argv:
        label, run = spec.split("=", 1)
        run = Path(run)
        rounds = run / "rounds" / "rounds.json"
        if not rounds.exists():
            report = json.loads((run / "report.json").read_text())
            m = report["metrics"]["finetuned"]
            stats = json.loads((run / "model" / "training_stats.json").read_text())
            rows.append({"setting": label, "round": "-", "dev_ndcg@10": report["dev_metrics"]["finetuned"]["ndcg@10"],
                         "test_ndcg@10": m["ndcg@10"], "test_mrr@10": m["mrr@10"],
                         "train_seconds": stats["seconds"], "epochs": stats["epochs"]})
            continue
        summary = json.loads(rounds.read_text())
        cfg = Config.load(run / "config.yaml")
        pipe = Pipeline(cfg, run, resume=True, progress=False)
        pipe.load()
        pipe.split()
        queries, qrels = pipe._queries("test")
        for r in summary["rounds"]:
            with open_index(f"round-{r['round']}", cfg.index, data_dir=run / "qdrant") as index:
                system = model_run(f"round-{r['round']}", r["model"], pipe.data, queries, index, k=100,
                                   config=cfg.evaluate, progress=False, catalog_key=pipe._catalog_key())
            m = score(system, qrels, [10, 100]).metrics
            mining = r.get("mining") or {}
            rows.append({"setting": label, "round": r["round"], "source": r["source"],
                         "dev_ndcg@10": r["dev"].get("ndcg@10"), "test_ndcg@10": m["ndcg@10"],
                         "test_mrr@10": m["mrr@10"], "train_seconds": r["timings"].get("train_seconds"),
                         "mining_seconds": mining.get("seconds"),
                         "mining_search_qps": mining.get("search_queries_per_second"),
                         "mining_qps_with_encoding": mining.get("queries_per_second"),
                         "index_and_dev_seconds": r["timings"].get("index_and_dev_seconds"),
                         "best": r["round"] == summary["best_round"]})
    print("| setting | round | dev nDCG@10 | test nDCG@10 | test MRR@10 | train s | mining s (search q/s) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        mining = f"{r.get('mining_seconds')} ({r.get('mining_search_qps')})" if r.get("mining_seconds") else "—"
        best = " (best on dev)" if r.get("best") else ""
        print(f"| {r['setting']}{best} | {r['round']} | {r['dev_ndcg@10']:.4f} | {r['test_ndcg@10']:.4f} | "
              f"{r['test_mrr@10']:.4f} | {r.get('train_seconds')} | {mining} |")
    if out_json:
        Path(out_json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
