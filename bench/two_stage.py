"""Two-stage search, the table: a finished `searchtune pipeline --rerank` run, plus one first stage reranked at
each K with the weight dev chose for that K (test read once per such system).

Usage (from the repository root, after the run):
  bash bench/homedepot.sh runs/hd-rr --rerank --reranker-max-pairs 40000 --rerank-dev-queries 400
  .venv/bin/python bench/two_stage.py runs/hd-rr [--first-stage hybrid]

Reads RUN/report.json (the pipeline's systems, dev choices, latency, reranker training) and RUN/runs (the
first stage's test ranking); scores the (query, product) pairs the run has not scored yet with RUN/reranker
(kept in RUN/reranker/scores.jsonl, shared with the run). Prints a Markdown table and writes
RUN/two_stage.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from searchtune.config import Config  # noqa: E402
from searchtune.data import Split, load_data  # noqa: E402
from searchtune.evaluation.metrics import evaluate_run  # noqa: E402
from searchtune.evaluation.runs import SystemRun, score  # noqa: E402
from searchtune.evaluation.stats import significance  # noqa: E402
from searchtune.rerank.model import PairScores, load_reranker, pairs_of, rerank_run  # noqa: E402


def ms(latency: dict) -> str:
    return f"{latency['p50_ms']:.1f} / {latency['p95_ms']:.1f}" if latency else ""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--first-stage", default="hybrid")
    args = ap.parse_args()
    run = Path(args.run)
    report = json.loads((run / "report.json").read_text())
    config = Config.load(run / "config.yaml")
    data = load_data(config.data)
    split = Split.load(run / "split.json")
    qrels = data.eval_qrels(split.test)
    two = report["two_stage"]
    first = SystemRun.load(run / "runs" / f"{args.first_stage}.test.json")
    model = load_reranker(run / "reranker", max_length=config.rerank.max_length)
    scorer = PairScores(model, data.queries, data.texts, path=run / "reranker" / "scores.jsonl",
                        batch_size=config.rerank.batch_size_score)
    grid = two["choices"][args.first_stage]["grid"]
    systems = {name: SystemRun(name, SystemRun.load(run / "runs" / f"{name}.test.json").run)
               for name in ("bm25", "finetuned", "hybrid")}
    rows = {}
    for k in sorted({g["k"] for g in grid}):
        best = max((g for g in grid if g["k"] == k), key=lambda g: g["ndcg@10"])  # the weight dev chose for this K
        scorer.score(pairs_of(first.run, k), f"reranking test, top {k}")
        name = f"{args.first_stage}+rerank@{k}"
        systems[name] = SystemRun(name, rerank_run(first.run, scorer.scores, k=k, weight=best["weight"]))
        rows[name] = {"k": k, "weight": best["weight"], "dev_ndcg@10": best["ndcg@10"]}
    metrics = {n: evaluate_run(qrels, s.run, [10, 100]) for n, s in systems.items()}
    sig = significance({n: score(s, qrels, [10]).per_query["ndcg@10"] for n, s in systems.items()},
                       against=["bm25", args.first_stage])
    latency = report.get("latency") or {}
    dev = {**{n: m.get("ndcg@10") for n, m in report["dev_metrics"].items()}, **two["dev"]}
    print(f"{len(qrels)} test queries; dev choices on {two['dev_queries']} dev queries; reranker trained on "
          f"{report['reranker_training']['pairs']:,} pairs in {report['reranker_training']['seconds'] / 60:.1f} min "
          f"({report['reranker_training']['pairs_per_second']} pairs/s); machine: {report['machine']}")
    print("| system | K | weight | dev nDCG@10 | test nDCG@10 | R@100 | vs BM25 | p50 / p95 ms |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|")
    ref = metrics["bm25"]["ndcg@10"]
    for name, m in metrics.items():
        row = rows.get(name, {})
        lat = latency.get(f"{args.first_stage}+rerank" if row else name, {}).get("total") or {}
        if row and row["k"] != two["choices"][args.first_stage]["k"]:
            lat = {}  # latency was timed at the K dev chose
        marks = "".join(m_ for r, m_ in (("bm25", "†"), (args.first_stage, "§"))
                        if sig["results"].get(name, {}).get(r, {}).get("significant"))
        d = row.get("dev_ndcg@10", dev.get(name))
        print(f"| {name}{marks} | {row.get('k', '')} | {row.get('weight', '')} | "
              f"{'' if d is None else f'{d:.4f}'} | {m['ndcg@10']:.4f} | {m['recall@100']:.4f} | "
              f"{100 * (m['ndcg@10'] - ref) / ref:+.1f}% | "
              f"{ms(lat)} |")
    print("† differs from BM25, § from the first stage (paired t-test on per-query nDCG@10, p < 0.05)")
    (run / "two_stage.json").write_text(json.dumps({"metrics": metrics, "rows": rows, "significance": sig,
                                                    "latency": latency}, indent=1))


if __name__ == "__main__":
    main()
