"""Qdrant collections behind one small interface: Qdrant Edge embedded, or a server by URL.

``open_index`` picks the backend; :mod:`.collection` builds, reuses and queries a collection.
"""

from __future__ import annotations

from pathlib import Path

from ..config import IndexConfig
from ..home import default_data_dir
from .base import Hit, Index, storage_options
from .edge import EdgeIndex


def open_index(name: str, config: IndexConfig | None = None, data_dir: str | Path | None = None, *,
               resolve: bool = True) -> Index:
    """The collection ``name`` on a Qdrant server when ``config.qdrant_url`` is set, else on Qdrant Edge. An
    alias (:mod:`.aliases`) opens the version it points at now (``index.alias`` names it); ``resolve=False``
    opens ``name`` itself."""
    config = config or IndexConfig()
    if config.qdrant_url:
        from .aliases import ServerAliases
        from .server import ServerIndex

        index = ServerIndex(name, config.qdrant_url, config.qdrant_api_key, batch_size=config.upsert_batch_size,
                            storage=storage_options(config))
        target = ServerAliases(index.client).get(name) if resolve else None
    else:
        from .aliases import EdgeAliases

        folder = data_dir or config.data_dir or default_data_dir()
        target = EdgeAliases(folder).get(name) if resolve else None
        index = EdgeIndex(target or name, folder, batch_size=config.upsert_batch_size, storage=storage_options(config))
    if target:
        index.name, index.alias = target, name
    return index


__all__ = ["EdgeIndex", "Hit", "Index", "default_data_dir", "open_index"]
