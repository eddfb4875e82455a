"""Qdrant collections behind one small interface: Qdrant Edge embedded, or a server by URL.

``open_index`` picks the backend; :mod:`.collection` builds, reuses and queries a collection.
"""

from __future__ import annotations

from pathlib import Path

from ..config import IndexConfig
from ..home import default_data_dir
from .base import Hit, Index
from .edge import EdgeIndex


def open_index(name: str, config: IndexConfig | None = None, data_dir: str | Path | None = None) -> Index:
    """The collection ``name`` on a Qdrant server when ``config.qdrant_url`` is set, else on Qdrant Edge."""
    config = config or IndexConfig()
    if config.qdrant_url:
        from .server import ServerIndex

        return ServerIndex(name, config.qdrant_url, config.qdrant_api_key, batch_size=config.upsert_batch_size)
    return EdgeIndex(name, data_dir or config.data_dir or default_data_dir(), batch_size=config.upsert_batch_size)


__all__ = ["EdgeIndex", "Hit", "Index", "default_data_dir", "open_index"]
