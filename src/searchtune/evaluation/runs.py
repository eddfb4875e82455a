"""A system's ranking of the evaluation queries, and its scores.

A run is ranx's ``{qid: {product_id: score}}``; :class:`SystemRun` adds the metrics, the per-query scores and
timings. ``RUN/runs/<system>.<part>.json`` keeps the ranking (with what produced it, so ``--resume`` reuses it
only when it matches); ``RUN/results.json`` keeps the scores (:meth:`SystemRun.summary`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..files import read_json, write_json
from ..index import Hit
from .metrics import evaluate_run


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
        write_json(path, {"name": self.name, "source": self.source, "run": self.run, "timings": self.timings})

    @classmethod
    def load(cls, path: Path) -> SystemRun | None:
        """A saved ranking, or None when the file is missing or unreadable (then it is made again)."""
        raw = read_json(path, "saved ranking")
        if not isinstance(raw, dict) or not isinstance(raw.get("run"), dict):
            return None
        return cls(raw.get("name", path.stem), raw["run"], timings=raw.get("timings", {}), source=raw.get("source", ""))

    def summary(self) -> dict:
        """What a report needs of the run (metrics, per-query nDCG@10, timings), without the ranking itself."""
        return {"metrics": self.metrics, "per_query": {"ndcg@10": self.per_query.get("ndcg@10", {})},
                "timings": self.timings, "source": self.source}

    @classmethod
    def from_summary(cls, name: str, raw: dict) -> SystemRun:
        return cls(name, {}, metrics=raw.get("metrics", {}), per_query=raw.get("per_query", {}),
                   timings=raw.get("timings", {}), source=raw.get("source", ""))


def hits_to_run(qids: list[str], hits: list[list[Hit]]) -> dict[str, dict[str, float]]:
    return {q: {h.product_id: h.score for h in hs} for q, hs in zip(qids, hits)}


def score(system: SystemRun, qrels: dict[str, dict[str, int]], ks) -> SystemRun:
    """``system`` with its metrics and per-query scores on ``qrels`` filled in."""
    system.metrics, system.per_query = evaluate_run(qrels, system.run, ks, per_query=True)
    return system
