"""Home Depot: how sparse a model's vectors are (active terms per dev query and per product title).

Usage:
  .venv/bin/python bench/active_terms.py MODEL [MODEL...] [--titles 500] [--queries 300] [--max-len 48]

A seeded sample of titles and dev queries is encoded with each model (the same samples for every model) and
the non-zero weights of each vector are counted; the mean per query and per title is printed.
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import hd  # noqa: E402

from searchtune.models import load_sparse_encoder, resolve_model  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--titles", type=int, default=500)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--max-len", type=int, default=48)
    a = p.parse_args()
    import torch

    d, s = hd.load()
    rng = random.Random(0)
    titles = rng.sample(list(d.products["text"]), a.titles)
    queries = [d.queries[q] for q in rng.sample(sorted(s.dev), a.queries)]
    for path in a.models:
        model = load_sparse_encoder(resolve_model(path))
        model.max_seq_length = a.max_len
        with torch.inference_mode():
            q = model.encode_query(queries, convert_to_tensor=True).to_dense()
            t = model.encode_document(titles, convert_to_tensor=True).to_dense()
        print(f"{path}: {(q > 0).sum(1).float().mean():.1f} terms a query, {(t > 0).sum(1).float().mean():.1f} a title")


if __name__ == "__main__":
    main()
