"""On-disk answer cache: one SQLite row per (model, prompt version, product), written as each answer arrives.

A rerun, or a run that resumes after a crash mid-catalog, reads the answers it
already has and asks the model only for the rest: nothing is lost and nothing
is paid for twice. Products that failed after all retries because the answer
was malformed are cached as failures (asking again gives the same answer at
temperature 0); ``retry_failed`` asks again. Products that failed for a
transient reason (rate limit, server error, timeout) are not cached, so the
next run tries them again.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path

from .prompt import PROMPT_VERSION


def cache_key(model: str, product_id: str, product_text: str, n: int, prompt_version: str = PROMPT_VERSION) -> str:
    raw = json.dumps([model, prompt_version, n, product_id, product_text], ensure_ascii=False)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class AnswerCache:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, model TEXT, product_id TEXT, "
                        "status TEXT, queries TEXT, raw TEXT, prompt_tokens INT, completion_tokens INT, cost REAL, "
                        "created REAL)")

    def get(self, key: str) -> dict | None:
        with self._lock:
            row = self.db.execute("SELECT status, queries, raw, prompt_tokens, completion_tokens, cost "
                                  "FROM answers WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return {"status": row[0], "queries": [tuple(x) for x in json.loads(row[1] or "[]")], "raw": row[2],
                "prompt_tokens": row[3], "completion_tokens": row[4], "cost": row[5]}

    def put(self, key: str, *, model: str, product_id: str, status: str, queries: list[tuple[str, str]], raw: str,
            prompt_tokens: int = 0, completion_tokens: int = 0, cost: float | None = None) -> None:
        with self._lock:
            self.db.execute("INSERT OR REPLACE INTO answers (key, model, product_id, status, queries, raw, "
                            "prompt_tokens, completion_tokens, cost, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (key, model, product_id, status, json.dumps(queries), raw, prompt_tokens,
                             completion_tokens, cost, time.time()))

    def __len__(self) -> int:
        with self._lock:
            return self.db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        self.db.close()
