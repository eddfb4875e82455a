"""The small interface every index backend implements, and what they share."""

from __future__ import annotations

import logging
import random
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import scipy.sparse as sp

logger = logging.getLogger(__name__)

DENSE_EXACT_MAX_POINTS = 200_000  # dense vectors: exact search up to this many points, HNSW above
DENSE_HNSW_EF = 512  # HNSW beam width for dense search above that size

FUSIONS = ("rrf", "dbsf")
_NAMESPACE = uuid.UUID("6f1d8f5e-3c0b-4b8e-9d52-7a0f0c6b2e11")
T = TypeVar("T")


def point_id(product_id: str) -> str:
    """Qdrant point id for a product: a UUID derived from its id, so re-indexing is idempotent."""
    return str(uuid.uuid5(_NAMESPACE, str(product_id)))


@dataclass
class Hit:
    product_id: str
    score: float
    payload: dict = field(default_factory=dict)


def with_retry(fn: Callable[[], T], *, what: str, attempts: int = 5, base_delay: float = 0.5,
               retry_on: tuple[type[BaseException], ...] = (Exception,)) -> T:
    """Call ``fn``; on failure wait ``base_delay * 2**n`` (± jitter) and try again, ``attempts`` times in all."""
    for attempt in range(attempts):
        try:
            return fn()
        except retry_on as exc:
            if attempt == attempts - 1:
                raise
            delay = base_delay * 2**attempt * (0.8 + 0.4 * random.random())
            logger.warning("%s failed (%s); retry %d/%d in %.1fs", what, exc, attempt + 1, attempts - 1, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


def stored(found: dict, product_ids: list[str], dim: int, dense: bool) -> sp.csr_matrix | np.ndarray:
    """Retrieved vectors (product id → (indices, values) or list of floats) as a matrix in ``product_ids`` order."""
    if not dense:
        return to_csr(found, product_ids, dim)
    out = np.zeros((len(product_ids), dim), dtype=np.float32)
    for i, p in enumerate(product_ids):
        if p in found:
            out[i] = found[p]
    return out


def to_csr(found: dict[str, tuple[list[int], list[float]]], product_ids: list[str], dim: int) -> sp.csr_matrix:
    """Stack ``{product_id: (indices, values)}`` into CSR rows in ``product_ids`` order."""
    indptr, indices, values = [0], [], []
    for pid in product_ids:
        idx, val = found.get(pid, ([], []))
        indices.extend(idx)
        values.extend(val)
        indptr.append(len(indices))
    return sp.csr_matrix((np.asarray(values, dtype=np.float32), np.asarray(indices, dtype=np.int64),
                          np.asarray(indptr)), shape=(len(product_ids), dim))


def check_vectors(spec: dict) -> dict:
    """Validate a collection's named-vector layout: ``{name: {"kind": "sparse"|"dense", "size": n, "idf": bool}}``."""
    from ..errors import SearchtuneError

    for name, v in spec.items():
        if v.get("kind") not in ("sparse", "dense"):
            raise SearchtuneError(f"vector '{name}': kind must be sparse or dense")
        if v["kind"] == "dense" and not int(v.get("size") or 0) > 0:
            raise SearchtuneError(f"dense vector '{name}' needs a size")
    return spec


def row_vector(matrix, i: int):
    """Row ``i`` of a CSR matrix as (indices, values), or of a dense array as a list."""
    if sp.issparse(matrix):
        lo, hi = matrix.indptr[i], matrix.indptr[i + 1]
        return matrix.indices[lo:hi].tolist(), matrix.data[lo:hi].tolist()
    return [float(x) for x in matrix[i]]


def fused_limit(limit: int) -> int:
    """How many fused hits to ask Qdrant for so that :func:`settle` can break ties: RRF scores come from ranks,
    so equal scores are common, and Qdrant orders them differently from one process to the next."""
    return limit + max(limit, 10)


def settle(hits: list[Hit], limit: int) -> list[Hit]:
    """Fused hits in a fixed order: by score, ties by product id; the first ``limit``. The same query gives the
    same ranking in every process (Qdrant's own order of equal fused scores changes between processes)."""
    return sorted(hits, key=lambda h: (-h.score, h.product_id))[:limit]


DATATYPES = ("float32", "float16", "uint8")


def storage_options(config) -> dict:
    """What an :class:`~searchtune.config.IndexConfig` says about how a new collection stores its points (the
    defaults left out, so a collection built without them records nothing)."""
    from ..errors import SearchtuneError

    if config.dense_datatype not in DATATYPES:
        raise SearchtuneError(f"index.dense_datatype must be one of {', '.join(DATATYPES)}, not "
                              f"'{config.dense_datatype}'")
    if (config.shards or config.replicas) and not config.qdrant_url:
        raise SearchtuneError("index.shards and index.replicas are a Qdrant server's: set --qdrant-url, or leave "
                              "them out for the embedded Qdrant Edge")
    out = {"sparse_on_disk": config.sparse_on_disk, "dense_datatype": config.dense_datatype,
           "payload_on_disk": config.payload_on_disk, "shards": config.shards, "replicas": config.replicas}
    defaults = {"sparse_on_disk": False, "dense_datatype": "float32", "payload_on_disk": False, "shards": None,
                "replicas": None}
    return {k: v for k, v in out.items() if v != defaults[k]}


class Index(ABC):
    """A Qdrant collection of products with named vectors (see :mod:`searchtune.index.collection` for
    what it holds and how it is built). ``vector_layout``: ``{name: {"kind": "sparse"|"dense", ...}}``."""

    name: str
    alias: str | None = None  # the alias this collection was opened through (searchtune.index.aliases)
    storage: dict = {}  # how a new collection stores its points (storage_options); kept in its metadata

    @abstractmethod
    def exists(self) -> bool: ...

    def refuse_live(self) -> None:
        """Refuse to rebuild a version an alias serves: a new model is a new version (:mod:`.versions`)."""
        from ..errors import SearchtuneError
        from .aliases import aliases_of

        serving = [a for a, target in aliases_of(self).all().items() if target == self.name]
        if serving:
            raise SearchtuneError(f"collection '{self.name}' is live behind the alias '{serving[0]}': it is not "
                                  f"rebuilt or deleted in place. `searchtune index --collection {serving[0]}` builds "
                                  "a new version beside it and moves the alias")

    @abstractmethod
    def create(self, recreate: bool = False, metadata: dict | None = None) -> None: ...

    @abstractmethod
    def upsert(self, product_ids: list[str], vectors: dict, payloads: list[dict]) -> None:
        """Points for ``product_ids``; ``vectors`` maps each vector name to its rows (CSR or 2-D array)."""

    @abstractmethod
    def layout(self) -> dict: ...

    def dense_search(self, name: str) -> dict | None:
        """Search settings for a dense vector (None for sparse ones, which Qdrant always scores exactly).

        Measured on Home Depot (54,667 products, tuned MiniLM, dev nDCG@10): HNSW with Qdrant's default
        ``ef`` 0.334, ef 256 0.337, ef 512 0.339, exact 0.341 — and exact search over 54k x 384 floats took
        3.8 ms a query. So collections up to ``DENSE_EXACT_MAX_POINTS`` points are searched exactly, larger
        ones through HNSW with ``hnsw_ef`` = ``DENSE_HNSW_EF``.
        """
        if self.layout().get(name, {}).get("kind") != "dense":
            return None
        if self.count() <= DENSE_EXACT_MAX_POINTS:
            return {"exact": True}
        return {"hnsw_ef": DENSE_HNSW_EF}

    def check_query(self, using: list[str], fusion: str) -> None:
        """Refuse an unknown fusion or a vector the collection does not hold, with what to do."""
        from ..errors import SearchtuneError

        if fusion not in FUSIONS:
            raise SearchtuneError(f"fusion must be one of {', '.join(FUSIONS)}, not '{fusion}'")
        missing = [n for n in using if n not in self.layout()]
        if missing:
            hint = " (`searchtune index --dense-model minilm` adds a dense one)" if any(
                m.startswith("dense") for m in missing) else ""
            raise SearchtuneError(f"collection '{self.name}' has no vector {', '.join(missing)}; it holds "
                                  f"{', '.join(self.layout())}. Index it with those models first{hint}")

    @abstractmethod
    def query(self, named: dict, using: list[str], limit: int = 10, *, fusion: str = "rrf",
              weights: list[float] | None = None, prefetch_limit: int = 100, rrf_k: int = 60,
              exclude: list[set[str]] | None = None, batch_size: int = 256,
              where: list[dict[str, str] | None] | None = None) -> list[list[Hit]]:
        """Search with one named vector, or fuse several inside Qdrant (prefetch each, then RRF or DBSF).

        ``named`` maps vector names to query rows (CSR or 2-D array); ``using`` picks which to search;
        ``exclude`` gives, per query, product ids filtered out inside Qdrant (mining drops known positives);
        ``where``, per query, payload fields that must equal a value (``{"brand": "DeWalt"}``).
        RRF here is Qdrant's: score = sum_i 1 / ((rank_i + 1) / w_i + k - 1), ranks from 0, so without
        weights it is 1 / (k + rank_i) — ranx's RRF with k - 1 — and a weight of 3 lets a list's rank 2
        count like rank 0.
        """

    @abstractmethod
    def count(self) -> int: ...

    def hashes(self, batch_size: int = 2048) -> dict[str, str | None]:
        """Every product's text hash (payload ``hash``; None for a point indexed before hashes were kept), read
        a batch at a time (no request grows with the catalog)."""
        raise NotImplementedError

    def delete_points(self, product_ids: list[str], batch_size: int = 1024) -> None:
        """Remove these products' points."""
        raise NotImplementedError

    @abstractmethod
    def vectors(self, product_ids: list[str], dim: int, name: str) -> sp.csr_matrix | np.ndarray:
        """The stored vectors ``name`` of ``product_ids``, in that order: for a sparse vector a CSR matrix with
        ``dim`` columns (an absent id is an empty row), for a dense one an array (n, dim) (absent: zeros)."""

    @abstractmethod
    def delete(self) -> None: ...

    @abstractmethod
    def metadata(self) -> dict: ...

    def close(self) -> None:  # pragma: no cover - backends override when they hold resources
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
