"""Home Depot: BM25, sparse, dense and hybrid systems from one Qdrant Edge collection (issue: dense + hybrid).

Usage:
  .venv/bin/python bench/hybrid.py --sparse-tuned runs/hd-ance/model --dense-tuned runs/hd-dense/model \
      --out runs/hd-hybrid [--latency-queries 200]

Encodes the catalog once per model (plus BM25), builds one collection with every named vector and, for
index sizes, one single-vector collection per mode; scores every system on the shared protocol's test
queries (never trained on) with paired t-tests against BM25 and the best single system; measures
single-query latency (encode + search, p50/p95) per mode. Writes OUT/hybrid.json and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from searchtune.bm25 import BM25Baseline
from searchtune.config import DataConfig
from searchtune.data import load_data, load_split_file
from searchtune.dense import Bm25Embedder
from searchtune.evaluate import SystemRun
from searchtune.index import EdgeIndex
from searchtune.metrics import evaluate_run
from searchtune.systems import (
    SYSTEM_VECTORS,
    Models,
    _encode,
    _load,
    folder_size,
    run_systems,
    significance,
)

HD = ROOT.parent / "shared" / "data" / "homedepot"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sparse-base", default="splade-tiny")
    ap.add_argument("--sparse-tuned", required=True)
    ap.add_argument("--dense-base", default="minilm")
    ap.add_argument("--dense-tuned", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--latency-queries", type=int, default=200)
    ap.add_argument("--fusion", default="rrf")
    ap.add_argument("--reuse", action="append", default=[],
                    help="NAME=DIR/COLLECTION: take NAME's (sparse_base, sparse_tuned) document vectors from a "
                         "collection that already holds them for this catalog and model, instead of re-encoding")
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
    models = Models(sparse_base=args.sparse_base, sparse_tuned=args.sparse_tuned, dense_base=args.dense_base,
                    dense_tuned=args.dense_tuned)

    vectors, seconds, layout = {}, {}, {"bm25": {"kind": "sparse", "idf": True}}
    reuse = dict(r.split("=", 1) for r in args.reuse)
    for name, ref in models.named().items():
        kind = name.split("_")[0]
        if name in reuse:
            src = Path(reuse[name])
            with EdgeIndex(src.name, src.parent) as old:
                meta = old.metadata()
                if meta.get("points") != len(ids):
                    raise SystemExit(f"{src} holds {meta.get('points')} points, not {len(ids)}")
                t = time.perf_counter()
                vectors[name] = old.vectors(ids, 30522)
                print(f"reused {name} from {src} (model {meta.get('model')}) in {time.perf_counter() - t:.1f}s")
            layout[name] = {"kind": "sparse"}
            continue
        model = _load(kind, ref)
        t = time.perf_counter()
        vectors[name] = _encode(kind, model, texts, "document", batch_size=128, precision="auto")
        seconds[name] = time.perf_counter() - t
        layout[name] = {"kind": kind, "size": vectors[name].shape[1]} if kind == "dense" else {"kind": "sparse"}
        print(f"encoded {name}: {len(texts) / seconds[name]:.0f} docs/s", flush=True)
    bm25 = Bm25Embedder.for_corpus(texts)
    t = time.perf_counter()
    vectors["bm25"] = bm25.embed(texts, "document")
    seconds["bm25"] = time.perf_counter() - t

    data_dir = out / "qdrant"
    with EdgeIndex("all", data_dir, vectors=layout) as index:
        index.create(recreate=True, metadata={"bm25_avg_len": bm25.avg_len, "complete": True, "points": len(ids)})
        index.upsert(ids, vectors, payloads)
        index.optimize()
        t = time.perf_counter()
        runs = run_systems(index, data, queries, models, k=100, fusion=args.fusion)
        print(f"searched {len(runs)} systems in {time.perf_counter() - t:.0f}s", flush=True)
        bm25s = BM25Baseline(stem=True).index(ids, texts)
        runs["bm25"] = SystemRun("bm25", bm25s.search(queries, k=100))
        metrics = {name: evaluate_run(qrels, r.run, [10, 100]) for name, r in runs.items()}
        singles = ["bm25", "bm25-qdrant", "sparse-base", "sparse-tuned", "dense-base", "dense-tuned"]
        best = max(singles, key=lambda n: metrics[n]["ndcg@10"])
        sig = significance(qrels, runs, against=sorted({"bm25", best}))
        sig["best_single"] = best
        # the dev queries too: a system is chosen on dev, never on test
        dev_qrels = data.eval_qrels(split.dev)
        dev_queries = {q: data.queries[q] for q in dev_qrels}
        dev_runs = run_systems(index, data, dev_queries, models, k=100, fusion=args.fusion)
        dev_runs["bm25"] = SystemRun("bm25", bm25s.search(dev_queries, k=100))
        dev_metrics = {name: evaluate_run(dev_qrels, r.run, [10, 100]) for name, r in dev_runs.items()}

        # single-query latency per mode, with the tuned models (encode + search, one query at a time)
        lat_models = Models(sparse_base=None, sparse_tuned=args.sparse_tuned, dense_base=None,
                            dense_tuned=args.dense_tuned)
        loaded = {n: _load(n.split("_")[0], r) for n, r in lat_models.named().items()}
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
                         _encode(u.split("_")[0], loaded[u], [text], "query", batch_size=1, precision="auto"))
                     for u in using}
                index.query(q, using, limit=10, fusion=args.fusion)
                times.append((time.perf_counter() - t0) * 1000)
            latency[mode] = {"p50_ms": round(float(np.percentile(times, 50)), 2),
                             "p95_ms": round(float(np.percentile(times, 95)), 2)}
            print(mode, latency[mode], flush=True)

    sizes = {}
    for mode, name in (("bm25", "bm25"), ("sparse", "sparse_tuned"), ("dense", "dense_tuned")):
        with EdgeIndex(f"only-{mode}", data_dir, vectors={name: layout[name]}) as ix:
            ix.create(recreate=True)
            ix.upsert(ids, {name: vectors[name]}, payloads)
            ix.optimize()
        sizes[mode] = folder_size(data_dir / f"only-{mode}")
    sizes["hybrid (all five vectors)"] = folder_size(data_dir / "all")

    result = {"metrics": metrics, "dev_metrics": dev_metrics, "significance": sig, "latency": latency, "index_bytes": sizes,
              "encode_docs_per_second": {k: round(len(texts) / v, 1) for k, v in seconds.items()},
              "reused_vectors": reuse,
              "models": models.named(), "fusion": args.fusion, "queries": len(queries),
              "command": "python " + " ".join(sys.argv)}
    (out / "hybrid.json").write_text(json.dumps(result, indent=2))
    print("| system | dev nDCG@10 | nDCG@10 | MRR@10 | Recall@100 | sig. |\n|---|---:|---:|---:|---:|---|")
    for name in ["bm25", *SYSTEM_VECTORS]:
        if name not in metrics:
            continue
        r = sig["results"].get(name, {})
        marks = ("†" if r.get("bm25", {}).get("significant") else "") + \
                ("‡" if r.get(best, {}).get("significant") else "")
        m = metrics[name]
        print(f"| {name} | {dev_metrics[name]['ndcg@10']:.4f} | {m['ndcg@10']:.4f} | {m['mrr@10']:.4f} | "
              f"{m['recall@100']:.4f} | {marks} |")
    print(json.dumps({"latency": latency, "index_bytes": sizes}, indent=1))


if __name__ == "__main__":
    main()
