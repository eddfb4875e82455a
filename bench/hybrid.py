"""Home Depot: BM25, sparse, dense and hybrid systems from one Qdrant Edge collection (issue: dense + hybrid).

Usage:
  .venv/bin/python bench/hybrid.py --sparse-tuned runs/hd-ance/model --dense-tuned runs/hd-dense/model \
      --out runs/hd-hybrid [--latency-queries 200]

Builds one collection with every named vector (searchtune.index.collection.build; reused when it already
holds this catalog and these models) and, for index sizes, one single-vector collection per mode from
its stored vectors; scores every system on the shared protocol's test
queries (never trained on) with paired t-tests against BM25 and the best single system; measures
single-query latency (encode + search, p50/p95) per mode. Writes OUT/hybrid.json and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from searchtune.config import DataConfig
from searchtune.data import load_data, load_split_file
from searchtune.encode import encode
from searchtune.evaluation.bm25 import BM25Baseline
from searchtune.evaluation.metrics import evaluate_run
from searchtune.evaluation.runs import SystemRun, score
from searchtune.evaluation.stats import significance
from searchtune.evaluation.systems import run_systems
from searchtune.index import EdgeIndex
from searchtune.index import collection as col
from searchtune.index.bm25_vectors import Bm25Embedder
from searchtune.models import load_encoder

HD = Path(os.environ.get("HD_DIR") or ROOT.parent / "shared" / "data" / "homedepot")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sparse-base", default="splade-tiny")
    ap.add_argument("--sparse-tuned", required=True)
    ap.add_argument("--dense-base", default="minilm")
    ap.add_argument("--dense-tuned", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--latency-queries", type=int, default=200)
    ap.add_argument("--fusion", default="rrf")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    data = load_data(DataConfig(data=str(HD / "train.csv"), duplicate_products="first"))
    split = load_split_file(str(HD / "split.json"), data.queries)
    qrels = data.eval_qrels(split.test)
    queries = {q: data.queries[q] for q in qrels}
    texts = data.products["text"].tolist()
    ids = data.product_ids
    payloads = [{"product_id": p, "title": t} for p, t in zip(ids, data.products["title"])]
    models = col.Models(sparse_base=args.sparse_base, sparse_tuned=args.sparse_tuned, dense_base=args.dense_base,
                        dense_tuned=args.dense_tuned)
    data_dir = out / "qdrant"
    with EdgeIndex("all", data_dir) as index:
        stats = col.build(index, data, models, bm25=True)
        bm25 = Bm25Embedder.of(index.metadata())
        t = time.perf_counter()
        runs = run_systems(index, queries, models, k=100, fusion=args.fusion)
        print(f"searched {len(runs)} systems in {time.perf_counter() - t:.0f}s", flush=True)
        bm25s = BM25Baseline(stem=True).index(ids, texts)
        runs["bm25"] = SystemRun("bm25", bm25s.search(queries, k=100))
        metrics = {name: evaluate_run(qrels, r.run, [10, 100]) for name, r in runs.items()}
        singles = ["bm25", "bm25-qdrant", "sparse-base", "sparse-tuned", "dense-base", "dense-tuned"]
        best = max(singles, key=lambda n: metrics[n]["ndcg@10"])
        sig = significance({n: score(s, qrels, [10]).per_query["ndcg@10"] for n, s in runs.items()},
                           against=sorted({"bm25", best}))
        sig["best_single"] = best
        # the dev queries too: a system is chosen on dev, never on test
        dev_qrels = data.eval_qrels(split.dev)
        dev_queries = {q: data.queries[q] for q in dev_qrels}
        dev_runs = run_systems(index, dev_queries, models, k=100, fusion=args.fusion)
        dev_runs["bm25"] = SystemRun("bm25", bm25s.search(dev_queries, k=100))
        dev_metrics = {name: evaluate_run(dev_qrels, r.run, [10, 100]) for name, r in dev_runs.items()}

        # single-query latency per mode, with the tuned models (encode + search, one query at a time)
        loaded = {"sparse_tuned": load_encoder(args.sparse_tuned, kind="sparse"),
                  "dense_tuned": load_encoder(args.dense_tuned, kind="dense")}
        sample = list(queries.values())[:args.latency_queries]
        modes = {"bm25": ["bm25"], "sparse": ["sparse_tuned"], "dense": ["dense_tuned"],
                 "hybrid": ["sparse_tuned", "dense_tuned"]}
        latency = {}
        import numpy as np

        for mode, using in modes.items():
            times = []
            for text in sample:
                t0 = time.perf_counter()
                q = {u: (bm25.embed([text], "query") if u == "bm25" else
                         encode(loaded[u], [text], "query", batch_size=1, precision="auto"))
                     for u in using}
                index.query(q, using, limit=10, fusion=args.fusion)
                times.append((time.perf_counter() - t0) * 1000)
            latency[mode] = {"p50_ms": round(float(np.percentile(times, 50)), 2),
                             "p95_ms": round(float(np.percentile(times, 95)), 2)}
            print(mode, latency[mode], flush=True)

        sizes = {}
        for mode, name in (("bm25", "bm25"), ("sparse", "sparse_tuned"), ("dense", "dense_tuned")):
            spec = index.layout()[name]
            stored = index.vectors(ids, spec.get("size") or (2**32 if name == "bm25" else 30522), name=name)
            with EdgeIndex(f"only-{mode}", data_dir, vectors={name: spec}) as ix:
                ix.create(recreate=True)
                ix.upsert(ids, {name: stored}, payloads)
                ix.optimize()
            sizes[mode] = folder_size(data_dir / f"only-{mode}")
    sizes["hybrid (all five vectors)"] = folder_size(data_dir / "all")

    result = {"metrics": metrics, "dev_metrics": dev_metrics, "significance": sig, "latency": latency, "index_bytes": sizes,
              "index": stats,
              "models": models.named(), "fusion": args.fusion, "queries": len(queries),
              "command": "python " + " ".join(sys.argv)}
    (out / "hybrid.json").write_text(json.dumps(result, indent=2))
    print("| system | dev nDCG@10 | nDCG@10 | MRR@10 | Recall@100 | sig. |\n|---|---:|---:|---:|---:|---|")
    for name in ["bm25", *col.SYSTEM_VECTORS]:
        if name not in metrics:
            continue
        r = sig["results"].get(name, {})
        marks = ("†" if r.get("bm25", {}).get("significant") else "") + \
                ("§" if r.get(best, {}).get("significant") else "")
        m = metrics[name]
        print(f"| {name} | {dev_metrics[name]['ndcg@10']:.4f} | {m['ndcg@10']:.4f} | {m['mrr@10']:.4f} | "
              f"{m['recall@100']:.4f} | {marks} |")
    print(json.dumps({"latency": latency, "index_bytes": sizes}, indent=1))


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


if __name__ == "__main__":
    main()
