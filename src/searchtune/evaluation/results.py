"""``Results``: what every step of a run returned, merged; saved as ``RUN/results.json``.

Steps never write here: :meth:`searchtune.pipeline.Pipeline.run` merges each step's result, saves the whole,
and the report (:mod:`.report`) is written from it, so ``searchtune report --out RUN`` rewrites the report of a
finished run on its own. The rankings themselves stay in ``RUN/runs``; this keeps their scores.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import SearchtuneError
from ..files import write_json
from .bench import Measured
from .runs import SystemRun


@dataclass
class Results:
    config: dict
    command: str | None = None
    counts: dict = field(default_factory=dict)  # products, queries, judgments...
    source: dict = field(default_factory=dict)  # how the data was read
    split: dict = field(default_factory=dict)  # sizes and where the split came from
    systems: dict[str, SystemRun] = field(default_factory=dict)  # on the test queries
    dev: dict[str, dict[str, float]] = field(default_factory=dict)  # metrics on the dev queries
    judged: dict[str, dict[str, float]] = field(default_factory=dict)  # on human-judged test queries (--events)
    timings: dict = field(default_factory=dict)
    examples: list = field(default_factory=list)  # per-query: untuned vs tuned
    significance: dict | None = None  # None: the report tests every system against BM25 and the untuned model
    synthetic: dict | None = None
    events: dict | None = None
    bm25_fields: dict | None = None  # what BM25 reads, chosen on dev
    training: dict | None = None
    mining: dict | None = None
    fusion: dict | None = None
    reranker_training: dict | None = None
    two_stage: dict | None = None
    recommendation: dict | None = None
    latency: dict | None = None
    system: dict | None = None  # the System to deploy (searchtune.system), as saved in RUN/system.json
    kinds: dict[str, str] = field(default_factory=dict)  # base/finetuned: sparse or dense, read from the models
    segments: dict | None = None  # nDCG@10 per segment of the test queries (searchtune.evaluation.segments)
    changes: dict | None = None  # what fine-tuning changed in how the catalog is read (searchtune.explain)

    def add(self, name: str, measured: Measured) -> None:
        self.systems[name] = measured.test
        if measured.dev is not None:
            self.dev[name] = measured.dev.metrics
        if measured.judged is not None:
            self.judged[name] = measured.judged.metrics

    def to_dict(self) -> dict:
        out = asdict(self)
        out["systems"] = {n: s.summary() for n, s in self.systems.items()}
        return out

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict(), indent=1)

    @classmethod
    def load(cls, path: str | Path) -> Results:
        path = Path(path)
        if not path.is_file():
            raise SearchtuneError(f"{path.parent}: no {path.name}; only a finished run (searchtune pipeline or "
                                  "evaluate) has results to report")
        raw = json.loads(path.read_text())
        known = {f.name for f in fields(cls)}
        raw = {k: v for k, v in raw.items() if k in known}
        raw["systems"] = {n: SystemRun.from_summary(n, s) for n, s in raw.get("systems", {}).items()}
        return cls(**raw)
