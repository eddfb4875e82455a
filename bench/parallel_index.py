"""Indexing with encoding in one process and in several: Home Depot's catalog into Qdrant Edge (SPLADE + BM25).

    python bench/parallel_index.py [--processes 1,2] [--max-length 48] [--products N]

Each run builds a fresh collection of splade-tiny and BM25 vectors from the catalog in HD_DIR (default
../shared/data/homedepot) with ``searchtune.index.collection.build(processes=N)`` and prints the wall time and
products a second; then checks that every build answers the same queries with the same products.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", default="1,2")
    ap.add_argument("--max-length", type=int, default=48)
    ap.add_argument("--products", type=int, default=None)
    args = ap.parse_args()
    from searchtune.config import DataConfig
    from searchtune.data import load_data
    from searchtune.evaluation.report import machine
    from searchtune.index import EdgeIndex
    from searchtune.index import collection as col

    hd = os.environ.get("HD_DIR", "../shared/data/homedepot")
    data = load_data(DataConfig(data=f"{hd}/train.csv", duplicate_products="first"))
    if args.products:
        data.products = data.products.head(args.products)
    models = col.Models.single("splade-tiny", "base", args.max_length)
    queries = sorted(data.queries.values())[:200]
    print(machine(), f"{len(data.products):,} products")
    answers = {}
    for processes in [int(p) for p in args.processes.split(",")]:
        with tempfile.TemporaryDirectory() as tmp, EdgeIndex("hd", tmp) as index:
            started = time.perf_counter()
            stats = col.build(index, data, models, bm25=True, progress=False, processes=processes)
            took = time.perf_counter() - started
            hits = col.search(index, models, queries, "sparse-base", k=10)
            answers[processes] = [[h.product_id for h in row] for row in hits]
        print(f"{processes} process(es): {took:.1f} s, {len(data.products) / took:.0f} products/s "
              f"(encoding {stats['encode_seconds']})")
    first = next(iter(answers.values()))
    same = sum(a == b for other in answers.values() for a, b in zip(first, other)) / (len(first) * len(answers))
    print(f"the same top 10 for {same:.1%} of {len(queries)} queries across the builds")


if __name__ == "__main__":
    main()
