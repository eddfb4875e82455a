"""Held-out splits by query (never by row), from a seed or a split file.

Seeded splits hash each query id with the seed, so a query's side does not
depend on the order of the file or on which other queries exist.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError, SearchtuneError
from .catalog import normalise_query

logger = logging.getLogger(__name__)


@dataclass
class Split:
    train: list[str]
    dev: list[str]
    test: list[str]
    source: str = "seed"
    # Logs as training data (searchtune.events): the human-judged test queries, reported beside the
    # newest period's.
    judged_test: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        held = set(self.dev) | set(self.test) | set(self.judged_test)
        overlap = (set(self.train) & held) | (set(self.dev) & set(self.test))
        if overlap:
            raise SearchtuneError(f"split is not disjoint: {len(overlap)} queries are in two parts")

    def to_dict(self) -> dict:
        out = {"source": self.source, "train": self.train, "dev": self.dev, "test": self.test}
        return {**out, "judged_test": self.judged_test} if self.judged_test else out

    def save(self, path: str | Path) -> None:
        from ..files import write_json

        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Split:
        d = json.loads(Path(path).read_text())
        return cls(d["train"], d["dev"], d["test"], d.get("source", "seed"), d.get("judged_test", []))


def unit(seed: int, key: str) -> float:
    """A stable point in [0, 1) for ``key`` under ``seed`` (sha256): the basis of every seeded split and order."""
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_queries(qids, *, dev_fraction: float = 0.1, test_fraction: float = 0.2, seed: int = 42,
                  min_dev: int = 0) -> Split:
    """Split query ids deterministically: the same seed always puts a query on the same side.

    ``min_dev``: when the fraction gives fewer dev queries, training queries move to dev (those nearest the dev
    boundary, so the choice is stable too) until dev has ``min_dev`` or a third of the queries outside test.
    Test never changes."""
    if not (0 <= dev_fraction < 1 and 0 <= test_fraction < 1 and dev_fraction + test_fraction < 1):
        raise SearchtuneError(f"dev ({dev_fraction}) and test ({test_fraction}) fractions must be in [0, 1) and sum below 1")
    train, dev, test = [], [], []
    for qid in sorted(qids):
        u = unit(seed, qid)
        (test if u < test_fraction else dev if u < test_fraction + dev_fraction else train).append(qid)
    source = f"seed={seed} dev={dev_fraction} test={test_fraction}"
    wanted = min(min_dev, (len(train) + len(dev)) // 3)
    if len(dev) < wanted:
        moved = set(sorted(train, key=lambda q: unit(seed, q))[:wanted - len(dev)])
        train, dev = [q for q in train if q not in moved], sorted([*dev, *moved])
        source += f" min_dev={min_dev}"
    return Split(train, dev, test, source=source)


def load_split_file(path: str | Path, queries: dict[str, str]) -> Split:
    """A split file names the test and dev queries by text (or id); every other query is training data.

    Format (as ``../shared/data/homedepot/split.json``): ``{"test": [...], "dev": [...]}``.
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("split file not found", file=path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"split file is not valid JSON ({exc})", file=path) from None
    if not isinstance(raw, dict) or "test" not in raw:
        raise DataError('expected {"test": [...], "dev": [...]}', file=path)
    by_text = {normalise_query(t): qid for qid, t in queries.items()}
    parts: dict[str, list[str]] = {}
    for part in ("test", "dev"):
        entries = raw.get(part, [])
        if not isinstance(entries, list):
            raise DataError(f"'{part}' must be a list of queries", file=path)
        found, missing = [], 0
        for entry in entries:
            qid = entry if entry in queries else by_text.get(normalise_query(str(entry)))
            if qid is None:
                missing += 1
            else:
                found.append(qid)
        if missing:
            logger.warning("%s: %d %s queries are not in the data (ignored)", path, missing, part)
        parts[part] = sorted(set(found))
    both = set(parts["test"]) & set(parts["dev"])
    if both:
        # Two spellings of one query (e.g. with a double space) can sit on both sides of a
        # split file; test keeps it so that the test set is never smaller than the file says.
        logger.warning("%s: %d queries are in both test and dev after normalising spaces; kept in test only",
                       path, len(both))
        parts["dev"] = [q for q in parts["dev"] if q not in both]
    held = set(parts["test"]) | set(parts["dev"])
    train = sorted(q for q in queries if q not in held)
    return Split(train, parts["dev"], parts["test"], source=str(path))


def split_for(config, queries: dict[str, str]) -> Split:
    """The split a :class:`~searchtune.config.DataConfig` asks for: its split file, else seeded by query."""
    if config.split:
        return load_split_file(config.split, queries)
    return split_queries(list(queries), dev_fraction=config.dev_fraction, test_fraction=config.test_fraction,
                         seed=config.split_seed, min_dev=config.min_dev_queries)
