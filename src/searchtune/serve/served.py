"""What the server showed and what shoppers did, appended as JSON Lines that `searchtune events import` reads
with no column flags: ``timestamp``, ``search_id``, ``query``, ``product_id``, ``position``, ``event`` (and the
``system`` that served it, which the import leaves aside).

Each search appends one impression row per product shown; ``POST /events`` appends a click, add-to-cart or
purchase by ``search_id``, its query and position taken from the search this process served (the last
``remember`` searches are kept in memory for that). One process appends to one file: with several workers,
give each its own ``--log``.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import OrderedDict
from pathlib import Path


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


class UnknownSearch(KeyError):
    """An event for a search this process did not serve (or served too long ago to remember)."""


class ServedLog:
    def __init__(self, path: str | Path, remember: int = 100_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.recent: OrderedDict[str, tuple[str, str]] = OrderedDict()  # search id → (query, "id\tid\t…")
        self.remember = remember

    def _append(self, rows: list[dict]) -> None:
        os.write(self.fd, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode())  # one append

    def search(self, query: str, product_ids: list[str], system: str) -> str:
        """Record one served search; returns its ``search_id``."""
        search_id = uuid.uuid4().hex[:16]
        at = _now()
        self._append([{"timestamp": at, "search_id": search_id, "query": query, "product_id": pid,
                       "position": i, "event": "impression", "system": system}
                      for i, pid in enumerate(product_ids, 1)])
        self.recent[search_id] = (query, "\t".join(product_ids))  # compact: 100,000 searches in a few tens of MB
        while len(self.recent) > self.remember:
            self.recent.popitem(last=False)
        return search_id

    def event(self, search_id: str, product_id: str, event: str) -> dict:
        """Record what a shopper did with a product of a served search."""
        if search_id not in self.recent:
            raise UnknownSearch(search_id)
        query, shown = self.recent[search_id]
        ids = shown.split("\t")
        row = {"timestamp": _now(), "search_id": search_id, "query": query, "product_id": product_id,
               "position": ids.index(product_id) + 1 if product_id in ids else None, "event": event}
        self._append([row])
        return row

    def close(self) -> None:
        os.close(self.fd)
