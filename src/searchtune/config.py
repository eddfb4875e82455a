"""The configuration: one dataclass per step, one ``Config`` that holds them.

Defaults live here and only here. A YAML file (``--config``) and CLI flags both
fill the same objects: the file first, then every flag the user actually gave.
The resolved config is written next to every artifact it produced
(``RUN/config.yaml`` and ``RUN/model/searchtune_config.yaml``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .errors import SearchtuneError


@dataclass
class DataConfig:
    """Where the data comes from and how it is read and split."""

    data: str | None = None  # one file: catalog, or query + product + label rows
    catalog: str | None = None  # products file (with --queries)
    queries: str | None = None  # judgments file: query (or query id), product id, label
    query_texts: str | None = None  # query id → text, for judgments that only hold query ids (BEIR)
    split: str | None = None  # split file {"test": [...], "dev": [...]}; else split by seed
    encoding: str | None = None  # detected when not given
    columns: dict[str, str] = field(default_factory=dict)  # role → column name overrides
    label_scale: str | None = None  # detected when not given; see searchtune.data.labels
    positive_min_gain: int | None = None  # overrides the scale's positive threshold
    description_chars: int = 300
    duplicate_products: str = "error"  # "error" or "first" (keep the first title of an id)
    dev_fraction: float = 0.1
    test_fraction: float = 0.2
    split_seed: int = 42


@dataclass
class TrainConfig:
    """SPLADE fine-tuning. Saved with the model as ``searchtune_config.yaml``."""

    kind: str = "sparse"  # sparse (SPLADE) or dense (any sentence-transformers model)
    model: str = "splade-tiny"
    dense_model: str = "minilm"  # the dense base when kind=dense and model is not a dense model
    matryoshka_dims: list[int] = field(default_factory=list)  # dense: e.g. [384, 256, 128, 64]; [] = off
    mini_batch_size: int = 0  # dense: > 0 uses CachedMultipleNegativesRankingLoss with this mini-batch
    negatives_file: str | None = None  # a mined negatives.jsonl (e.g. from the sparse rounds) to train on
    learning_rate: float = 2e-4
    batch_size: int = 64
    epochs: float = 1.0
    max_seq_length: int = 128
    query_regularizer_weight: float = 5e-5
    document_regularizer_weight: float = 3e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    judged_negatives: bool = True  # use judged gain-0 products as hard negatives
    min_positive_gain: int | None = None  # train only on positives with at least this gain (None: the scale's)
    # with min_positive_gain: a query with no product at that gain trains on its best positives instead of none
    min_gain_fallback: bool = False
    # this fraction of the training rows gets a second copy with a misspelled query (searchtune.typos); 0 = off
    query_typo_rate: float = 0.0
    seed: int = 42
    precision: str = "auto"  # auto (bf16 autocast where the hardware has it), bf16, fp32
    save_steps: int = 200
    logging_steps: int = 20


@dataclass
class MineConfig:
    """Hard-negative mining (ANCE rounds, or BM25 negatives). See searchtune.mining."""

    source: str = "judged"  # judged: labelled gain-0 negatives; none: in-batch only; model: ANCE rounds; bm25
    rounds: int = 1  # ANCE rounds after the first training (source=model)
    top_k: int = 50  # candidates retrieved per training query
    window_start: int = 10  # take negatives from this rank (1-based, among non-positives) ...
    window_end: int = 50  # ... to this rank, inclusive
    negatives_per_query: int = 4  # the pool of negatives kept per query (judged gain-0 first)
    negatives_per_row: int = 1  # negatives per training row, cycling through the pool
    margin: float = 0.05  # skip candidates scoring above (1 - margin) x the best positive's score; 0 = off
    judged_first: bool = True  # labelled negatives (gain 0) fill the pool before mined ones
    seed: int = 42
    patience: int = 1  # stop after this many rounds without a better dev nDCG@10
    start_model: str | None = None  # source=model: mine first with this model instead of training round 0
    soup: bool = False  # after the rounds, average the rounds' models greedily (kept only if dev rises)
    soup_with: list[str] = field(default_factory=list)  # more soup ingredients: models fine-tuned from the same base


@dataclass
class GenerateConfig:
    """Synthetic training queries (searchtune.synthetic). Used when the data has no queries, or when
    ``queries_file``/``llm`` is given with real queries (then synthetic queries are trained on and the real
    held-out queries evaluated)."""

    llm: str | None = None  # e.g. openai:gpt-4o-mini, ollama:qwen2.5:7b, a .gguf file; None = offline generator
    queries_file: str | None = None  # queries.jsonl from `searchtune generate-queries` (instead of generating)
    base_url: str | None = None  # OpenAI-compatible base URL (overrides the provider's)
    per_product: int = 4  # queries per product: specific, general, need, attribute in turn
    max_products: int | None = None  # a deterministic sample of the catalog; None = every product
    concurrency: int = 4  # requests in flight (an in-process model runs one at a time)
    timeout: float = 60.0  # seconds per request
    max_retries: int = 5  # HTTP retries with exponential backoff (429, 5xx, timeouts)
    parse_retries: int = 2  # asks again after a malformed answer, then skips the product
    threads: int = 1  # CPU threads for an in-process GGUF model
    seed: int = 42  # product sample, offline noise and the by-product split
    cache: str | None = None  # answer cache (SQLite); default $SEARCHTUNE_HOME/query_cache.sqlite
    price_input: float | None = None  # cost per 1M prompt tokens, for the cost estimate
    price_output: float | None = None  # cost per 1M completion tokens
    test_fraction: float = 0.1  # catalog-only data: products held out for testing ...
    dev_fraction: float = 0.1  # ... and for choosing rounds/settings


@dataclass
class EvalConfig:
    k: list[int] = field(default_factory=lambda: [10, 100])
    bm25: bool = True
    examples: int = 6  # per-query examples in the report
    encode_batch_size: int = 128
    search_batch_size: int = 256
    precision: str = "auto"  # encoding precision: auto (bf16 where native), bf16, fp32; see searchtune.precision


@dataclass
class IndexConfig:
    qdrant_url: str | None = None  # a Qdrant server; None = embedded Qdrant Edge
    qdrant_api_key: str | None = None  # never written to disk
    data_dir: str | None = None  # Qdrant Edge storage; default RUN/qdrant or ~/.searchtune/qdrant
    upsert_batch_size: int = 256


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    mine: MineConfig = field(default_factory=MineConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    evaluate: EvalConfig = field(default_factory=EvalConfig)
    index: IndexConfig = field(default_factory=IndexConfig)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["index"].pop("qdrant_api_key", None)
        return out

    def save(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def load(cls, path: str | Path) -> Config:
        return cls().update_from_file(path)

    def update_from_file(self, path: str | Path) -> Config:
        path = Path(path)
        if not path.is_file():
            raise SearchtuneError(f"{path}: config file not found")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise SearchtuneError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(raw, dict):
            raise SearchtuneError(f"{path}: expected sections data/train/evaluate/index at the top level")
        for section, values in raw.items():
            target = getattr(self, section, None) if section in SECTIONS else None
            if target is None:
                raise SearchtuneError(f"{path}: unknown section '{section}'; use {', '.join(SECTIONS)}")
            if not isinstance(values, dict):
                raise SearchtuneError(f"{path}: section '{section}' must be a mapping")
            update(target, values, where=f"{path}: {section}")
        return self


SECTIONS = ("data", "train", "mine", "generate", "evaluate", "index")


def update(obj, values: dict[str, Any], where: str = "") -> None:
    """Set fields of dataclass ``obj`` from ``values``, skipping ``None`` (a flag not given)."""
    names = {f.name: f for f in fields(obj)}
    for key, value in values.items():
        if value is None:
            continue
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
