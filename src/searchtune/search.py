"""Encode → index → search: the steps shared by `index`, `search`, `evaluate` and the pipeline."""

from __future__ import annotations

import logging
import time

import pandas as pd

from .encode import encode_sparse
from .index import Hit, SparseIndex

logger = logging.getLogger(__name__)


def index_products(model, products: pd.DataFrame, index: SparseIndex, *, batch_size: int = 128,
                   chunk_size: int = 4096, progress: bool = True, metadata: dict | None = None,
                   recreate: bool = True, precision: str = "auto") -> dict:
    """Encode every product with ``model`` and upsert it into ``index``; return timings.

    Products are encoded and upserted a chunk at a time so memory stays flat on
    large catalogs. Payload: product_id, title, brand.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    index.create(recreate=recreate, metadata=metadata)
    ids = products["product_id"].tolist()
    texts = products["text"].tolist()
    titles = products["title"].tolist()
    brands = products["brand"].tolist() if "brand" in products else [""] * len(ids)
    encode_s = upsert_s = 0.0
    with Progress(TextColumn("[bold]indexing {task.fields[name]}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), disable=not progress, transient=True) as bar:
        task = bar.add_task("index", total=len(ids), name=index.name)
        for start in range(0, len(ids), chunk_size):
            end = min(start + chunk_size, len(ids))
            t0 = time.perf_counter()
            vectors = encode_sparse(model, texts[start:end], kind="document", batch_size=batch_size,
                                    precision=precision)
            t1 = time.perf_counter()
            payloads = [{"product_id": ids[i], "title": titles[i], "brand": brands[i]} for i in range(start, end)]
            index.upsert(ids[start:end], vectors, payloads)
            t2 = time.perf_counter()
            encode_s += t1 - t0
            upsert_s += t2 - t1
            bar.advance(task, end - start)
    if hasattr(index, "optimize"):
        t0 = time.perf_counter()
        index.optimize()
        upsert_s += time.perf_counter() - t0
    return {
        "documents": len(ids),
        "encode_seconds": round(encode_s, 2),
        "upsert_seconds": round(upsert_s, 2),
        "documents_per_second": round(len(ids) / encode_s, 1) if encode_s else None,
    }


def search_queries(model, index: SparseIndex, queries: dict[str, str], *, k: int = 100, batch_size: int = 256,
                   exclude: dict[str, set[str]] | None = None, precision: str = "auto"
                   ) -> tuple[dict[str, list[Hit]], dict]:
    """Top-``k`` hits for every query (``{qid: [Hit, ...]}``) and timings."""
    qids = list(queries)
    t0 = time.perf_counter()
    vectors = encode_sparse(model, [queries[q] for q in qids], kind="query", batch_size=batch_size,
                           precision=precision)
    t1 = time.perf_counter()
    ex = [exclude.get(q, set()) for q in qids] if exclude else None
    hits = index.search(vectors, limit=k, exclude=ex)
    t2 = time.perf_counter()
    stats = {
        "queries": len(qids),
        "encode_seconds": round(t1 - t0, 3),
        "search_seconds": round(t2 - t1, 3),
        "queries_per_second": round(len(qids) / (t2 - t0), 1) if t2 > t0 else None,
        "search_queries_per_second": round(len(qids) / (t2 - t1), 1) if t2 > t1 else None,
    }
    return dict(zip(qids, hits)), stats


def hits_to_run(hits: dict[str, list[Hit]]) -> dict[str, dict[str, float]]:
    return {q: {h.product_id: h.score for h in hs} for q, hs in hits.items()}
