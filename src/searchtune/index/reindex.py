"""Bring a collection up to date with a changed catalog, without rebuilding it.

Every point keeps a hash of its product text (payload ``hash``). A reindex reads the hashes a batch at a time,
encodes and upserts only the products that are new or whose text changed, and deletes the products that are
gone; the rest is not touched. The collection stays searchable throughout (each point is replaced whole), and
an interrupted reindex resumes by running again: the diff is taken anew and finds only what is left. A
collection built with other models, another text length or without BM25 is not a catalog change: that is a
new collection (``searchtune index``). Points indexed before hashes were kept count as changed once.

BM25 document vectors keep the collection's average product length (``bm25_avg_len``) from when it was
built, so a reindexed product is weighted like its neighbours; Qdrant computes the IDF from the collection
itself at query time.
"""

from __future__ import annotations

import base64
import logging
import time
from dataclasses import dataclass

import numpy as np

from ..data import full_texts
from ..data.catalog import without_attributes
from .base import Index
from .collection import (
    _load_all,
    encode_pool,
    fingerprint,
    searchable,
    stored_models,
    text_hash,
    write_products,
)

logger = logging.getLogger(__name__)


@dataclass
class Plan:
    """What a reindex will do: products to encode (new, changed), to delete, to leave; and how long."""

    new: list[str]
    changed: list[str]
    removed: list[str]
    unchanged: int
    seconds: float | None  # estimated from the collection's own indexing speed

    def to_dict(self) -> dict:
        return {"new": len(self.new), "changed": len(self.changed), "removed": len(self.removed),
                "unchanged": self.unchanged, "estimated_seconds": self.seconds}

    def line(self) -> str:
        eta = f", about {self.seconds:,.0f} s" if self.seconds is not None else ""
        return (f"{len(self.new):,} new, {len(self.changed):,} changed, {len(self.removed):,} removed, "
                f"{self.unchanged:,} unchanged{eta}")


def as_indexed(meta: dict, data):
    """``data`` with BM25 reading what the collection's BM25 read: in its language, and without the attributes
    when its run's dev chose so (:func:`searchtune.evaluation.bm25.choose_fields`)."""
    import dataclasses

    language = meta.get("bm25_language")
    if language and language != data.language:
        data = dataclasses.replace(data, language=language)
    if meta.get("bm25_fields") != "without attributes" or data.source.get("bm25_fields") == "without attributes":
        return data
    return dataclasses.replace(data, products=without_attributes(data.products),
                               source={**data.source, "bm25_fields": "without attributes"})


def plan(index: Index, data) -> Plan:
    """The diff between the collection and ``data``'s catalog (reads hashes only; changes nothing)."""
    meta = searchable(index)
    data = as_indexed(meta, data)
    stored = index.hashes()
    now = dict(zip(data.products["product_id"], (text_hash(t) for t in full_texts(data.products))))
    new = [p for p in now if p not in stored]
    changed = [p for p in now if p in stored and stored[p] != now[p]]
    removed = [p for p in stored if p not in now]
    speed = (meta.get("index_stats") or {}).get("documents_per_second") or {}
    per_doc = sum(1 / v for v in speed.values() if v) if speed else None
    seconds = round((len(new) + len(changed)) * per_doc, 1) if per_doc else None
    return Plan(new, changed, removed, len(now) - len(new) - len(changed), seconds)


def reindex(index: Index, data, *, batch_size: int = 128, precision: str = "auto", progress: bool = True,
            loaded: dict | None = None, chunk_size: int = 4096, processes: int = 1) -> dict:
    """Apply :func:`plan` to the collection: encode and upsert new and changed products (in ``processes``
    processes), delete removed ones, record the new catalog's fingerprint. Returns the plan's counts and the
    seconds it took."""
    meta = searchable(index)
    data = as_indexed(meta, data)
    models = stored_models(index)
    old = meta.get("fingerprint") or {}
    bm25 = bool(old.get("bm25"))
    todo = plan(index, data)
    started = time.perf_counter()
    if todo.new or todo.changed:
        from .bm25_vectors import Bm25Embedder

        encoders = _load_all(models, models.named(), loaded)
        used = {name: np.zeros(_vocabulary(m), dtype=bool) for name, m in encoders.items()
                if name.startswith("sparse")}
        seconds = dict.fromkeys([*encoders, *(["bm25"] if bm25 else [])], 0.0)
        wanted = set(todo.new) | set(todo.changed)
        rows = data.products[data.products["product_id"].isin(wanted)]
        embedder = Bm25Embedder.of(meta) if bm25 else None
        with encode_pool(models, processes, len(rows), chunk_size) as pool:
            write_products(index, rows, encoders, embedder, used, seconds, batch_size=batch_size,
                           precision=precision, chunk_size=chunk_size, progress=progress,
                           what=f"reindexing {index.name}", pool=pool)
        columns = dict(meta.get("columns") or {})
        for name, mask in used.items():  # the vocabulary the collection holds only grows by what was added
            if name in columns:
                before = np.unpackbits(np.frombuffer(base64.b64decode(columns[name]), dtype=np.uint8))[:len(mask)]
                mask = mask | before.astype(bool)
            columns[name] = base64.b64encode(np.packbits(mask)).decode()
        index.create(metadata={"columns": columns})
    if todo.removed:
        index.delete_points(todo.removed)
    # the collection's own models and storage: only the catalog changes
    signature = fingerprint(data, models, bm25, meta.get("storage"))
    index.create(metadata={"complete": True, "fingerprint": signature, "points": index.count()})
    out = {**todo.to_dict(), "seconds": round(time.perf_counter() - started, 1)}
    logger.info("reindexed %s: %s in %.1f s", index.name, todo.line(), out["seconds"])
    return out


def _vocabulary(model) -> int:
    from ..encode import embedding_dim

    return embedding_dim(model)
