"""Evaluate systems — BM25 baselines and SPLADE models searched through Qdrant — on held-out queries."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from .bm25 import BM25Baseline
from .config import EvalConfig
from .data import SearchData
from .index import SparseIndex
from .metrics import evaluate_run
from .models import load_sparse_encoder
from .search import hits_to_run, index_products, search_queries

logger = logging.getLogger(__name__)


@dataclass
class SystemRun:
    """One system's ranking of the evaluation queries, with its metrics and timings."""

    name: str
    run: dict[str, dict[str, float]]
    metrics: dict[str, float] = field(default_factory=dict)
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    source: str = ""  # what produced the run (model and catalog); a cached run is reused only if it matches

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"name": self.name, "source": self.source, "run": self.run, "timings": self.timings}))

    @classmethod
    def load(cls, path: Path) -> SystemRun:
        raw = json.loads(path.read_text())
        return cls(raw["name"], raw["run"], timings=raw.get("timings", {}), source=raw.get("source", ""))


def bm25_index(data: SearchData, *, stem: bool) -> BM25Baseline:
    return BM25Baseline(stem=stem).index(data.product_ids, data.products["text"].tolist())


def bm25_run(bm25: BM25Baseline, queries: dict[str, str], *, k: int) -> SystemRun:
    t0 = time.perf_counter()
    run = bm25.search(queries, k=k)
    seconds = time.perf_counter() - t0
    return SystemRun(bm25.name, run, timings={"search_seconds": round(seconds, 3),
                                              "queries_per_second": round(len(queries) / seconds, 1) if seconds else None})


def ensure_index(model, model_ref: str, data: SearchData, index: SparseIndex, *, batch_size: int,
                 progress: bool, catalog_key: str, precision: str = "auto") -> dict:
    """Index the catalog with ``model`` unless ``index`` already holds exactly this model and catalog."""
    meta = index.metadata() if index.exists() else {}
    if meta.get("model") == model_ref and meta.get("catalog") == catalog_key and meta.get("complete"):
        logger.info("collection %s is up to date; not re-indexing", index.name)
        return meta.get("index_stats", {})
    stats = index_products(model, data.products, index, batch_size=batch_size, progress=progress,
                           precision=precision, metadata={"model": model_ref, "catalog": catalog_key, "complete": False})
    index.create(metadata={"complete": True, "index_stats": stats, "points": len(data.products)})
    return stats


def dense_run(name: str, model_ref: str, data: SearchData, queries: dict[str, str], index: SparseIndex, *,
              k: int, config: EvalConfig, progress: bool, catalog_key: str, model=None) -> SystemRun:
    """Like :func:`model_run` for a dense model: a collection with one cosine vector ``dense``."""
    from .models import load_dense_encoder
    from .systems import Models, build_collection, run_systems

    model = model or load_dense_encoder(model_ref)
    models = Models(sparse_base=None, dense_base=model_ref)
    stats = build_collection(index, data, models, batch_size=config.encode_batch_size, precision=config.precision,
                             progress=progress, catalog_key=catalog_key)
    run = run_systems(index, data, queries, models, k=k, systems=["dense-base"], batch_size=config.search_batch_size,
                      precision=config.precision)["dense-base"]
    run.name = name
    run.timings = {"index": stats, "search": run.timings}
    return run


def model_run(name: str, model_ref: str, data: SearchData, queries: dict[str, str], index: SparseIndex, *,
              k: int, config: EvalConfig, progress: bool, catalog_key: str, model=None) -> SystemRun:
    from .models import model_kind

    if model_kind(model_ref) == "dense":
        return dense_run(name, model_ref, data, queries, index, k=k, config=config, progress=progress,
                         catalog_key=catalog_key, model=model)
    model = model or load_sparse_encoder(model_ref)
    index_stats = ensure_index(model, model_ref, data, index, batch_size=config.encode_batch_size,
                               progress=progress, catalog_key=catalog_key, precision=config.precision)
    hits, stats = search_queries(model, index, queries, k=k, batch_size=config.search_batch_size,
                                 precision=config.precision)
    return SystemRun(name, hits_to_run(hits), timings={"index": index_stats, "search": stats})


def score(system: SystemRun, qrels: dict[str, dict[str, int]], ks) -> SystemRun:
    system.metrics, system.per_query = evaluate_run(qrels, system.run, ks, per_query=True)
    return system


