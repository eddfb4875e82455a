"""The configuration: one dataclass per step (:mod:`.sections`), one ``Config`` that holds them.

Defaults and help texts live in :mod:`.sections` and only there. A YAML file (``--config``),
CLI flags and the studio's JSON all fill the same objects: the file first, then
every flag the user actually gave. A field with ``flag`` metadata (see
:func:`opt`) is a command-line option; the CLI builds its option groups from
these fields (:mod:`searchtune.cli.options`). :meth:`Config.validate` holds
every check. The resolved config is written next to every artifact it produced
(``RUN/config.yaml`` and ``RUN/model/searchtune_config.yaml``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from ..errors import SearchtuneError
from .sections import (
    COLUMN_ROLES,
    SOURCES,
    DataConfig,
    EvalConfig,
    EventsConfig,
    GenerateConfig,
    IndexConfig,
    MineConfig,
    RerankConfig,
    TrainConfig,
    opt,
    parse_floats,
    parse_sizes,
    parse_window,
)

MAX_EPOCHS = 1000  # more is a typo (1e308 would overflow the trainer's step count)


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    mine: MineConfig = field(default_factory=MineConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    evaluate: EvalConfig = field(default_factory=EvalConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    rerank: RerankConfig = field(default_factory=RerankConfig)
    events: EventsConfig = field(default_factory=EventsConfig)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["index"].pop("qdrant_api_key", None)
        return out

    def save(self, path: str | Path) -> None:
        from ..files import write_text

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def load(cls, path: str | Path) -> Config:
        return cls().update_from_file(path)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "config") -> Config:
        """A Config from ``{section: {field: value}}`` (what the studio sends, what ``to_dict`` writes)."""
        config = cls()
        if not isinstance(raw, dict):
            raise SearchtuneError(f"{where}: expected sections {', '.join(SECTIONS)} at the top level")
        for section, values in raw.items():
            if section not in SECTIONS:
                raise SearchtuneError(f"{where}: unknown section '{section}'; use {', '.join(SECTIONS)}")
            if not isinstance(values, dict):
                raise SearchtuneError(f"{where}: section '{section}' must be a mapping")
            update(getattr(config, section), values, where=f"{where}: {section}")
        return config

    def validate(self) -> Config:
        """Every check of a whole config, with what to do; returns ``self``. Also normalises aliases
        (negatives ``ance`` → ``model``) and implications (``soup_with`` → ``soup``)."""
        d, t, m = self.data, self.train, self.mine
        self._check_numbers()
        from ..language import resolve as resolve_language

        d.language = resolve_language(d.language)
        if d.duplicate_products not in ("error", "first"):
            raise SearchtuneError(f"--duplicate-products must be 'error' or 'first', not '{d.duplicate_products}'")
        unknown = sorted(set(d.columns) - set(COLUMN_ROLES))
        if unknown:
            raise SearchtuneError(f"unknown column role(s) {', '.join(unknown)}; known: {', '.join(COLUMN_ROLES)}")
        for name, value in (("dev_fraction", d.dev_fraction), ("test_fraction", d.test_fraction)):
            if not 0 <= value < 1:
                raise SearchtuneError(f"data.{name} must be in [0, 1), got {value}")
        if t.kind not in ("sparse", "dense"):
            raise SearchtuneError(f"--kind must be sparse or dense, not '{t.kind}'")
        for section in (t, self.evaluate):
            if section.precision not in ("auto", "bf16", "fp32"):
                raise SearchtuneError(f"--precision must be auto, bf16 or fp32, not '{section.precision}'")
        if not 0.0 <= t.query_typo_rate <= 1.0:
            raise SearchtuneError(f"--query-typo-rate must be between 0 and 1, got {t.query_typo_rate}")
        if t.epochs <= 0 or t.batch_size < 1 or t.learning_rate <= 0:
            raise SearchtuneError("--epochs and --lr must be above 0 and --batch-size at least 1")
        for name, value in (("--epochs", t.epochs), ("--reranker-epochs", self.rerank.epochs)):
            if value > MAX_EPOCHS:
                raise SearchtuneError(f"{name} {value:g} is more passes over the data than any run needs (at most "
                                      f"{MAX_EPOCHS}); a typo?")
        ks = self.evaluate.k
        if not ks or 10 not in ks or not all(isinstance(k, int) and 1 <= k <= 1000 for k in ks):
            raise SearchtuneError(f"evaluate.k must be cut-offs from 1 to 1000 that include 10 (every report leads "
                                  f"with nDCG@10), e.g. [10, 100]; got {ks}")
        if t.inference_free and t.kind != "sparse":
            raise SearchtuneError("--inference-free is a SPLADE option (queries through a token table); "
                                  "drop it or train with --kind sparse")
        if m.source == "ance":
            m.source = "model"
        if m.source not in SOURCES:
            raise SearchtuneError(f"--negatives must be one of judged, none, ance, bm25, not '{m.source}'")
        if t.kind == "dense" and m.source == "model":
            raise SearchtuneError("ANCE rounds mine with the SPLADE index; for a dense model pass --negatives bm25, "
                                  "or --negatives-file RUN/rounds/round-N/negatives.jsonl from a sparse run")
        if not 0 <= m.range_min < m.range_max:
            raise SearchtuneError(f"the rank window {m.range_min + 1}-{m.range_max} is empty; "
                                  "give start <= end, both from 1")
        if m.range_max > m.top_k:
            raise SearchtuneError(f"the rank window ends at {m.range_max} but only top_k={m.top_k} candidates "
                                  "are retrieved; raise --mine-top-k or lower the window")
        if not 0 <= m.relative_margin < 1:
            raise SearchtuneError(f"--mine-margin must be in [0, 1), got {m.relative_margin}")
        if m.sampling_strategy not in ("random", "top"):
            raise SearchtuneError(f"mine.sampling_strategy must be random or top, not '{m.sampling_strategy}'")
        if m.num_negatives < 1 or m.negatives_per_row < 1:
            raise SearchtuneError("negatives per query and per row must be at least 1")
        if m.rounds < 0:
            raise SearchtuneError(f"--ance-rounds must be 0 or more, got {m.rounds}")
        if m.denoise_with and m.source not in ("model", "bm25"):
            raise SearchtuneError("--denoise-with filters mined negatives; add --negatives ance (or bm25)")
        if not 0 < m.denoise_threshold <= 1:
            raise SearchtuneError(f"mine.denoise_threshold must be in (0, 1], got {m.denoise_threshold}")
        m.soup = m.soup or bool(m.soup_with)
        if m.soup and m.source not in ("model", "bm25"):
            raise SearchtuneError("--soup averages the models of mining rounds; add --negatives ance (or bm25), or "
                                  "average finished models with `searchtune average`")
        g = self.generate
        if not (0 <= g.dev_fraction < 1 and 0 < g.test_fraction < 1 and g.dev_fraction + g.test_fraction < 1):
            raise SearchtuneError(f"generate.dev_fraction ({g.dev_fraction}) and test_fraction ({g.test_fraction}) "
                                  "must be in [0, 1) (test above 0) and sum below 1")
        r = self.rerank
        if not r.candidates or min(r.candidates) < 1:
            raise SearchtuneError(f"--rerank-k must be one or more positive sizes like 20,50,100, got {r.candidates}")
        if not r.mix_weights or not all(0 <= w <= 1 for w in r.mix_weights):
            raise SearchtuneError(f"rerank.mix_weights must be weights in [0, 1], got {r.mix_weights}")
        e = self.events
        if e.position_bias not in ("pbm", "ctr", "none"):
            raise SearchtuneError(f"--position-bias must be pbm, ctr or none, not '{e.position_bias}'")
        if len(e.gain_thresholds) != 2 or e.gain_thresholds[0] > e.gain_thresholds[1]:
            raise SearchtuneError(f"events.gain_thresholds must be two rising scores (gain 2, gain 3), "
                                  f"got {e.gain_thresholds}")
        if not (0 <= e.dev_fraction < 1 and 0 < e.test_fraction < 1 and e.dev_fraction + e.test_fraction < 1):
            raise SearchtuneError(f"--events-dev-fraction ({e.dev_fraction}) and --events-test-fraction "
                                  f"({e.test_fraction}) must be in [0, 1) (test above 0) and sum below 1")
        if e.log and self.generate.queries_file:
            raise SearchtuneError("--events trains on labels from the logs; leave out --queries-file")
        if self.generate.per_product < 1:
            raise SearchtuneError(f"--per-product must be at least 1, got {self.generate.per_product}")
        return self

    def _check_numbers(self) -> None:
        """Every number finite and at least 0 (above 0 where the field says ``positive``)."""
        import math

        for section in SECTIONS:
            for f in fields(getattr(self, section)):
                value = getattr(getattr(self, section), f.name)
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                flag = f.metadata.get("flag")
                name = flag if isinstance(flag, str) else f"--{f.name.replace('_', '-')}" if flag else f"{section}.{f.name}"
                if not math.isfinite(value):
                    raise SearchtuneError(f"{name} must be a finite number, got {value}")
                positive = f.metadata.get("positive")
                if value < 0 or (positive and value <= 0) or (positive and isinstance(value, int) and value < 1):
                    raise SearchtuneError(f"{name} must be {'above 0' if positive else 'at least 0'}, got {value}")

    def update_from_file(self, path: str | Path) -> Config:
        path = Path(path)
        if not path.is_file():
            raise SearchtuneError(f"{path}: config file not found")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise SearchtuneError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(raw, dict):
            raise SearchtuneError(f"{path}: expected sections {', '.join(SECTIONS)} at the top level")
        for section, values in raw.items():
            target = getattr(self, section, None) if section in SECTIONS else None
            if target is None:
                raise SearchtuneError(f"{path}: unknown section '{section}'; use {', '.join(SECTIONS)}")
            if not isinstance(values, dict):
                raise SearchtuneError(f"{path}: section '{section}' must be a mapping")
            update(target, values, where=f"{path}: {section}")
        return self


SECTIONS = ("data", "train", "mine", "generate", "evaluate", "index", "rerank", "events")
# Settings that change how a run goes, not what it trains or measures: a --resume may change them.
NOT_RESULTS = {"index": None, "generate": {"concurrency", "timeout", "max_retries", "parse_retries", "threads",
                                           "base_url", "cache", "price_input", "price_output"},
               "evaluate": {"encode_batch_size", "search_batch_size", "examples"},
               "rerank": {"batch_size_score", "latency_queries"}}


def config_changes(old: Config, new: Config) -> list[str]:
    """``section.field: old → new`` for each setting that differs and changes what a run trains or measures."""
    a, b = old.to_dict(), new.to_dict()
    out = []
    for section in SECTIONS:
        skip = NOT_RESULTS.get(section, set())
        if section in NOT_RESULTS and skip is None:
            continue
        for key, value in b[section].items():
            before = a[section].get(key)
            if key not in skip and _plain(before) != _plain(value):
                out.append(f"{section}.{key}: {before!r} → {value!r}")
    return out


def _plain(value):
    return list(value) if isinstance(value, tuple) else value
RENAMED = {  # mine settings that took sentence-transformers' names
    "window_start": "range_min, the number of top ranks skipped (window_start 10 = range_min 9)",
    "window_end": "range_max", "margin": "relative_margin", "negatives_per_query": "num_negatives"}


def update(obj, values: dict[str, Any], where: str = "") -> None:
    """Set fields of dataclass ``obj`` from ``values``, skipping ``None`` (a flag not given)."""
    names = {f.name: f for f in fields(obj)}
    for key, value in values.items():
        if value is None:
            continue
        if key in RENAMED:
            raise SearchtuneError(f"{where}: '{key}' is now {RENAMED[key]}")
        if key not in names:
            raise SearchtuneError(f"{where}: unknown setting '{key}'; known: {', '.join(names)}")
        default = getattr(obj, key)
        if isinstance(default, bool) and not isinstance(value, bool):
            raise SearchtuneError(f"{where}: '{key}' must be true or false, got {value!r}")
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            try:
                value = type(default)(value)
            except (TypeError, ValueError):
                raise SearchtuneError(f"{where}: '{key}' must be a number, got {value!r}") from None
        setattr(obj, key, value)


__all__ = [
    "COLUMN_ROLES",
    "Config",
    "config_changes",
    "DataConfig",
    "EvalConfig",
    "EventsConfig",
    "GenerateConfig",
    "IndexConfig",
    "MineConfig",
    "opt",
    "parse_floats",
    "parse_sizes",
    "parse_window",
    "RerankConfig",
    "SECTIONS",
    "SOURCES",
    "TrainConfig",
    "update",
]
