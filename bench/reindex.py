"""Reindexing a changed catalog against indexing it whole: Home Depot's 54,667 products, 1% of them changed,
0.5% removed, 0.5% added, in the SPLADE + BM25 collection `bench/serve.py` builds (run that first).

    .venv/bin/python bench/reindex.py --out runs/serve
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/serve"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import pandas as pd
    from hd import load

    from searchtune.data import SearchData
    from searchtune.index import EdgeIndex
    from searchtune.index.reindex import plan, reindex

    d, _ = load()
    products = d.products.copy()
    rng = random.Random(args.seed)
    ids = list(products["product_id"])
    n = len(ids)
    changed = set(rng.sample(ids, n // 100))
    removed = set(rng.sample([p for p in ids if p not in changed], n // 200))
    products.loc[products["product_id"].isin(changed), "text"] += " (new version)"
    products = products[~products["product_id"].isin(removed)]
    added = pd.DataFrame({"product_id": [f"added-{i}" for i in range(n // 200)],
                          "title": [f"Added product {i}" for i in range(n // 200)],
                          "text": [rng.choice(ids) + " new arrival" for _ in range(n // 200)]})
    after = SearchData(pd.concat([products, added], ignore_index=True))
    with EdgeIndex("splade", args.out / "qdrant") as ix:
        reindex(ix, SearchData(d.products), progress=False)  # back to the catalog the collection was built from
        full = ix.metadata()["index_stats"]["seconds"]
        t = time.perf_counter()
        todo = plan(ix, after)
        plan_s = time.perf_counter() - t
        done = reindex(ix, after, progress=False)
        again = plan(ix, after)
    result = {"products": n, "plan": todo.to_dict(), "plan_seconds": round(plan_s, 1), "reindex": done,
              "full_index_seconds": full, "share_of_full": round(done["seconds"] / full, 4),
              "rerun_finds": again.to_dict()}
    print(json.dumps(result, indent=1))
    (args.out / "reindex.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
