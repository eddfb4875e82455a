"""SPLADE document encoding: sentence-transformers' default against searchtune's fast path, side by side.

    python bench/encode_speed.py [--docs 3000] [--queries 300] [--precision auto]

On Home Depot titles (HD_DIR or ../shared/data/homedepot): documents/s of ``SparseEncoder.encode_document``
with its defaults (batch 32) and of ``searchtune.encode.encode_sparse`` (batch 128), each timed after one
warm-up batch, then the top-10 agreement of the two encodings: each query (encoded by each path) ranks the
documents by dot product, and the share of top-10 positions holding the same document is reported.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp


def to_csr(tensor) -> sp.csr_matrix:
    t = tensor.coalesce()
    rows, cols = t.indices().numpy()
    m = sp.csr_matrix((t.values().float().numpy(), (rows, cols)), shape=t.shape)
    m.eliminate_zeros()
    return m


def top10(queries: sp.csr_matrix, docs: sp.csr_matrix) -> np.ndarray:
    scores = (queries @ docs.T).toarray()
    return np.argsort(-scores, axis=1, kind="stable")[:, :10]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=3000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--precision", default="auto")
    args = ap.parse_args()
    import torch

    from searchtune.encode import encode_sparse
    from searchtune.models import load_encoder
    from searchtune.precision import autocast, resolve
    from searchtune.report import machine

    hd = Path(os.environ.get("HD_DIR", "../shared/data/homedepot"))
    train = pd.read_csv(hd / "train.csv", encoding="latin-1")
    titles = train["product_title"].drop_duplicates().head(args.docs).tolist()
    queries = train["search_term"].drop_duplicates().head(args.queries).tolist()
    model = load_encoder("splade-tiny")
    precision = resolve(args.precision, "cpu")

    def st(texts, batch_size=32):
        with autocast(model, args.precision), torch.inference_mode():
            return to_csr(model.encode_document(texts, batch_size=batch_size, convert_to_tensor=True,
                                                convert_to_sparse_tensor=True))

    st(titles[:32])
    encode_sparse(model, titles[:128], precision=args.precision)
    t = time.perf_counter()
    ref = st(titles)
    st_rate = len(titles) / (time.perf_counter() - t)
    t = time.perf_counter()
    fast = encode_sparse(model, titles, precision=args.precision)
    fast_rate = len(titles) / (time.perf_counter() - t)
    agree = float(np.mean(top10(st(queries), ref) == top10(encode_sparse(model, queries, kind="query",
                                                                         precision=args.precision), fast)))
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    print(f"{len(titles):,} Home Depot titles, {precision}: sentence-transformers encode_document (batch 32) "
          f"{st_rate:.0f} docs/s; searchtune encode_sparse (batch 128) {fast_rate:.0f} docs/s "
          f"({fast_rate / st_rate:.2f}x); top-10 agreement over {len(queries)} queries {agree:.1%}")
    print(f"machine: {cpu}; {machine()}")


if __name__ == "__main__":
    main()
