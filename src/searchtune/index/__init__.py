"""Qdrant indexing behind one small interface: Qdrant Edge embedded, or a server by URL."""

from __future__ import annotations

import os
from pathlib import Path

from ..config import IndexConfig
from .base import BM25, DENSE, SPARSE, Hit, SparseIndex, point_id, with_retry
from .edge import EdgeIndex


def default_data_dir() -> Path:
    """Where embedded collections live unless ``--data-dir`` says otherwise (``$SEARCHTUNE_HOME/qdrant``)."""
    home = os.environ.get("SEARCHTUNE_HOME") or Path.home() / ".searchtune"
    return Path(home) / "qdrant"


def open_index(name: str, config: IndexConfig | None = None, data_dir: str | Path | None = None,
               vectors: dict | None = None) -> SparseIndex:
    """The collection ``name`` on a Qdrant server when ``config.qdrant_url`` is set, else on Qdrant Edge.

    ``vectors``: the named-vector layout for a new collection (default: one SPLADE vector ``sparse``).
    """
    config = config or IndexConfig()
    if config.qdrant_url:
        from .server import ServerIndex

        return ServerIndex(name, config.qdrant_url, config.qdrant_api_key, batch_size=config.upsert_batch_size,
                           vectors=vectors)
    return EdgeIndex(name, data_dir or config.data_dir or default_data_dir(), batch_size=config.upsert_batch_size,
                     vectors=vectors)


__all__ = ["BM25", "DENSE", "SPARSE", "EdgeIndex", "Hit", "SparseIndex", "default_data_dir", "open_index", "point_id", "with_retry"]
