"""The bench a system is measured on: the catalog, the split, the run directory and the evaluation settings.

A :class:`Bench` is a read-only value every measuring step takes; each step returns what it measured (a
:class:`Measured` per system) and the pipeline merges the results. Rankings are kept in
``RUN/runs/<system>.<part>.json`` and reused on ``--resume`` when they were made from the same model,
catalog and queries.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import EvalConfig, IndexConfig
from ..data import SearchData, Split
from ..index import Index, open_index
from ..rundir import RunDir
from .runs import SystemRun, score

PARTS = ("test", "dev", "judged_test")


@dataclass
class Measured:
    """One system on the test queries, and on the dev (choices) and human-judged test queries when there are any."""

    test: SystemRun
    dev: SystemRun | None = None
    judged: SystemRun | None = None


@dataclass(frozen=True)
class Bench:
    data: SearchData
    split: Split
    run: RunDir
    config: EvalConfig
    index_config: IndexConfig
    max_length: int | None = None  # tokens per text for every model (the tuned model's training length)
    resume: bool = False
    progress: bool = True

    @property
    def k(self) -> int:
        return max(self.config.k)

    def queries(self, part: str) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
        """The texts and judgments of the ``part`` (test, dev, judged_test, train) queries that can be scored."""
        qrels = self.data.eval_qrels(getattr(self.split, part))
        return {q: self.data.queries[q] for q in qrels}, qrels

    def collection(self, name: str) -> str:
        """A run collection's name: as is in RUN/qdrant, prefixed with the run's name on a shared server."""
        return f"{self.run.name}-{name}" if self.index_config.qdrant_url else name

    def open(self, collection: str) -> Index:
        return open_index(self.collection(collection), self.index_config,
                          data_dir=self.index_config.data_dir or self.run.qdrant)

    def rank(self, name: str, part: str, make, source: str) -> SystemRun:
        """System ``name`` on the ``part`` queries, scored: its saved ranking on resume when ``source`` (what
        made it) matches, else ``make(queries)``, saved."""
        path = self.run.ranking(name, part)
        queries, qrels = self.queries(part)
        source = f"{source} catalog={self.data.fingerprint} queries={len(queries)}"
        cached = SystemRun.load(path) if self.resume and path.exists() else None
        if cached is not None and cached.source == source:
            system = cached
        else:
            system = make(queries)
            system.source = source
            path.parent.mkdir(exist_ok=True)
            system.save(path)
        return score(system, qrels, self.config.k)

    def measure(self, name: str, make, source: str) -> Measured:
        """System ``name`` on every part the split has."""
        return Measured(self.rank(name, "test", make, source),
                        self.rank(name, "dev", make, source) if self.split.dev else None,
                        self.rank(name, "judged_test", make, source) if self.split.judged_test else None)
