"""Aliases: a stable collection name that points at one version of a collection and moves atomically.

A model change never rebuilds the collection that answers queries: :mod:`.versions` builds a new version
beside it and moves the alias, as Qdrant's documented zero-downtime migration does. ``serve``, ``search`` and
the studio open the alias; a :class:`~searchtune.system.Searcher` follows a move without a restart.

- On a Qdrant server: Qdrant's own aliases, moved by one ``update_collection_aliases`` call (delete + create
  in one atomic request), so every query reaches the old version or the new one, never neither.
- On Qdrant Edge (no alias API): ``DATA_DIR/aliases.json``, replaced atomically (a temp file renamed over it,
  under a lock); a searcher re-reads it when its modification time changes (a ``stat`` per query batch).

The previous version is named in the new one's metadata (``previous``), so ``--rollback`` knows where to go.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import SearchtuneError
from ..files import Lock, write_json

FILE = "aliases.json"


class EdgeAliases:
    """The aliases of one Qdrant Edge data folder."""

    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / FILE

    def all(self) -> dict[str, str]:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise SearchtuneError(f"{self.path}: unreadable ({exc}); restore it, or delete it to drop every "
                                  "alias") from None
        return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}

    def get(self, alias: str) -> str | None:
        return self.all().get(alias)

    def stamp(self) -> float | None:
        """Changes whenever an alias moves (the file's modification time; None: no alias yet)."""
        try:
            return os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return None

    def move(self, alias: str, target: str) -> None:
        """Point ``alias`` at ``target`` in one atomic file replacement."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with Lock(self.path.with_name(FILE + ".lock"), "the aliases"):
            write_json(self.path, {**self.all(), alias: target}, indent=1)


class ServerAliases:
    """A Qdrant server's aliases, through the client an index holds."""

    def __init__(self, client) -> None:
        self.client = client

    def all(self) -> dict[str, str]:
        return {a.alias_name: a.collection_name for a in self.client.get_aliases().aliases}

    def get(self, alias: str) -> str | None:
        return self.all().get(alias)

    def stamp(self):
        return tuple(sorted(self.all().items()))

    def move(self, alias: str, target: str) -> None:
        """Delete and create the alias in one request: Qdrant applies both atomically."""
        from qdrant_client import models

        if self.client.collection_exists(alias) and alias not in self.all():
            raise SearchtuneError(f"'{alias}' is a collection on this server, and a Qdrant alias cannot take a "
                                  "collection's name: build the versions behind a new name (`searchtune index "
                                  "--collection NEW ...`) and point clients at it")
        self.client.update_collection_aliases(change_aliases_operations=[
            models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias)),
            models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=target, alias_name=alias)),
        ] if alias in self.all() else [
            models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=target, alias_name=alias))])


def aliases_of(index):
    """The aliases of the place ``index`` lives (its data folder, or its server)."""
    if hasattr(index, "client"):
        return ServerAliases(index.client)
    return EdgeAliases(index.data_dir)
