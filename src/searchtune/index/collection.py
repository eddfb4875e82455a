"""One collection layout, one fingerprint, one way to build and one way to search.

A collection holds a named vector per model it was built with, and optionally BM25:

=================  ==========================================================
vector             what
=================  ==========================================================
``sparse_base``    the untuned SPLADE model (dot product)
``sparse_tuned``   a fine-tuned SPLADE model
``dense_base``     the untuned dense model (cosine)
``dense_tuned``    a fine-tuned dense model
``bm25``           BM25 term weights with Qdrant's IDF modifier
=================  ==========================================================

Its metadata records the fingerprint: the models, the tokens per text they were cut at (when set)
and a hash of the catalog's ids and texts (:attr:`SearchData.fingerprint`). :func:`build` reuses a complete collection whose fingerprint
matches and rebuilds anything else, so a changed catalog or model is never searched stale.
Every job — ``searchtune index``/``search``, the studio, the pipeline, mining rounds and
evaluation — goes through :func:`build` and :func:`search`.

A *system* is what a search fuses (Reciprocal Rank Fusion or DBSF, done by Qdrant):

=======================  ===============================================
system                   vectors
=======================  ===============================================
bm25-qdrant              ``bm25``
sparse-base/-tuned       ``sparse_base`` / ``sparse_tuned``
dense-base/-tuned        ``dense_base`` / ``dense_tuned``
hybrid-base              sparse_base + dense_base
hybrid-tuned             sparse_tuned + dense_base
hybrid-tuned-both        sparse_tuned + dense_tuned
hybrid-tuned-bm25        sparse_tuned + bm25
hybrid-dense-bm25        dense_tuned + bm25
=======================  ===============================================
"""

from __future__ import annotations

import base64
import contextlib
import logging
import time
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from ..data import full_texts
from ..errors import SearchtuneError
from ..progress import bar
from .base import Hit, Index, check_vectors

if TYPE_CHECKING:
    from ..data import SearchData

logger = logging.getLogger(__name__)

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
    "hybrid-dense-bm25": ["dense_tuned", "bm25"],
}
MODES = ("sparse", "dense", "hybrid", "bm25")
VECTOR_FIELDS = ("sparse_base", "sparse_tuned", "dense_base", "dense_tuned")


@dataclass(frozen=True)
class Models:
    """Model references per vector name (None: not in this collection)."""

    sparse_base: str | None = None
    sparse_tuned: str | None = None
    dense_base: str | None = None
    dense_tuned: str | None = None
    max_length: int | None = None  # tokens per text for every model (None: each model's own max_seq_length)

    def named(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in VECTOR_FIELDS and getattr(self, f.name)}

    @classmethod
    def single(cls, ref: str, role: str = "base", max_length: int | None = None, kind: str | None = None) -> Models:
        """A collection of one model, its vector named by the model's kind (sparse/dense; ``kind`` for a model
        that does not say, see :func:`searchtune.models.model_kind`) and ``role``."""
        from ..models import model_kind

        return cls(**{f"{model_kind(ref, declared=kind)}_{role}": str(ref)}, max_length=max_length)

    def mode_system(self, mode: str) -> str:
        """The system ``searchtune search --mode`` runs: the tuned model where the collection holds one."""
        if mode not in MODES:
            raise SearchtuneError(f"mode must be one of {', '.join(MODES)}, not '{mode}'")
        if mode == "bm25":
            return "bm25-qdrant"
        sparse = "tuned" if self.sparse_tuned else "base"
        dense = "tuned" if self.dense_tuned else "base"
        if mode == "sparse":
            return f"sparse-{sparse}"
        if mode == "dense":
            return f"dense-{dense}"
        if sparse == "tuned" and dense == "tuned":
            return "hybrid-tuned-both"
        return "hybrid-tuned" if sparse == "tuned" else "hybrid-base"


def fingerprint(data: SearchData, models: Models, bm25: bool, storage: dict | None = None) -> dict:
    signature = {"models": models.named(), "catalog": data.fingerprint, "bm25": bm25}
    if models.max_length:  # the same model cut at another length gives other vectors
        signature["max_length"] = models.max_length
    if storage:  # another way of storing the points (searchtune.index.base.storage_options): another build
        signature["storage"] = storage
    if bm25 and data.language != "english":  # other stop words and stems: other BM25 vectors
        signature["language"] = data.language
    return signature


def searchable(index: Index) -> dict:
    """A collection's metadata, when it exists and its indexing finished; else a clear error (a collection cut
    off while indexing holds only part of the catalog, and searching it would silently miss the rest)."""
    if not index.exists():
        raise SearchtuneError(f"collection '{index.name}' not found; create it with `searchtune index "
                              f"--data CATALOG --collection {index.name}`")
    meta = index.metadata()
    if not meta.get("complete"):
        raise SearchtuneError(f"collection '{index.name}' was cut off while indexing ({index.count():,} points so "
                              f"far): index it again with `searchtune index --collection {index.name}` (or rerun the "
                              "run with --resume) before searching it")
    return meta


def stored_models(index: Index) -> Models:
    """The models a finished collection was built with (from its fingerprint), or a clear error."""
    stored = searchable(index).get("fingerprint") or {}
    if not stored.get("models"):
        raise SearchtuneError(f"collection '{index.name}' was built by an older searchtune or is incomplete; "
                              "build it again with `searchtune index`")
    return Models(**stored["models"], max_length=stored.get("max_length"))


def _load_all(models: Models, names, loaded: dict | None) -> dict:
    """The models ``names`` of ``models`` by vector name, cut at ``models.max_length``; ``loaded`` (filled in
    place) keeps them across calls."""
    from ..models import load_encoder

    named = models.named()
    loaded = {} if loaded is None else loaded
    for name in names:
        if name not in loaded:
            loaded[name] = load_encoder(named[name], kind=name.split("_")[0])
        if models.max_length:
            loaded[name].max_seq_length = models.max_length
    return {name: loaded[name] for name in names}


def text_hash(text: str) -> str:
    """What a point's payload keeps of its product's text (every field whole, :func:`full_texts`, so a change
    only BM25 reads counts too): a reindex re-encodes only products whose text changed."""
    import hashlib

    return hashlib.sha1(text.encode()).hexdigest()[:16]


def write_products(index: Index, products, encoders: dict, embedder, used: dict, seconds: dict, *,
                   batch_size: int = 128, precision: str = "auto", chunk_size: int = 4096, progress: bool = True,
                   what: str | None = None, pool=None) -> None:
    """Encode ``products`` (a frame: product_id, title, text, maybe brand and category) with every encoder (and
    BM25 with ``embedder``) and upsert them a chunk at a time, so memory stays flat on large catalogs; ``used``
    (filled): the vocabulary columns sparse vectors hold, ``seconds`` (added to): encoding time per vector.
    ``pool`` (:class:`~.encode_pool.EncodePool`): the chunks are encoded there, in several processes."""
    from .encode_pool import encode_all

    # Column lists a chunk at a time: a whole catalog's texts as Python strings is gigabytes at a million products
    starts = range(0, len(products), chunk_size)
    chunks = (products["text"].iloc[start:start + chunk_size].tolist() for start in starts)
    encoded = (pool.map(chunks, batch_size=batch_size, precision=precision) if pool is not None else
               (encode_all(encoders, chunk, batch_size, precision) for chunk in chunks))
    with bar(what or f"indexing {index.name}", len(products), progress) as advance:
        for start, (vectors, took) in zip(starts, encoded):
            rows = products.iloc[start:start + chunk_size]
            ids, texts, titles = (rows[c].tolist() for c in ("product_id", "text", "title"))
            fulls = full_texts(rows)
            brands = rows["brand"].fillna("").tolist() if "brand" in rows else [""] * len(ids)
            categories = rows["category"].fillna("").tolist() if "category" in rows else [""] * len(ids)
            for name, spent in took.items():
                seconds[name] += spent
                if name in used:
                    used[name][vectors[name].indices] = True
            if embedder is not None:
                t = time.perf_counter()
                vectors["bm25"] = embedder.embed(fulls, "document")
                seconds["bm25"] += time.perf_counter() - t
            payloads = [{"product_id": ids[i], "title": titles[i], "brand": brands[i], "text": texts[i],
                         "hash": text_hash(fulls[i]), **({"category": categories[i]} if categories[i] else {})}
                        for i in range(len(ids))]
            index.upsert(ids, vectors, payloads)
            advance(len(ids))


def build(index: Index, data: SearchData, models: Models, *, bm25: bool = False, batch_size: int = 128,
          precision: str = "auto", chunk_size: int = 4096, progress: bool = True, loaded: dict | None = None,
          processes: int = 1) -> dict:
    """Index the catalog with every model (and BM25 when asked) into ``index``, unless it already holds
    exactly this catalog and these models; return the indexing stats (``reused`` says which).

    ``loaded``: model objects already in memory, by vector name. Products are encoded and upserted a chunk at
    a time, so memory stays flat on large catalogs; ``processes`` above 1 encode them in that many processes
    (:mod:`.encode_pool`). Payload: product_id, title, brand, and the product text a reranker reads
    (:mod:`searchtune.rerank`).
    """
    from ..encode import embedding_dim
    from .bm25_vectors import AVG_LEN_SAMPLE, Bm25Embedder

    signature = fingerprint(data, models, bm25, index.storage)
    meta = index.metadata() if index.exists() else {}
    if meta.get("complete") and meta.get("fingerprint") == signature:
        logger.debug("collection %s is up to date; not re-indexing", index.name)
        return {**meta.get("index_stats", {}), "reused": True}
    ids = data.product_ids
    encoders = _load_all(models, models.named(), loaded)
    layout = {name: {"kind": "dense", "size": embedding_dim(m)} if name.startswith("dense") else {"kind": "sparse"}
              for name, m in encoders.items()}
    extra = {}
    if bm25:
        layout["bm25"] = {"kind": "sparse", "idf": True}
        sample = data.products.iloc[:AVG_LEN_SAMPLE]  # only these are read: not the whole catalog's texts
        embedder = Bm25Embedder.for_corpus(full_texts(sample), data.language)
        extra["bm25_avg_len"], extra["bm25_language"] = embedder.avg_len, embedder.language
        extra["bm25_fields"] = data.source.get("bm25_fields", "every field")  # a reindex reads the catalog the same way
    index.vector_layout = check_vectors(layout)
    index.create(recreate=True, metadata={"complete": False, "fingerprint": signature, **extra})
    seconds = dict.fromkeys(layout, 0.0)
    used = {name: np.zeros(embedding_dim(m), dtype=bool) for name, m in encoders.items() if name.startswith("sparse")}
    started = time.perf_counter()
    with encode_pool(models, processes, len(ids), chunk_size) as pool:
        write_products(index, data.products, encoders, embedder if bm25 else None, used, seconds,
                       batch_size=batch_size, precision=precision, chunk_size=chunk_size, progress=progress, pool=pool)
    if hasattr(index, "optimize"):
        index.optimize()
    stats = {"documents": len(ids), "seconds": round(time.perf_counter() - started, 1),
             "encode_seconds": {k: round(v, 1) for k, v in seconds.items()},
             "documents_per_second": {k: round(len(ids) / v, 1) for k, v in seconds.items() if v}}
    columns = {name: base64.b64encode(np.packbits(mask)).decode() for name, mask in used.items()}
    index.create(metadata={"complete": True, "index_stats": stats, "points": len(ids), "columns": columns})
    return {**stats, "reused": False}


@contextlib.contextmanager
def encode_pool(models: Models, processes: int, products: int, chunk_size: int):
    """An :class:`~.encode_pool.EncodePool` of ``processes`` for ``models`` when that many would each get a chunk
    of the ``products``, else None (encoding stays in this process)."""
    if processes <= 1 or products <= chunk_size or not models.named():
        yield None
        return
    from .encode_pool import EncodePool

    with EncodePool(models.named(), processes, max_length=models.max_length) as pool:
        yield pool


def indexed_columns(meta: dict, name: str) -> np.ndarray | None:
    """The vocabulary ids some product of the collection holds in sparse vector ``name`` (None: unknown)."""
    packed = (meta.get("columns") or {}).get(name)
    if packed is None:
        return None
    bits = np.unpackbits(np.frombuffer(base64.b64decode(packed), dtype=np.uint8))
    return np.flatnonzero(bits)


def query_vectors(index: Index, models: Models, texts: list[str], names, *, batch_size: int = 256,
                  precision: str = "auto", loaded: dict | None = None) -> tuple[dict, dict[str, float]]:
    """The query-side vectors ``names`` of ``texts``, and the seconds each took to encode."""
    from ..encode import encode
    from .bm25_vectors import Bm25Embedder

    named = models.named()
    missing = [n for n in names if n != "bm25" and n not in named]
    if missing:
        raise SearchtuneError(f"collection '{index.name}' has no {', '.join(m.replace('_', ' ') for m in missing)} "
                              f"model (it holds {', '.join(named) or 'none'}); index it with that model, e.g. "
                              "`searchtune index --dense-model minilm` for the dense and hybrid modes")
    encoders = _load_all(models, [n for n in names if n != "bm25"], loaded)
    meta = index.metadata()
    vectors, seconds = {}, {}
    for name in names:
        t = time.perf_counter()
        if name == "bm25":
            vectors[name] = Bm25Embedder.of(meta).embed(texts, "query")
        else:
            vectors[name] = encode(encoders[name], texts, "query", batch_size=batch_size, precision=precision,
                                   columns=indexed_columns(meta, name))
        seconds[name] = time.perf_counter() - t
    return vectors, seconds


def search(index: Index, models: Models, texts: list[str], system: str, *, k: int = 10, fusion: str = "rrf",
           weights: list[float] | None = None, exclude: list[set[str]] | None = None, prefetch_limit: int = 100,
           batch_size: int = 256, precision: str = "auto", loaded: dict | None = None,
           vectors: dict | None = None, where: list[dict[str, str] | None] | None = None) -> list[list[Hit]]:
    """The top-``k`` hits (with payloads) of one system for each text; ``exclude`` filters product ids per
    text inside Qdrant, ``where`` payload values per text (``{"brand": "DeWalt"}``: exact match). ``vectors``:
    the texts' query vectors when already encoded (:func:`query_vectors`), e.g. once for several systems."""
    if system not in SYSTEM_VECTORS:
        raise SearchtuneError(f"unknown system '{system}'; known: {', '.join(SYSTEM_VECTORS)}")
    using = SYSTEM_VECTORS[system]
    index.check_query(using, fusion)  # before encoding: a vector the collection lacks is a clear error
    if vectors is None or any(u not in vectors for u in using):
        vectors, _ = query_vectors(index, models, texts, using, batch_size=batch_size, precision=precision,
                                   loaded=loaded)
    return index.query(vectors, using, limit=k, fusion=fusion, weights=weights, exclude=exclude,
                       prefetch_limit=prefetch_limit, where=where)


def available_systems(models: Models, bm25: bool) -> list[str]:
    named = models.named()
    return [s for s, vecs in SYSTEM_VECTORS.items() if all((v == "bm25" and bm25) or v in named for v in vecs)]
