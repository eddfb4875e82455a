"""Segments of a finished run's test queries, measured from its RUN/results.json and its data.

    .venv/bin/python bench/segments.py RUN [RUN ...]

Prints, per run, every system's nDCG@10 on each segment (searchtune.evaluation.segments), as the report of a
run made now writes it. BENCHMARKS.md, "Segments".
"""

from __future__ import annotations

import sys
from pathlib import Path

from searchtune.config import Config
from searchtune.data import full_texts
from searchtune.evaluation.results import Results
from searchtune.evaluation.runs import SystemRun
from searchtune.evaluation.segments import (
    losses,
    segment_queries,
    segment_table,
    unit_mismatch,
)
from searchtune.prepare import load
from searchtune.rundir import RunDir


def main() -> None:
    for run in map(Path, sys.argv[1:]):
        rd = RunDir(run)
        config, results = Config.load(rd.config), Results.load(rd.results)
        data = load(config)
        split = __import__("json").loads(rd.split.read_text())
        queries = {q: data.queries[q] for q in split["test"] if q in data.queries and data.positives(q)}
        per_query = {n: s.per_query["ndcg@10"] for n, s in results.systems.items() if s.per_query.get("ndcg@10")}
        brands = data.products["brand"].tolist() if "brand" in data.products else []
        judged = {q: len(data.qrels.get(q, {})) for q in queries}
        table = segment_table(segment_queries(queries, full_texts(data.products), brands, judged), per_query)
        runs = {n: SystemRun.load(rd.ranking(n, "test")).run for n in per_query if rd.ranking(n, "test").exists()}
        mismatch = unit_mismatch(queries, runs, data.texts)
        systems = [n for n in ("bm25", "base", "finetuned", "hybrid", "reranked") if n in per_query]
        print(f"\n{run}: {len(queries):,} test queries\n")
        print("| segment | queries | " + " | ".join(systems) + " |\n|---|---:|" + "---:|" * len(systems))
        for name, row in table.items():
            print(f"| {name} | {row['queries']:,} | " + " | ".join(
                f"{row['systems'][n]['ndcg@10']:.4f}{'†' if row['systems'][n].get('significant_vs_bm25') else ''}"
                for n in systems) + " |")
        print("\nthe tuned model below BM25: " + ("; ".join(losses(table)) or "no segment"))
        print(f"attribute mismatch on {mismatch['queries']} queries naming a quantity with a unit: " + ", ".join(
            f"{n} {c['rate']:.1%} of {c['checked']}" for n, c in mismatch["systems"].items() if c["rate"] is not None))


if __name__ == "__main__":
    main()
