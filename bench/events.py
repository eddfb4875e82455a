"""The table of BENCHMARKS.md "Learning from clicks", from the runs of bench/events.sh.

Usage: python bench/events.py OUT_DIR [impressions ...] [--reference RUN]

For each log size: how fast it imports and how fast labels are derived (events/s, peak memory, each in a
fresh process, from the log written as CSV.gz, the usual export format), and the model trained on it,
measured on the human-judged Home Depot test queries against the untuned model and BM25. ``--reference``:
a run trained on the human labels with the same protocol (bench/homedepot.sh), for "share of the gain".
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import tempfile
import time
from pathlib import Path


def scaling(log: str, catalog: str) -> dict:
    """Import a CSV.gz copy of ``log`` and derive its labels; seconds and the process's peak memory."""
    import pandas as pd

    from searchtune.config import DataConfig, EventsConfig
    from searchtune.data import load_data
    from searchtune.events import EventStore
    from searchtune.events.labels import derive, impressions, position_bias
    from searchtune.events.simulate import write_log

    with tempfile.TemporaryDirectory() as tmp:
        csv = write_log(pd.read_parquet(log), Path(tmp) / "log.csv.gz")
        products = load_data(DataConfig(data=catalog, duplicate_products="first")).product_ids
        t = time.perf_counter()
        result = EventStore(Path(tmp) / "store").add(csv, products=products)
        imported = time.perf_counter() - t
        events = EventStore(Path(tmp) / "store").load()
        t = time.perf_counter()
        imp = impressions(events)
        bias = position_bias(imp, EventsConfig())
        derive(imp, bias, EventsConfig())
        derived = time.perf_counter() - t
    return {"events": result.total, "import_seconds": round(imported, 1),
            "import_events_per_second": round(result.total / imported),
            "labels_seconds": round(derived, 1), "labels_events_per_second": round(result.total / derived),
            "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "position_bias": [round(x, 2) for x in bias.theta[:10]]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("sizes", nargs="*", type=int, default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--reference", default="runs/hd-rr", help="A run trained on the human labels.")
    ap.add_argument("--catalog", default="../shared/data/homedepot/train.csv")
    args = ap.parse_args()
    out = Path(args.out)
    ref = json.loads((Path(args.reference) / "report.json").read_text())["metrics"]
    human_gain = ref["finetuned"]["ndcg@10"] - ref["base"]["ndcg@10"]
    rows = []
    ctx = mp.get_context("spawn")
    for n in args.sizes:
        report = json.loads((out / f"run-{n}" / "report.json").read_text())
        judged, ev = report["judged_metrics"], report["events"]
        with ctx.Pool(1) as pool:
            scale = pool.apply(scaling, (str(out / "logs" / f"hd-{n}.parquet"), args.catalog))
        gain = judged["finetuned"]["ndcg@10"] - judged["base"]["ndcg@10"]
        rows.append({"impressions": n, "searches": ev["searches"], "clicks": ev["clicks"],
                     "training_queries": ev["train_queries"],
                     "labelled_pairs": ev["labels"]["train"]["labelled_pairs"],
                     "test_ndcg@10": {k: judged[k]["ndcg@10"] for k in ("bm25", "base", "finetuned", "hybrid")
                                      if k in judged},
                     "share_of_human_gain": round(gain / human_gain, 3),
                     "training_seconds": report["timings"].get("training", {}).get("seconds"), **scale})
    result = {"machine": f"{platform.processor() or platform.machine()}", "human_labels": {
        "base": ref["base"]["ndcg@10"], "finetuned": ref["finetuned"]["ndcg@10"], "gain": round(human_gain, 4)},
        "rows": rows}
    (out / "events_bench.json").write_text(json.dumps(result, indent=2))
    print("| impressions | searches | clicks | training queries | labelled pairs | tuned nDCG@10 | vs BM25 | "
          "share of the human labels' gain | import events/s | labels events/s | peak MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        t = r["test_ndcg@10"]
        print(f"| {r['impressions']:,} | {r['searches']:,} | {r['clicks']:,} | {r['training_queries']:,} | "
              f"{r['labelled_pairs']:,} | {t['finetuned']:.4f} | {100 * (t['finetuned'] / t['bm25'] - 1):+.1f}% | "
              f"{100 * r['share_of_human_gain']:.0f}% | {r['import_events_per_second']:,} | "
              f"{r['labels_events_per_second']:,} | {r['peak_memory_mb']:,} |")


if __name__ == "__main__":
    main()
