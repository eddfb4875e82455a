"""What a catalog of 10k, 100k and a million products costs on this machine: load, BM25, encode and index.

    python bench/sizing.py --out OUT [--sizes 10000,100000,1000000] [--index-up-to 100000] [--processes 1]

The catalog is generated from Icecat's 19,406 products (ICECAT_DIR, default ../shared/data/icecat): each
generated product is a real one with its numbers redrawn and a new model code, so texts keep Icecat's lengths
(title, brand, description, name=value attributes) and the vocabulary grows with the catalog as codes do. Each
step runs in a fresh process, for its peak memory:

- load: ``searchtune.data.load_data`` on the Parquet file;
- bm25: the bm25s baseline's index over every field (``searchtune.evaluation.bm25``);
- index: splade-tiny (128 tokens) and BM25 vectors into a Qdrant Edge collection
  (``searchtune.index.collection.build``), up to ``--index-up-to`` products; larger sizes are projected
  along the line through the two largest measured ones (encoding and upserts are per product; a collection
  also has a fixed cost on disk). The collection's size on
  disk is measured too.

On a GPU the encoder is no longer what bounds indexing: what stays on the CPU is tokenizing, the BM25 vectors
and the upserts. Their time is measured here (``cpu_side``), a lower bound for indexing with a GPU.
Prints a Markdown table and writes OUT/sizing.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import time
from pathlib import Path


def generate(n: int, path: Path, seed: int = 0) -> None:
    """``n`` products from Icecat's, numbers redrawn and a model code added, as Parquet."""
    import numpy as np
    import pandas as pd

    from searchtune.config import DataConfig
    from searchtune.data import load_data

    icecat = os.environ.get("ICECAT_DIR", "../shared/data/icecat")
    real = load_data(DataConfig(catalog=f"{icecat}/products.jsonl.gz")).products
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(real), n)
    digits = re.compile(r"\d+")
    titles, descriptions = real["title"].tolist(), real["full_text"].where(real["full_text"] != "",
                                                                          real["text"]).tolist()

    def redraw(text: str) -> str:
        return digits.sub(lambda m: str(rng.integers(1, 10 ** min(len(m.group()), 6))), text)

    codes = [f"{a}{b}-{c}" for a, b, c in zip(rng.choice(list("ABCDEFGHKLMNPRSTX"), n),
                                            rng.integers(100, 999, n), rng.integers(1000, 99999, n))]
    frame = pd.DataFrame({"id": np.arange(n).astype(str),
                          "title": [f"{redraw(titles[i])} {code}" for i, code in zip(pick, codes)],
                          "brand": real["brand"].to_numpy()[pick],
                          "description": [redraw(descriptions[i]) for i in pick]})
    frame.to_parquet(path, index=False)


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss it does not carry the parent's over exec)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def _step(what: str, path: str, size: int, tmp: str, processes: int, queue) -> None:
    from searchtune.config import DataConfig
    from searchtune.data import load_data

    started = time.perf_counter()
    data = load_data(DataConfig(catalog=path))
    out = {"load_s": time.perf_counter() - started}
    if what == "bm25":
        from searchtune.evaluation.bm25 import bm25_index

        started = time.perf_counter()
        bm25_index(data, stem=True)
        out["bm25_s"] = time.perf_counter() - started
    elif what == "index":
        from searchtune.index import EdgeIndex
        from searchtune.index import collection as col
        from searchtune.models import load_encoder

        models = col.Models.single("splade-tiny", "base", 128)
        tokenizer = load_encoder("splade-tiny", kind="sparse").tokenizer
        sample = data.products["text"].tolist()[:20000]
        started = time.perf_counter()
        tokenizer(sample, truncation=True, max_length=128)
        tokenize_s = (time.perf_counter() - started) * size / len(sample)
        started = time.perf_counter()
        with EdgeIndex("sizing", tmp) as index:
            stats = col.build(index, data, models, bm25=True, progress=False, processes=processes)
        out["index_s"] = time.perf_counter() - started
        encode_s = stats["encode_seconds"]["sparse_base"] / processes
        out["cpu_side_s"] = max(0.0, out["index_s"] - encode_s) + tokenize_s
        out["disk_mb"] = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file()) / 2 ** 20
    out["peak_mb"] = _peak_mb()
    queue.put(out)


def measure(what: str, path: Path, size: int, processes: int) -> dict:
    import tempfile

    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    with tempfile.TemporaryDirectory() as tmp:
        child = context.Process(target=_step, args=(what, str(path), size, tmp, processes, queue))
        child.start()
        result = queue.get()
        child.join()
    return result


def took(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--index-up-to", type=int, default=100000)
    ap.add_argument("--processes", type=int, default=1)
    ap.add_argument("--table", action="store_true", help="Only print the table from OUT/sizing.json.")
    args = ap.parse_args()
    if args.table:
        print_table(json.loads((args.out / "sizing.json").read_text()))
        return
    from searchtune.evaluation.report import machine

    args.out.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {"machine": machine(), "processes": args.processes, "sizes": {}}
    for size in sizes:
        path = args.out / f"catalog-{size}.parquet"
        if not path.exists():
            generate(size, path)
        row = {**measure("bm25", path, size, args.processes)}
        row["bm25_peak_mb"] = row.pop("peak_mb")
        if size <= args.index_up_to:
            indexed = measure("index", path, size, args.processes)
            row.update({k: v for k, v in indexed.items() if k != "load_s"}, index_peak_mb=indexed["peak_mb"])
            row.pop("peak_mb", None)
        results["sizes"][size] = row
        print(size, json.dumps({k: round(v, 1) for k, v in row.items()}), flush=True)
    (args.out / "sizing.json").write_text(json.dumps(results, indent=1))
    print_table(results)


def project(results: dict) -> dict:
    """Sizes not indexed get index time, CPU side and disk projected along the line through the two largest
    indexed sizes (per product, plus what a collection costs at any size), or in proportion to the only one."""
    sizes = {int(k): v for k, v in results["sizes"].items()}
    measured = sorted(n for n, row in sizes.items() if "index_s" in row)
    for n, row in sizes.items():
        if "index_s" in row or not measured:
            continue
        for key in ("index_s", "cpu_side_s", "disk_mb"):
            if len(measured) >= 2:
                (a, b) = measured[-2:]
                slope = (sizes[b][key] - sizes[a][key]) / (b - a)
                row[f"{key}_projected"] = sizes[b][key] + slope * (n - b)
            else:
                row[f"{key}_projected"] = sizes[measured[-1]][key] * n / measured[-1]
    return {**results, "sizes": sizes}


def print_table(results: dict) -> None:
    results = project(results)
    print(results["machine"], f"encoding processes: {results['processes']}")
    print("| products | load | BM25 (bm25s) | index: SPLADE + BM25 | on disk | CPU side (GPU bound) "
          "| peak memory: BM25, index |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for size, row in sorted(results["sizes"].items()):
        mark = "" if "index_s" in row else " (projected)"
        index, cpu, disk = (row.get(k, row.get(f"{k}_projected")) for k in ("index_s", "cpu_side_s", "disk_mb"))
        peaks = ", ".join(f"{row[k] / 1024:.1f} GB" if k in row else "—" for k in ("bm25_peak_mb", "index_peak_mb"))
        print(f"| {size:,} | {took(row['load_s'])} | {took(row['bm25_s'])} | {took(index)}{mark} | "
              f"{disk / 1024:.2f} GB{mark} | {took(cpu)}{mark} | {peaks} |")


if __name__ == "__main__":
    main()
