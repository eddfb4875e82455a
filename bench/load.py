"""Loading a large catalog: seconds and peak memory of `load_data` on a generated catalog.

    python bench/load.py                      # 1,000,000 products, CSV and gzipped JSON Lines
    python bench/load.py --rows 100000 --formats csv

The catalog is generated into a temporary folder (never the repository): id, title, brand, category, a
~200-character description, price and six sparse ``attr_*`` columns. Each format is loaded in a fresh
process so that its peak memory (ru_maxrss) is its own.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("cordless drill driver hammer saw blade cabinet hinge brushed nickel stainless steel outdoor led "
         "bulb white black oak vinyl plank flooring pipe fitting copper valve garden hose nozzle ladder "
         "aluminum paint primer interior exterior gallon satin gloss screw anchor wall mount bracket").split()
BRANDS = ("Bosch", "DeWalt", "Makita", "Husky", "Ryobi", "Behr", "Glacier Bay", "Everbilt", "Hampton Bay")


def rows(n: int, seed: int = 0):
    rng = random.Random(seed)
    for i in range(n):
        row = {"product_id": f"P{i:07d}", "title": " ".join(rng.choices(WORDS, k=6)),
               "brand": rng.choice(BRANDS), "category": " > ".join(rng.choices(WORDS, k=3)),
               "description": " ".join(rng.choices(WORDS, k=30)), "price": f"{rng.uniform(1, 500):.2f}"}
        for a in ("colour", "material", "finish", "width", "height", "voltage"):
            if rng.random() < 0.3:
                row[f"attr_{a}"] = rng.choice(WORDS)
        yield row


def write(folder: Path, n: int, fmt: str) -> Path:
    columns = ["product_id", "title", "brand", "category", "description", "price"] + \
        [f"attr_{a}" for a in ("colour", "material", "finish", "width", "height", "voltage")]
    if fmt == "csv":
        import csv

        path = folder / "catalog.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=columns)
            w.writeheader()
            w.writerows(rows(n))
    else:
        path = folder / "catalog.jsonl.gz"
        with gzip.open(path, "wt", encoding="utf-8") as f:
            for row in rows(n):
                f.write(json.dumps(row) + "\n")
    return path


CHILD = """
import json, resource, sys, time
from searchtune.config import DataConfig
from searchtune.data import load_data
t = time.perf_counter()
data = load_data(DataConfig(catalog=sys.argv[1]))
seconds = time.perf_counter() - t
print(json.dumps({"seconds": round(seconds, 1), "products": len(data.products),
                  "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--formats", default="csv,jsonl.gz")
    args = ap.parse_args()
    from searchtune.evaluation.report import machine

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU") if Path("/proc/cpuinfo").exists() else "unknown CPU"
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats.split(","):
            t = time.perf_counter()
            path = write(Path(tmp), args.rows, fmt)
            made = time.perf_counter() - t
            out = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            size = path.stat().st_size / 2**20
            print(f"{fmt}: {args.rows:,} rows ({size:,.0f} MiB, written in {made:.0f}s): loaded in "
                  f"{result['seconds']}s, peak memory {result['peak_rss_gb']} GB")
    print(f"machine: {cpu}; {machine()}")


if __name__ == "__main__":
    main()
