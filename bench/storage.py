"""Memory and disk per million products for each way a collection can store its points (`index.*` settings).

    .venv/bin/python bench/storage.py --out runs/storage [--points 1000000]

Points carry what searchtune stores: a SPLADE vector (50 non-zero terms of 30,522, titles at 48 tokens hold
about that many), a BM25 vector (8 terms), and the payload (product id, a 60-character title, a 300-character
text, its hash); the dense variants carry a 384-float vector (MiniLM) instead of the SPLADE one. The vectors
are random (storage does not depend on what they mean). Each collection is built once, then opened in a fresh
process that answers 200 queries; its peak resident memory above an idle interpreter with the same libraries
is the serving memory (resident memory after the queries, less before opening). Each is measured at N/2 and N
points, and the growth between them is scaled to a million, so fixed costs (preallocated WAL and segment
files, the engine itself) cancel out. Sparse variants at N = 1,000,000; dense ones, with --dense, at N = 50,000 (the HNSW
graph of a million dense points takes hours on 2 cores). Needs no data set.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "sparse, in RAM (default)": ("sparse", {}),
    "sparse, index and payload on disk": ("sparse", {"sparse_on_disk": True, "payload_on_disk": True}),
    "dense float32": ("dense", {"payload_on_disk": True}),
    "dense float16": ("dense", {"payload_on_disk": True, "dense_datatype": "float16"}),
    "dense uint8": ("dense", {"payload_on_disk": True, "dense_datatype": "uint8"}),
}
DENSE_POINTS = 50_000  # Qdrant's HNSW graph for a million dense points takes hours on 2 cores: measured at this
# size and scaled to a million (vectors and payloads grow linearly; the graph's links add ~m * 8 bytes a point)


def sparse_rows(rng, n: int, nnz: int, dim: int) -> sp.csr_matrix:
    cols = rng.integers(0, dim, size=(n, nnz))
    vals = rng.random((n, nnz)).astype(np.float32) + 0.01
    indptr = np.arange(0, n * nnz + 1, nnz)
    m = sp.csr_matrix((vals.ravel(), cols.ravel(), indptr), shape=(n, dim))
    m.sum_duplicates()
    return m


def size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def build(folder: Path, name: str, kind: str, storage: dict, points: int) -> tuple[float, int]:
    """Seconds to build, and the bytes of the empty collection."""
    from searchtune.index import EdgeIndex
    from searchtune.progress import bar

    layout = {"bm25": {"kind": "sparse", "idf": True}}
    layout["sparse_tuned" if kind == "sparse" else "dense_tuned"] = (
        {"kind": "sparse"} if kind == "sparse" else {"kind": "dense", "size": 384})
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    with EdgeIndex(name, folder, vectors=layout, storage=storage, batch_size=1024) as ix:
        ix.create(recreate=True, metadata={"complete": False})
        ix.close()
        empty = size(folder / name)
        with bar(f"building {name}", points, True) as advance:
            for start in range(0, points, 20_000):
                n = min(20_000, points - start)
                ids = [f"p{start + i}" for i in range(n)]
                vectors = {"bm25": sparse_rows(rng, n, 8, 30_522)}
                if kind == "sparse":
                    vectors["sparse_tuned"] = sparse_rows(rng, n, 50, 30_522)
                else:
                    vectors["dense_tuned"] = rng.standard_normal((n, 384)).astype(np.float32)
                payloads = [{"product_id": p, "title": "t" * 60, "text": "x" * 300, "hash": "0" * 16} for p in ids]
                ix.upsert(ids, vectors, payloads)
                advance(n)
        ix.optimize()
        ix.create(metadata={"complete": True, "points": points})
    return time.perf_counter() - started, empty


SERVE = """
import json, sys, numpy as np, scipy.sparse as sp
from searchtune.index import EdgeIndex
def rss():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS:")) / 1024
folder, name, kind, queries = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
base = rss()
rng = np.random.default_rng(1)
with EdgeIndex(name, folder) as ix:
    using = "sparse_tuned" if kind == "sparse" else "dense_tuned"
    for _ in range(queries):
        q = (sp.csr_matrix((rng.random(12).astype(np.float32), rng.integers(0, 30522, 12), [0, 12]), shape=(1, 30522))
             if kind == "sparse" else rng.standard_normal((1, 384)).astype(np.float32))
        ix.query({using: q}, [using], limit=10)
    print(json.dumps({"idle_mb": base, "serving_mb": rss()}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/storage"))
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--dense", action="store_true", help="Also the dense variants (at 50,000 points: noisy)")
    args = ap.parse_args()
    from searchtune.evaluation.report import machine

    rows = []
    for i, (label, (kind, storage)) in enumerate(VARIANTS.items()):
        if kind == "dense" and not args.dense:
            continue
        full = args.points if kind == "sparse" else min(args.points, DENSE_POINTS)
        measured = {}
        for points in (full // 2, full):  # per million = the growth from half to all: fixed costs cancel out
            name = f"v{i}-{points}"
            built, empty = build(args.out, name, kind, storage, points)
            done = subprocess.run([sys.executable, "-c", SERVE, str(args.out), name, kind, "200"],
                                  capture_output=True, text=True, check=True)
            mem = json.loads(done.stdout.strip().splitlines()[-1])
            measured[points] = (built, size(args.out / name), mem["serving_mb"] - mem["idle_mb"])
            shutil.rmtree(args.out / name)
            (args.out / f"{name}.json").unlink()
        (_, disk0, mem0), (built, disk1, mem1) = measured[full // 2], measured[full]
        per_million = 1_000_000 / (full - full // 2)
        rows.append({"storage": label, "settings": storage, "points": full, "build_s": round(built, 1),
                     "disk_gb_per_million": round((disk1 - disk0) * per_million / 1e9, 2),
                     "serving_mb_per_million": round((mem1 - mem0) * per_million)})
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{machine()}\n")
    print("| storage | settings | points built | build | disk per million | serving memory per million |\n"
          "|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['storage']} | `{json.dumps(r['settings'])}` | {r['points']:,} | {r['build_s']:.0f} s | "
              f"{r['disk_gb_per_million']} GB | {r['serving_mb_per_million']:,} MB |")


if __name__ == "__main__":
    main()
