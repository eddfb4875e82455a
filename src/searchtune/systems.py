"""Compare sparse, dense, BM25 and hybrid systems from one Qdrant collection, with significance tests.

One collection holds a named vector per model — ``sparse_base``, ``sparse_tuned``
(SPLADE), ``dense_base``, ``dense_tuned`` (cosine) — and ``bm25`` (BM25 term
weights with Qdrant's IDF modifier), so every system, hybrids included, is a
query against the same points:

=======================  ===============================================
system                   query
=======================  ===============================================
bm25-qdrant              ``bm25``
sparse-base/-tuned       ``sparse_base`` / ``sparse_tuned``
dense-base/-tuned        ``dense_base`` / ``dense_tuned``
hybrid-base              prefetch sparse_base + dense_base, fused
hybrid-tuned             prefetch sparse_tuned + dense_base, fused
hybrid-tuned-both        prefetch sparse_tuned + dense_tuned, fused
hybrid-tuned-bm25        prefetch sparse_tuned + bm25, fused (no dense model needed)
=======================  ===============================================

Fusion is Reciprocal Rank Fusion (k=60; optional weights) or DBSF, done by
Qdrant. A system whose model was not given is left out. The bm25s baseline
(``bm25``) stays the protocol's reference and comes from :mod:`searchtune.bm25`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data import SearchData
from .errors import SearchtuneError
from .evaluate import SystemRun
from .index.base import check_vectors
from .search import hits_to_run

logger = logging.getLogger(__name__)


def _dim(model) -> int:
    from .dense import _dim as dim

    return dim(model)

SYSTEM_VECTORS = {
    "bm25-qdrant": ["bm25"],
    "sparse-base": ["sparse_base"],
    "sparse-tuned": ["sparse_tuned"],
    "dense-base": ["dense_base"],
    "dense-tuned": ["dense_tuned"],
    "hybrid-base": ["sparse_base", "dense_base"],
    "hybrid-tuned": ["sparse_tuned", "dense_base"],
    "hybrid-tuned-both": ["sparse_tuned", "dense_tuned"],
    "hybrid-tuned-bm25": ["sparse_tuned", "bm25"],
}


@dataclass
class Models:
    """Model references per vector name (None: not in this comparison)."""

    sparse_base: str | None = "splade-tiny"
    sparse_tuned: str | None = None
    dense_base: str | None = None
    dense_tuned: str | None = None
    extra: dict = field(default_factory=dict)

    def named(self) -> dict[str, str]:
        return {k: v for k, v in (("sparse_base", self.sparse_base), ("sparse_tuned", self.sparse_tuned),
                                  ("dense_base", self.dense_base), ("dense_tuned", self.dense_tuned)) if v}


def _load(kind: str, ref: str):
    from .models import load_dense_encoder, load_sparse_encoder

    return load_sparse_encoder(ref) if kind == "sparse" else load_dense_encoder(ref)


def _encode(kind: str, model, texts: list[str], side: str, *, batch_size: int, precision: str):
    from .dense import encode_dense
    from .encode import encode_sparse

    if kind == "sparse":
        return encode_sparse(model, texts, kind=side, batch_size=batch_size, precision=precision)
    return encode_dense(model, texts, kind=side, batch_size=batch_size, precision=precision)


def build_collection(index, data: SearchData, models: Models, *, batch_size: int = 128, precision: str = "auto",
                     chunk_size: int = 4096, progress: bool = True, catalog_key: str = "") -> dict:
    """Index the catalog once with every model (and BM25) into ``index``; reuse it when nothing changed."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from .dense import Bm25Embedder

    named = models.named()
    signature = {"models": named, "catalog": catalog_key}
    meta = index.metadata() if index.exists() else {}
    if meta.get("complete") and meta.get("signature") == signature:
        logger.info("collection %s is up to date; not re-indexing", index.name)
        return meta.get("index_stats", {})
    texts = data.products["text"].tolist()
    ids = data.product_ids
    loaded = {name: _load(name.split("_")[0], ref) for name, ref in named.items()}
    layout = {"bm25": {"kind": "sparse", "idf": True}}
    for name, model in loaded.items():
        if name.startswith("dense"):
            layout[name] = {"kind": "dense", "size": _dim(model)}
        else:
            layout[name] = {"kind": "sparse"}
    index.vector_layout = check_vectors(layout)
    bm25 = Bm25Embedder.for_corpus(texts)
    index.create(recreate=True, metadata={"complete": False, "signature": signature, "bm25_avg_len": bm25.avg_len})
    seconds = {name: 0.0 for name in [*loaded, "bm25"]}
    titles = data.products["title"].tolist()
    brands = data.products["brand"].tolist() if "brand" in data.products else [""] * len(ids)
    with Progress(TextColumn("[bold]indexing {task.fields[name]}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), disable=not progress, transient=True) as bar:
        task = bar.add_task("index", total=len(ids), name=index.name)
        for start in range(0, len(ids), chunk_size):
            end = min(start + chunk_size, len(ids))
            chunk = texts[start:end]
            vectors = {}
            for name, model in loaded.items():
                t = time.perf_counter()
                vectors[name] = _encode(name.split("_")[0], model, chunk, "document", batch_size=batch_size,
                                        precision=precision)
                seconds[name] += time.perf_counter() - t
            t = time.perf_counter()
            vectors["bm25"] = bm25.embed(chunk, "document")
            seconds["bm25"] += time.perf_counter() - t
            payloads = [{"product_id": ids[i], "title": titles[i], "brand": brands[i]} for i in range(start, end)]
            index.upsert(ids[start:end], vectors, payloads)
            bar.advance(task, end - start)
    if hasattr(index, "optimize"):
        index.optimize()
    stats = {"documents": len(ids), "encode_seconds": {k: round(v, 1) for k, v in seconds.items()},
             "documents_per_second": {k: round(len(ids) / v, 1) for k, v in seconds.items() if v}}
    index.create(metadata={"complete": True, "index_stats": stats, "points": len(ids)})
    return stats


def run_systems(index, data: SearchData, queries: dict[str, str], models: Models, *, k: int = 100,
                systems: list[str] | None = None, fusion: str = "rrf", weights: list[float] | None = None,
                prefetch_limit: int = 100, batch_size: int = 128, precision: str = "auto") -> dict[str, SystemRun]:
    """Every available system's ranking of ``queries`` from the collection ``build_collection`` made."""
    from .dense import Bm25Embedder

    named = models.named()
    available = [s for s, vecs in SYSTEM_VECTORS.items() if all(v == "bm25" or v in named for v in vecs)]
    wanted = [s for s in (systems or available) if s in available]
    unknown = [s for s in (systems or []) if s not in SYSTEM_VECTORS]
    if unknown:
        raise SearchtuneError(f"unknown system(s) {', '.join(unknown)}; known: {', '.join(SYSTEM_VECTORS)}")
    qids = list(queries)
    texts = [queries[q] for q in qids]
    needed = {v for s in wanted for v in SYSTEM_VECTORS[s]}
    q_vectors, encode_s = {}, {}
    for name in needed:
        t = time.perf_counter()
        if name == "bm25":
            q_vectors[name] = Bm25Embedder(index.metadata().get("bm25_avg_len", 256.0)).embed(texts, "query")
        else:
            kind = name.split("_")[0]
            q_vectors[name] = _encode(kind, _load(kind, named[name]), texts, "query", batch_size=batch_size,
                                      precision=precision)
        encode_s[name] = time.perf_counter() - t
    out = {}
    for system in wanted:
        using = SYSTEM_VECTORS[system]
        t = time.perf_counter()
        hits = index.query(q_vectors, using, limit=k, fusion=fusion, weights=weights, prefetch_limit=prefetch_limit)
        seconds = time.perf_counter() - t
        enc = sum(encode_s[u] for u in using)
        out[system] = SystemRun(system, hits_to_run(dict(zip(qids, hits))), timings={
            "search_seconds": round(seconds, 3), "encode_seconds": round(enc, 3),
            "queries_per_second": round(len(qids) / (seconds + enc), 1) if seconds + enc else None,
            "fusion": fusion if len(using) > 1 else None})
    return out


def search_system(index, models: Models, texts: list[str], system: str, *, k: int = 10, fusion: str = "rrf",
                  weights: list[float] | None = None, precision: str = "auto"):
    """Hits (with payloads) of one system for ``texts``: what `searchtune search --mode` shows."""
    from .dense import Bm25Embedder

    if system not in SYSTEM_VECTORS:
        raise SearchtuneError(f"unknown system '{system}'; known: {', '.join(SYSTEM_VECTORS)}")
    named = models.named()
    vecs = {}
    for u in SYSTEM_VECTORS[system]:
        if u == "bm25":
            vecs[u] = Bm25Embedder(index.metadata().get("bm25_avg_len", 256.0)).embed(texts, "query")
        elif u not in named:
            raise SearchtuneError(f"system {system} needs a {u.replace('_', ' ')} model")
        else:
            kind = u.split("_")[0]
            vecs[u] = _encode(kind, _load(kind, named[u]), texts, "query", batch_size=64, precision=precision)
    return index.query(vecs, SYSTEM_VECTORS[system], limit=k, fusion=fusion, weights=weights)


def significance(qrels: dict[str, dict[str, int]], systems: dict[str, SystemRun], *, against: list[str],
                 metric: str = "ndcg@10", max_p: float = 0.05, test: str = "student") -> dict:
    """Paired test (ranx ``compare``; Student's t by default) of every system against each of ``against``.

    Returns ``{system: {reference: {"p": p, "significant": bool, "delta": mean difference}}}``.
    """
    from ranx import Qrels, Run, compare

    names = [n for n in systems if systems[n].run]
    runs = []
    for n in names:
        full = {q: dict(systems[n].run.get(q, {})) or {"__no_result__": 0.0} for q in qrels}
        run = Run(full, name=n)
        runs.append(run)
    report = compare(Qrels(qrels), runs, metrics=[metric], max_p=max_p, stat_test=test, make_comparable=True)
    out: dict[str, dict] = {}
    for a in names:
        for b in against:
            if b not in names or a == b:
                continue
            cmp = report.comparisons[a, b][metric]
            p = float(cmp["p_value"] if isinstance(cmp, dict) else cmp)
            delta = float(np.mean(list(runs[names.index(a)].scores[metric].values()))
                          - np.mean(list(runs[names.index(b)].scores[metric].values())))
            out.setdefault(a, {})[b] = {"p": p, "significant": p < max_p, "delta": round(delta, 4)}
    return {"metric": metric, "test": test, "max_p": max_p, "results": out}


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
