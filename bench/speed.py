"""SPLADE speed: sentence-transformers' default against searchtune's fast path, and single-query latency.

    python bench/speed.py [--docs 3000] [--queries 300] [--index-docs 20000] [--precision auto]

On Home Depot titles (HD_DIR or ../shared/data/homedepot), measured in one process:

1. documents/s of ``SparseEncoder.encode_document`` with its defaults (batch 32) and of
   ``searchtune.encode.encode_sparse`` (batch 128), each timed after one warm-up batch, then the top-10
   agreement of the two encodings: each query (encoded by each path) ranks the documents by dot product,
   and the share of top-10 positions holding the same document is reported;
2. single-query encode + search p50/p95 against a Qdrant Edge collection of ``--index-docs`` titles, for
   full SPLADE (splade-tiny, query columns pruned to the collection's), inference-free queries (the
   IDF-initialised token table of ``searchtune.inference_free``; its document side is splade-tiny's, so
   the same collection serves it) and BM25 (Qdrant's IDF modifier), plus batched query encoding with and
   without the column pruning.
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
    ap.add_argument("--index-docs", type=int, default=20000)
    ap.add_argument("--precision", default="auto")
    args = ap.parse_args()
    import torch

    from searchtune.encode import encode_sparse
    from searchtune.evaluation.report import machine
    from searchtune.models import load_encoder
    from searchtune.precision import autocast, resolve

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
    print(f"{len(titles):,} Home Depot titles, {precision}: sentence-transformers encode_document (batch 32) "
          f"{st_rate:.0f} docs/s; searchtune encode_sparse (batch 128) {fast_rate:.0f} docs/s "
          f"({fast_rate / st_rate:.2f}x); top-10 agreement over {len(queries)} queries {agree:.1%}")
    latency(model, train, queries, args)
    print(f"machine: {machine()}")


def latency(model, train, queries, args) -> None:
    import tempfile

    from searchtune.data import SearchData
    from searchtune.encode import encode
    from searchtune.index import EdgeIndex
    from searchtune.index import collection as col
    from searchtune.index.bm25_vectors import Bm25Embedder
    from searchtune.inference_free import make_inference_free

    products = train.drop_duplicates("product_uid").head(args.index_docs)
    data = SearchData(pd.DataFrame({"product_id": products["product_uid"].astype(str),
                                    "title": products["product_title"], "text": products["product_title"]}))
    table = make_inference_free(model, data.products["text"].tolist())
    with tempfile.TemporaryDirectory() as tmp, EdgeIndex("speed", Path(tmp)) as index:
        t = time.perf_counter()
        col.build(index, data, col.Models(sparse_base="splade-tiny"), bm25=True, loaded={"sparse_base": model},
                  precision=args.precision)
        print(f"indexed {len(data.product_ids):,} titles in {time.perf_counter() - t:.0f}s")
        columns = col.indexed_columns(index.metadata(), "sparse_base")
        print(f"the collection's products hold {len(columns):,} of {len(model.tokenizer):,} vocabulary columns")
        bm25 = Bm25Embedder.of(index.metadata())
        for name, enc in (("full", lambda q: encode(model, q, "query", precision=args.precision)),
                          ("full, pruned", lambda q: encode(model, q, "query", precision=args.precision,
                                                            columns=columns))):
            enc(queries[:64])
            t = time.perf_counter()
            enc(queries)
            print(f"batched query encoding, {name}: {len(queries) / (time.perf_counter() - t):.0f} queries/s")
        systems = {
            "SPLADE (full)": ("sparse_base", lambda q: encode(model, [q], "query", batch_size=1,
                                                              precision=args.precision, columns=columns)),
            "SPLADE (inference-free)": ("sparse_base", lambda q: encode(table, [q], "query")),
            "BM25": ("bm25", lambda q: bm25.embed([q], "query")),
        }
        for name, (vector, enc) in systems.items():
            times = []
            for q in [queries[0]] * 5 + queries:
                t0 = time.perf_counter()
                index.query({vector: enc(q)}, [vector], limit=10)
                times.append((time.perf_counter() - t0) * 1000)
            times = times[5:]
            print(f"single query, encode + search, {name}: p50 {np.percentile(times, 50):.2f} ms, "
                  f"p95 {np.percentile(times, 95):.2f} ms")


if __name__ == "__main__":
    main()
