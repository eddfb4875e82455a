"""A model swap while `searchtune serve` answers 8 concurrent clients: failed queries and latency around it.

The SPLADE + BM25 system on Home Depot's collection that `bench/serve.py` builds (run that first) is served;
8 closed-loop clients query it throughout. Meanwhile `searchtune.versions.publish` builds a new version of the
collection with another text recipe (32 tokens a product instead of 48: a full index of 54,667 products on
the same 2 cores), moves the alias, and the server follows. Then the alias is rolled back and the new
version deleted, leaving the collection as it was.

    .venv/bin/python bench/swap.py --out runs/serve
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def percentiles(ms: list[float]) -> dict:
    ms = sorted(ms)

    def pct(p):
        return round(ms[min(len(ms) - 1, int(p * (len(ms) - 1)))], 1) if ms else None

    return {"queries": len(ms), "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": round(ms[-1], 1) if ms else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/serve"))
    ap.add_argument("--clients", type=int, default=8)
    args = ap.parse_args()
    from hd import load
    from serve import closed_loop, start

    from searchtune.config import IndexConfig
    from searchtune.data import SearchData
    from searchtune.evaluation.report import machine
    from searchtune.index import collection as col
    from searchtune.index import open_index
    from searchtune.system import System
    from searchtune.versions import prune, publish, rollback

    d, split = load()
    queries = [d.queries[q] for q in split.test]
    qdrant = args.out / "qdrant"
    system = System(vectors=("sparse_tuned", "bm25"), models={"sparse_tuned": "splade-tiny"}, collection="splade",
                    data_dir=str(qdrant), max_length=48, label="SPLADE + BM25 (RRF)")
    path = args.out / "systems" / "swap.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    system.save(path)

    def opened(name, resolve=True):
        return open_index(name, IndexConfig(data_dir=str(qdrant)), resolve=resolve)

    proc, port = start(path, args.out)
    log, stop = [], threading.Event()  # (sent at, seconds, ok)

    def client(i: int) -> None:
        closed_loop(port, queries, i, args.clients, lambda: not stop.is_set(),
                    lambda t, took, ok: log.append((t, took, ok)))  # list.append is atomic under the GIL

    def version() -> str:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request("GET", "/info")
        return json.loads(c.getresponse().read())["collection"]["version"]

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(args.clients)]
    try:
        for t in threads:
            t.start()
        time.sleep(10)
        build_started = time.perf_counter()
        new = publish(opened, "splade", SearchData(d.products), col.Models(sparse_tuned="splade-tiny", max_length=32),
                      progress=False)
        moved = time.perf_counter()
        while version() != new.live:
            time.sleep(0.01)
        followed = time.perf_counter()
        time.sleep(10)
        stop.set()
        for t in threads:
            t.join()
    finally:
        proc.terminate()
        proc.wait(30)
    rollback(opened, "splade")
    prune(opened, "splade", keep=0)  # the collection as it was: the new version deleted
    phases = {"before (10 s)": (0, build_started), "while the new version builds": (build_started, moved),
              "the swap: from the move until 2 s after the server followed": (moved, followed + 2),
              "after": (followed + 2, float("inf"))}
    result = {"machine": machine(), "clients": args.clients, "build_seconds": round(moved - build_started, 1),
              "follow_seconds": round(followed - moved, 2), "failed": sum(1 for _, _, ok in log if not ok),
              "queries": len(log),
              "phases": {name: percentiles([s * 1000 for t, s, ok in log if ok and lo <= t < hi])
                         for name, (lo, hi) in phases.items()}}
    print(json.dumps(result, indent=1))
    (args.out / "swap.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
