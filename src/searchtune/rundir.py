"""``RunDir``: every path under a run directory, in one place, and who may write there.

Layout of ``RUN/``::

    config.yaml          the resolved Config (no secrets)
    studio-config.yaml   the Config a studio job was started with
    .lock                the owning process's pid (searchtune.files.RunLock)
    synthetic/           generated queries (when the data has none, or with --llm)
    events/              labels from search logs (with --events)
    data.json            fingerprints of the catalog and the judgments the run began with (--resume checks)
    split.json           the query split that was used
    model/               the fine-tuned model (+ searchtune_config.yaml, training_stats.json)
    checkpoints/         trainer checkpoints (resume)
    train_log.jsonl      the trainer's log (loss, learning rate), read by the studio
    rounds/              with mined negatives: every round's negatives, model and dev metrics
    reranker/            the trained cross-encoder (+ scores.jsonl, the pairs it scored)
    reranker-checkpoints/, reranker_log.jsonl   its checkpoints (resume) and its log
    qdrant/              Qdrant Edge collections unless --qdrant-url
    runs/                each system's ranking of the test and dev queries (JSON)
    results.json         every step's result (the report is written from it)
    system.json          the search system the run recommends (searchtune.system.System)
    report.md, report.json
"""

from __future__ import annotations

import atexit
from dataclasses import dataclass
from pathlib import Path

from .errors import SearchtuneError
from .files import RunLock

STATS = "training_stats.json"  # beside every trained model: what training did


@dataclass(frozen=True)
class RunDir:
    """The paths of one run directory (nothing is created until a step writes)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def name(self) -> str:
        return self.root.name

    config = property(lambda self: self.root / "config.yaml")
    studio_config = property(lambda self: self.root / "studio-config.yaml")
    synthetic_queries = property(lambda self: self.root / "synthetic" / "queries.jsonl")
    events = property(lambda self: self.root / "events")
    split = property(lambda self: self.root / "split.json")
    data = property(lambda self: self.root / "data.json")
    model = property(lambda self: self.root / "model")
    checkpoints = property(lambda self: self.root / "checkpoints")
    train_log = property(lambda self: self.root / "train_log.jsonl")
    rounds = property(lambda self: self.root / "rounds")
    reranker = property(lambda self: self.root / "reranker")
    reranker_checkpoints = property(lambda self: self.root / "reranker-checkpoints")
    reranker_log = property(lambda self: self.root / "reranker_log.jsonl")
    qdrant = property(lambda self: self.root / "qdrant")
    results = property(lambda self: self.root / "results.json")
    system = property(lambda self: self.root / "system.json")
    report_md = property(lambda self: self.root / "report.md")
    report_json = property(lambda self: self.root / "report.json")

    def ranking(self, system: str, part: str) -> Path:
        """A system's saved ranking of the ``part`` (test, dev, judged_test) queries."""
        return self.root / "runs" / f"{system}.{part}.json"

    def has_model(self) -> bool:
        return (self.model / "config.json").is_file()

    def has_reranker(self) -> bool:
        return (self.reranker / "config.json").is_file()

    def holds_results(self) -> list[str]:
        """What the directory holds beyond a config and a lock (a run that produced something)."""
        keep = {self.config.name, ".lock", self.studio_config.name, self.data.name}
        return [p.name for p in self.root.iterdir() if p.name not in keep] if self.root.is_dir() else []

    def claim(self, *, resume: bool) -> RunLock:
        """Own the directory (``RUN/.lock``, released at exit); refuse to overwrite a run unless ``resume``."""
        if self.root.exists() and not self.root.is_dir():
            raise SearchtuneError(f"--out {self.root} is a file; give a folder for the run (a new one, or a run to "
                                  "--resume)")
        if self.holds_results() and not resume:
            raise SearchtuneError(f"{self.root} already holds a run; pass --resume to continue it, or choose a new "
                                  "--out")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            lock = RunLock(self.root).acquire()
        except OSError as exc:
            raise SearchtuneError(f"cannot write to --out {self.root} ({exc.strerror or type(exc).__name__}): give a "
                                  "folder you can write to") from None
        atexit.register(lock.release)
        return lock


def trained_stats(model_dir: str | Path) -> dict | None:
    """A searchtune-trained model's ``training_stats.json``, if any."""
    import json

    path = Path(model_dir) / STATS
    return json.loads(path.read_text()) if path.is_file() else None
