"""The configuration: one dataclass per step, one ``Config`` that holds them.

Defaults and help texts live here and only here. A YAML file (``--config``),
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

from .errors import SearchtuneError

COLUMN_ROLES = ("product_id", "title", "brand", "description", "bullets", "attributes", "category", "query",
                "query_id", "label", "timestamp", "search_id", "position", "event")
SOURCES = ("judged", "none", "model", "bm25")  # where hard negatives come from ("ance" is read as "model")


def opt(default: Any = None, help: str = "", *, flag: str | bool = True, parse=None, also: tuple[str, ...] = (),
        implies: dict[str, Any] | None = None, factory=None, secret: bool = False, envvar: str | None = None,
        positive: bool = False):
    """A config field that is also a command-line option.

    ``flag``: the option's name (``True``: ``--field-name``; ``False``: YAML only). ``parse`` turns the flag's
    text into the value; ``also`` names other fields (``section.field``) the flag sets too; ``implies`` sets
    other fields of the same section when the flag is given and they are not. Numbers are finite and at least
    0; ``positive``: above 0 (an int at least 1).
    """
    meta = {"help": help, "flag": flag, "parse": parse, "also": also, "implies": implies or {}, "secret": secret,
            "envvar": envvar, "positive": positive}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def parse_window(text: str) -> tuple[int, int]:
    """``"10-50"`` (ranks 10 to 50) → (range_min, range_max) = (9, 50): ranks skipped, last rank."""
    import re

    m = re.fullmatch(r"\s*(\d+)\s*[-:]\s*(\d+)\s*", text or "")
    if not m:
        raise SearchtuneError(f"--mine-window must look like 10-50, got '{text}'")
    return int(m.group(1)) - 1, int(m.group(2))


def parse_sizes(text: str) -> list[int]:
    try:
        return [int(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise SearchtuneError(f"--matryoshka must be sizes like 384,256,128,64, got '{text}'") from None


@dataclass
class DataConfig:
    """Where the data comes from and how it is read and split."""

    data: str | None = opt(help="One file: a catalog, or query + product + label rows.")
    catalog: str | None = opt(help="Products file (use with --queries).")
    queries: str | None = opt(help="Judgments file: query (or query id), product id, label.")
    query_texts: str | None = opt(help="Query id → text file, for judgments without query text (BEIR).")
    split: str | None = opt(help='Split file {"test": [...], "dev": [...]}; else split by seed.')
    encoding: str | None = opt(help="File encoding (detected when left out).")
    columns: dict[str, str] = opt(factory=dict, help="Column name for a role (detected when left out).",
                                  flag="--{role}-column")
    label_scale: str | None = opt(help="Label scale: 1-3, 1-4, esci, wands, 0-2, binary, graded (detected when "
                                       "left out; see searchtune.data.labels).")
    positive_min_gain: int | None = opt(help="Lowest gain that counts as a positive (default: the scale's).")
    description_chars: int = opt(300, "Characters of the description kept in the product text.", flag=False)
    attribute_columns: list[str] = opt(factory=list, help="Wide attribute columns to put in the product text as "
                                       "name=value (repeat the flag; default: the informative attr_/spec_/"
                                       "attribute_/feature_ columns, see searchtune.data.attributes).",
                                       flag="--attribute-column")
    attribute_chars: int = opt(300, "Characters of name=value attributes kept in the product text.", flag=False)
    duplicate_products: str = opt("error", "A product id seen with two titles: 'error' or 'first' (keep the first).")
    dev_fraction: float = opt(0.1, "Share of the queries held out for choosing (dev).", flag=False)
    test_fraction: float = opt(0.2, "Share of the queries held out for the report (test).", flag=False)
    split_seed: int = opt(42, "Seed of the query split.", flag=False)


@dataclass
class TrainConfig:
    """Fine-tuning. Saved with the model as ``searchtune_config.yaml``."""

    kind: str = opt("sparse", "Model kind: sparse (SPLADE) or dense (any sentence-transformers model).")
    model: str = opt("splade-tiny", "Base model: splade-tiny, minilm, a folder or a hub id.")
    dense_model: str = opt("minilm", "The dense base when kind=dense and --model is not a dense model.", flag=False)
    matryoshka_dims: list[int] = opt(factory=list, help="Dense: Matryoshka sizes, e.g. 384,256,128,64 (empty: off).",
                                     flag="--matryoshka", parse=parse_sizes)
    mini_batch_size: int = opt(0, "Dense: CachedMNRL mini-batch (large batches in small memory; 0: plain MNRL).")
    negatives_file: str | None = opt(help="Train on the negatives of a mined JSONL (searchtune mine, RUN/rounds).")
    learning_rate: float = opt(2e-4, "Learning rate.", flag="--lr", positive=True)
    batch_size: int = opt(64, "Training batch size.", positive=True)
    epochs: float = opt(1.0, "Training epochs (fractions allowed).", positive=True)
    max_seq_length: int = opt(128, "Max tokens per text.", positive=True)
    inference_free: bool = opt(False, "SPLADE: queries through a learned weight per token (no transformer at "
                                      "search time); documents stay SPLADE.")
    query_regularizer_weight: float = opt(5e-5, "SPLADE FLOPS weight on queries.", flag=False)
    document_regularizer_weight: float = opt(3e-5, "SPLADE FLOPS weight on documents.", flag=False)
    warmup_ratio: float = opt(0.1, "Share of the steps spent warming up the learning rate.", flag=False)
    weight_decay: float = opt(0.01, "AdamW weight decay.", flag=False)
    judged_negatives: bool = opt(True, "Use judged gain-0 products as hard negatives.", flag=False)
    min_positive_gain: int | None = opt(help="Train only on positives with at least this gain (default: the "
                                             "scale's).")
    min_gain_fallback: bool = opt(False, "With --min-positive-gain: a query with no product at that gain trains on "
                                         "its best positives instead.")
    query_typo_rate: float = opt(0.0, "Fraction of training rows that also train with a misspelled query "
                                      "(typo-aware training; 0 = off).")
    seed: int = opt(42, "Training seed.")
    precision: str = opt("auto", "auto (bf16 where the hardware has it), bf16 or fp32; for training and encoding.",
                         also=("evaluate.precision",))
    save_steps: int = opt(200, "Checkpoint every this many steps (resume).", flag=False, positive=True)
    logging_steps: int = opt(20, "Log the loss every this many steps (fewer in short runs).", flag=False, positive=True)


@dataclass
class MineConfig:
    """Hard-negative mining (ANCE rounds, or BM25 negatives). See searchtune.train.negatives and .rounds."""

    source: str = opt("judged", "Hard negatives: judged (labelled gain 0), none (in-batch only), ance/model (mined "
                                "by the model in rounds), bm25.", flag="--negatives")
    rounds: int = opt(1, "Mining rounds after the first training (implies --negatives ance).", flag="--ance-rounds",
                      implies={"source": "model"})
    top_k: int = opt(50, "Candidates retrieved per training query when mining.", flag="--mine-top-k", positive=True)
    # The selection is sentence_transformers.util.mine_hard_negatives' under its names (range_min, range_max,
    # relative_margin, num_negatives, sampling_strategy), applied after the Qdrant retrieval (train/negatives.py).
    range_min: int = opt(9, "Rank window negatives come from, e.g. 10-50 (ranks 1-based, among non-positives; "
                            "YAML: range_min = ranks skipped, range_max = last rank).",
                         flag="--mine-window", parse=parse_window, also=("mine.range_max",))
    range_max: int = opt(50, "The window's last rank, inclusive.", flag=False)
    num_negatives: int = opt(4, "Negatives kept per training query (judged first).", flag="--negatives-per-query", positive=True)
    sampling_strategy: str = opt("random", "Which candidates of the window: random (seeded per query) or top.",
                                 flag=False)
    negatives_per_row: int = opt(1, "Negatives per training row, cycling through the pool.", positive=True)
    relative_margin: float = opt(0.05, "Skip candidates above (1 - margin) x the best positive's score; 0 = off.",
                                 flag="--mine-margin")
    judged_first: bool = opt(True, "Labelled negatives (gain 0) fill the pool before mined ones.", flag=False)
    seed: int = opt(42, "Seed for choosing negatives.", flag="--mine-seed")
    patience: int = opt(1, "Stop after this many rounds without a better dev nDCG@10.", flag=False, positive=True)
    start_model: str | None = opt(help="ANCE: mine the first round with this model instead of training round 0.")
    denoise_with: str | None = opt(help="A trained reranker (RUN/reranker): mined negatives it scores as relevant "
                                        "(at least mine.denoise_threshold) are dropped as likely unlabelled "
                                        "positives; twice the negatives are drawn to leave room.")
    denoise_threshold: float = opt(0.5, "Reranker score (0-1) from which a mined negative is dropped.", flag=False)
    soup: bool = opt(False, "ANCE: after the rounds, average the rounds' models (greedy soup); kept only if dev "
                            "rises.")
    soup_with: list[str] = opt(factory=list, help="ANCE: another soup ingredient, a model fine-tuned from the same "
                                                  "base (repeat the flag); implies --soup.")


@dataclass
class GenerateConfig:
    """Synthetic training queries (searchtune.synthetic). Used when the data has no queries; when
    ``queries_file``/``llm`` is given with real queries (then synthetic queries are trained on and the real
    held-out queries evaluated); and beside the real training queries when there are fewer than
    ``augment_below`` of them."""

    llm: str | None = opt(help="Model for synthetic queries: openai:gpt-4o-mini, openrouter:M, anthropic:M, "
                               "ollama:M, vllm:M, llamacpp:M, a model at --llm-base-url, or a .gguf file. Left out: "
                               "the offline generator.")
    queries_file: str | None = opt(help="Synthetic queries.jsonl (from generate-queries) to train on.",
                                   flag="--synthetic-queries")
    base_url: str | None = opt(help="OpenAI-compatible base URL (overrides the provider's).", flag="--llm-base-url")
    per_product: int = opt(4, "Synthetic queries per product: specific, general, need, attribute in turn.", positive=True)
    max_products: int | None = opt(help="Generate for a deterministic sample of this many products.", positive=True)
    concurrency: int = opt(4, "LLM requests in flight (an in-process model runs one at a time).", positive=True)
    timeout: float = opt(60.0, "Seconds per LLM request.", positive=True)
    max_retries: int = opt(5, "HTTP retries with exponential backoff (429, 5xx, timeouts).")
    parse_retries: int = opt(2, "Asks again after a malformed answer, then skips the product.")
    threads: int = opt(1, "CPU threads for an in-process .gguf model.", flag="--llm-threads", positive=True)
    seed: int = opt(42, "Seed for the product sample, offline noise and the by-product split.",
                    flag="--generate-seed")
    cache: str | None = opt(help="Answer cache (SQLite; default $SEARCHTUNE_HOME/query_cache.sqlite).")
    price_input: float | None = opt(help="Price per 1M prompt tokens (cost estimate).")
    price_output: float | None = opt(help="Price per 1M completion tokens.")
    # 100: measured between two points (BENCHMARKS.md): 46 real training queries (Icecat) gained 4 points of
    # nDCG@10 with offline synthetic ones, 153 (the bundled example) lost 1.4.
    augment_below: int = opt(100, "With fewer real training queries than this, synthetic queries (--llm, else the "
                                  "offline generator) are added to the training side; 0: never.")
    augment_products: int = opt(2000, "Products sampled for those added queries (without --max-products).",
                                flag=False, positive=True)
    test_fraction: float = opt(0.1, "Catalog-only data: share of products held out for testing.", flag=False)
    dev_fraction: float = opt(0.1, "Catalog-only data: share of products held out for choosing.", flag=False)


@dataclass
class RerankConfig:
    """The second stage: a cross-encoder trained on the catalog that rescores a first stage's top K
    (searchtune.rerank). Candidates K and the mix with the first stage's score are chosen on dev."""

    enabled: bool = opt(False, "Pipeline: also train a reranker and evaluate every first stage with it.",
                        flag="--reranker")
    model: str = opt("minilm", "Cross-encoder base: minilm, a folder or a hub id (a new one-score head is added).",
                     flag="--reranker-model")
    learning_rate: float = opt(5e-5, "Reranker learning rate.", flag="--reranker-lr", positive=True)
    epochs: float = opt(1.0, "Reranker training epochs.", flag="--reranker-epochs", positive=True)
    batch_size: int = opt(32, "Reranker training batch size.", flag=False, positive=True)
    max_length: int = opt(128, "Tokens per (query, product) pair.", flag="--reranker-max-length", positive=True)
    num_negatives: int = opt(4, "Mined negatives per training query (from the first stage's top "
                                      "--reranker-mine-top-k, known positives left out).", flag="--reranker-negatives")
    mine_top_k: int = opt(30, "First-stage candidates per training query that negatives are drawn from.",
                          flag="--reranker-mine-top-k", positive=True)
    max_pairs: int | None = opt(help="Train on at most this many (query, product) pairs (a seeded sample of "
                                     "training queries; default: all).", flag="--reranker-max-pairs", positive=True)
    candidates: list[int] = opt(factory=lambda: [20, 50, 100], help="Top K of the first stage rescored: the "
                                "choices tried on dev, e.g. 20,50,100.", flag="--rerank-k", parse=parse_sizes)
    # Home Depot's dev chose 0.5, the top of a 0-0.5 grid, for every first stage: the grid reaches 0.9.
    mix_weights: list[float] = opt(factory=lambda: [0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9],
                                   help="Weights of the first stage's score mixed into the reranker's (both min-max "
                                   "scaled per query): the choices tried on dev.", flag=False)
    dev_queries: int | None = opt(help="Choose K and the weight on a seeded sample of this many dev queries "
                                       "(cross-encoders are slow on CPU; default: all).", flag="--rerank-dev-queries",
                                  positive=True)
    batch_size_score: int = opt(64, "Pairs scored per batch.", flag=False, positive=True)
    latency_queries: int = opt(50, "Dev queries timed one at a time for the per-stage latency.", flag=False)
    seed: int = opt(42, "Seed of the negatives and samples.", flag="--reranker-seed")


def parse_floats(text: str) -> list[float]:
    try:
        return [float(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise SearchtuneError(f"expected numbers like 0.6,2.0, got '{text}'") from None


@dataclass
class EventsConfig:
    """Search logs as training data (searchtune.events): labels from clicks, add-to-cart and purchases,
    corrected for position bias, and a split by time."""

    log: str | None = opt(help="Search log (CSV, JSON Lines, Parquet) or a folder from `searchtune events "
                               "import`: train on labels derived from it.", flag="--events")
    position_bias: str = opt("pbm", "How the examination of each position is estimated: pbm (a position-based "
                             "click model fitted by EM on the logs), ctr (the raw click-through curve), none.",
                             flag="--position-bias")
    max_position: int = opt(20, "Positions past this share its examination estimate.", flag=False, positive=True)
    min_impressions: int = opt(1, "Times a product must be shown for a query to get a label at all.",
                               flag="--min-impressions", positive=True)
    click_weight: float = opt(1.0, "Weight of a click in a product's score.", flag=False)
    cart_weight: float = opt(2.0, "Weight of an add-to-cart (counted on top of its click).", flag="--cart-weight")
    purchase_weight: float = opt(4.0, "Weight of a purchase (on top of its click and add-to-cart).",
                                 flag="--purchase-weight")
    prior: float = opt(1.0, "Expected examinations added to every product's (smoothing: one click in one "
                            "impression is not a sure thing).", flag=False)
    gain_thresholds: list[float] = opt(factory=lambda: [0.6, 2.0], help="Scores from which an interacted-with "
                                       "product gets gain 2 and gain 3 (clicked below the first: gain 1). The score "
                                       "is weighted interactions over expected examinations.", flag=False,
                                       parse=parse_floats)
    skipped_above: bool = opt(True, "A product shown above a clicked one and not clicked is a negative (gain 0).")
    min_examinations: float = opt(2.0, "Expected examinations from which a never-clicked product is a negative.",
                                  flag=False)
    dev_fraction: float = opt(0.1, "Share of the searches, before the test period, held out for choosing.",
                              flag="--events-dev-fraction")
    test_fraction: float = opt(0.2, "Share of the newest searches held out for the report.",
                               flag="--events-test-fraction")
    train_on_heldout_queries: bool = opt(False, "Also train on the older events of queries searched again in the "
                                         "dev or test period (the report then says so).",
                                         flag="--train-on-heldout-queries")


@dataclass
class EvalConfig:
    k: list[int] = opt(factory=lambda: [10, 100], help="Cut-offs of the metrics.", flag=False)
    bm25: bool = opt(True, "Include the BM25 baselines.", flag=False)
    examples: int = opt(6, "Per-query examples in the report.", flag=False)
    encode_batch_size: int = opt(128, "Texts encoded per batch.", flag=False, positive=True)
    search_batch_size: int = opt(256, "Queries per search batch.", flag=False, positive=True)
    precision: str = opt("auto", "Encoding precision: auto (bf16 where native), bf16, fp32.", flag=False)


@dataclass
class IndexConfig:
    qdrant_url: str | None = opt(help="Qdrant server URL (default: embedded Qdrant Edge).")
    qdrant_api_key: str | None = opt(help="Qdrant API key (never written to disk).", secret=True,
                                     envvar="QDRANT_API_KEY")
    data_dir: str | None = opt(help="Qdrant Edge storage folder (default RUN/qdrant or ~/.searchtune/qdrant).")
    upsert_batch_size: int = opt(256, "Points per upsert request.", flag=False, positive=True)


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
        from .files import write_text

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
            raise SearchtuneError(f"{path}: expected sections data/train/evaluate/index at the top level")
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
