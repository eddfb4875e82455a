"""The sections of a Config: one dataclass per step, each field with its default, help text and flag
(:func:`opt`). Checks that need several fields are in :meth:`searchtune.config.Config.validate`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import SearchtuneError

COLUMN_ROLES = ("product_id", "title", "brand", "description", "bullets", "attributes", "category", "query",
                "query_id", "label", "timestamp", "search_id", "position", "event")
SOURCES = ("judged", "none", "model", "bm25")  # where hard negatives come from ("ance" is read as "model")


def opt(default: Any = None, help: str = "", *, flag: str | bool = True, parse=None, also: tuple[str, ...] = (),
        implies: dict[str, Any] | None = None, factory=None, envvar: str | None = None,
        positive: bool = False):
    """A config field that is also a command-line option.

    ``flag``: the option's name (``True``: ``--field-name``; ``False``: YAML only). ``parse`` turns the flag's
    text into the value; ``also`` names other fields (``section.field``) the flag sets too; ``implies`` sets
    other fields of the same section when the flag is given and they are not. Numbers are finite and at least
    0; ``positive``: above 0 (an int at least 1).
    """
    meta = {"help": help, "flag": flag, "parse": parse, "also": also, "implies": implies or {},
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
        raise SearchtuneError(f"expected whole numbers like 20,50,100, got '{text}'") from None


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
    language: str = opt("auto", "The catalog's language for BM25's stemmer and stop words: auto (detected from "
                                "the products), or a name or code (german, de, french…).")
    dev_fraction: float = opt(0.1, "Share of the queries held out for choosing (dev).", flag=False)
    # A deploy choice on 15 dev queries is a coin toss with a prior; 50 shows a few-percent lead with some
    # confidence. The third keeps two thirds of a small data set's non-test queries for training.
    min_dev_queries: int = opt(50, "Seeded split: at least this many dev queries, moved from training (never more "
                                   "than a third of the queries outside test).", flag=False)
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
                        flag="--rerank")
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
    qdrant_api_key: str | None = opt(help="Qdrant API key (never written to disk).",
                                     envvar="QDRANT_API_KEY")
    data_dir: str | None = opt(help="Qdrant Edge storage folder (default RUN/qdrant or ~/.searchtune/qdrant).")
    upsert_batch_size: int = opt(256, "Points per upsert request.", flag=False, positive=True)
    encode_processes: int = opt(1, "Processes that encode products while indexing (each loads the models; on a "
                                   "CPU they share its cores, with GPUs each takes one).", positive=True)
    # How a new collection stores its points (Qdrant's own options; memory per million products measured in
    # BENCHMARKS.md, "Storage"). Set in a --config file: they decide memory, not results.
    sparse_on_disk: bool = opt(False, "Sparse vectors' index on disk (memory-mapped) instead of in RAM.", flag=False)
    dense_datatype: str = opt("float32", "Dense vectors stored as float32, float16 or uint8.", flag=False)
    payload_on_disk: bool = opt(False, "Payloads (titles, texts) on disk instead of in RAM.", flag=False)
    shards: int | None = opt(help="A server's shard number for a new collection (default: the server's).",
                             flag=False, positive=True)
    replicas: int | None = opt(help="A server's replication factor for a new collection (default: the server's).",
                               flag=False, positive=True)
