"""The ``searchtune`` command line (typer + rich).

Every command shares the same data and model options; flags left out keep the
value from ``--config`` or the default in :mod:`searchtune.config`. User errors
print one line and exit with status 2.
"""

from __future__ import annotations

import logging
import shlex
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from . import __version__
from .config import Config, update
from .errors import SearchtuneError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Fine-tune SPLADE search models on a product catalog, index them in Qdrant, and prove "
                       "they beat BM25 on held-out queries.")
console = Console(stderr=True, soft_wrap=True)
out_console = Console(soft_wrap=True)

# -- shared options ------------------------------------------------------------
Data = Annotated[Path | None, typer.Option("--data", help="One file: a catalog, or query + product + label rows.")]
Catalog = Annotated[Path | None, typer.Option(help="Products file (use with --queries).")]
Queries = Annotated[Path | None, typer.Option(help="Judgments file: query (or query id), product id, label.")]
QueryTexts = Annotated[Path | None, typer.Option(help="Query id → text file, for judgments without query text.")]
SplitFile = Annotated[Path | None, typer.Option("--split", help='Split file {"test": [...], "dev": [...]}.')]
ConfigFile = Annotated[Path | None, typer.Option("--config", help="YAML config (sections data/train/evaluate/index).")]
Encoding = Annotated[str | None, typer.Option(help="File encoding (detected when left out).")]
LabelScale = Annotated[str | None, typer.Option(help="Label scale: 1-3, 1-4, esci, wands, 0-2, binary, graded.")]
PositiveMinGain = Annotated[int | None, typer.Option(help="Lowest gain that counts as a positive.")]
DupProducts = Annotated[str | None, typer.Option(help="A product id seen with two titles: 'error' or 'first'.")]
Column = Annotated[str | None, typer.Option(show_default=False)]
Model = Annotated[str | None, typer.Option("--model", help="Base model: splade-tiny, a folder or a hub id.")]
QdrantUrl = Annotated[str | None, typer.Option(help="Qdrant server URL (default: embedded Qdrant Edge).")]
QdrantKey = Annotated[str | None, typer.Option(help="Qdrant API key.", envvar="QDRANT_API_KEY")]
DataDir = Annotated[Path | None, typer.Option(help="Qdrant Edge storage folder.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="More logging.")]


def _setup_logging(verbose: bool) -> None:
    handler = RichHandler(console=console, show_path=False, show_time=False)
    handler.setLevel(logging.DEBUG if verbose else logging.INFO)  # bm25s sets its own logger to DEBUG on import
    warnings.filterwarnings("ignore", message=".*unsafe cast from uint64 to int64.*")  # ranx's numba kernels
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler], format="%(message)s",
                        force=True)
    logging.getLogger("searchtune").setLevel(logging.INFO)
    for noisy in ("httpx", "sentence_transformers", "transformers", "bm25s", "numba"):
        logging.getLogger(noisy).setLevel(logging.INFO if verbose else logging.WARNING)


def _config(config_file, *, data=None, catalog=None, queries=None, query_texts=None, split=None, encoding=None,
            label_scale=None, positive_min_gain=None, duplicate_products=None, columns=None, train=None,
            qdrant_url=None, qdrant_api_key=None, data_dir=None) -> Config:
    config = Config.load(config_file) if config_file else Config()
    update(config.data, {"data": _s(data), "catalog": _s(catalog), "queries": _s(queries), "query_texts": _s(query_texts),
                         "split": _s(split), "encoding": encoding, "label_scale": label_scale,
                         "positive_min_gain": positive_min_gain, "duplicate_products": duplicate_products},
           where="flags")
    config.data.columns.update({k: v for k, v in (columns or {}).items() if v})
    update(config.train, train or {}, where="flags")
    update(config.index, {"qdrant_url": qdrant_url, "qdrant_api_key": qdrant_api_key, "data_dir": _s(data_dir)},
           where="flags")
    if config.data.duplicate_products not in ("error", "first"):
        raise SearchtuneError(f"--duplicate-products must be 'error' or 'first', not '{config.data.duplicate_products}'")
    return config


COLUMN_ROLES = ("product_id", "title", "brand", "description", "bullets", "attributes", "category", "query",
                "query_id", "label")
TRAIN_FLAGS = {"kind": "kind", "mini_batch_size": "mini_batch_size", "negatives_file": "negatives_file",
               "model": "model", "lr": "learning_rate", "batch_size": "batch_size", "epochs": "epochs",
               "max_seq_length": "max_seq_length", "seed": "seed", "min_positive_gain": "min_positive_gain",
               "min_gain_fallback": "min_gain_fallback", "query_typo_rate": "query_typo_rate"}


GENERATE_FLAGS = {"llm": "llm", "llm_base_url": "base_url", "synthetic_queries": "queries_file",
                  "per_product": "per_product", "max_products": "max_products", "concurrency": "concurrency",
                  "timeout": "timeout", "max_retries": "max_retries", "parse_retries": "parse_retries",
                  "llm_threads": "threads", "generate_seed": "seed", "cache": "cache", "price_input": "price_input",
                  "price_output": "price_output"}

MINE_FLAGS = {"mine_top_k": "top_k", "negatives_per_query": "negatives_per_query",
              "negatives_per_row": "negatives_per_row", "mine_margin": "margin", "start_model": "start_model",
              "mine_seed": "seed", "soup": "soup", "soup_with": "soup_with"}


def _config_from(params: dict, config_file=None) -> Config:
    """The Config for a command from its parameters (``locals()``); flags a command lacks count as not given."""
    from .mining import check_config, parse_window

    p = params
    columns = {role: p.get(("id" if role == "product_id" else role) + "_column") for role in COLUMN_ROLES}
    train = {field: _s(p.get(flag)) if isinstance(p.get(flag), Path) else p.get(flag)
             for flag, field in TRAIN_FLAGS.items()}
    names = ("data", "catalog", "queries", "query_texts", "split", "encoding", "label_scale", "positive_min_gain",
             "duplicate_products", "qdrant_url", "qdrant_api_key", "data_dir")
    config = _config(config_file or p.get("config"), columns=columns, train=train, **{n: p.get(n) for n in names})
    mine = {field: p.get(flag) for flag, field in MINE_FLAGS.items()}
    if p.get("negatives"):
        mine["source"] = {"ance": "model"}.get(p["negatives"], p["negatives"])
    if p.get("ance_rounds") is not None:
        mine["rounds"] = p["ance_rounds"]
        if p["ance_rounds"] > 0 and not p.get("negatives"):
            mine["source"] = "model"
    if p.get("mine_window"):
        mine["window_start"], mine["window_end"] = parse_window(p["mine_window"])
    update(config.mine, mine, where="flags")
    update(config.generate, {field: _s(p.get(flag)) if isinstance(p.get(flag), Path) else p.get(flag)
                             for flag, field in GENERATE_FLAGS.items()}, where="flags")
    if p.get("matryoshka"):
        try:
            config.train.matryoshka_dims = [int(x) for x in str(p["matryoshka"]).split(",") if x.strip()]
        except ValueError:
            raise SearchtuneError(f"--matryoshka must be sizes like 384,256,128,64, got '{p['matryoshka']}'") from None
    if config.train.kind not in ("sparse", "dense"):
        raise SearchtuneError(f"--kind must be sparse or dense, not '{config.train.kind}'")
    if config.train.kind == "dense" and config.mine.source == "model":
        raise SearchtuneError("ANCE rounds mine with the SPLADE index; for a dense model pass --negatives bm25, or "
                              "--negatives-file RUN/rounds/round-N/negatives.jsonl from a sparse run")
    if p.get("precision"):
        config.train.precision = config.evaluate.precision = p["precision"]
    check_config(config.mine)
    return config


def _matryoshka(p, model_ref: str | None, flag: str | None) -> None:
    """Per-size evaluation of a dense model: the sizes from ``flag`` or those it was trained with."""
    from .models import model_kind, trained_config

    if not model_ref or model_kind(model_ref) != "dense":
        if flag:
            raise SearchtuneError("--matryoshka needs a dense model (--dense-model, or a dense --model)")
        return
    dims = p.config.train.matryoshka_dims if flag else (trained_config(model_ref) or {}).get("matryoshka_dims") or []
    if dims:
        p.matryoshka(model_ref, dims)


def _s(path) -> str | None:
    return None if path is None else str(path)


def _run(fn, kind: str | None = None, out=None, params: dict | None = None):
    """Run a command body, turning user errors into one clear line and exit status 2.

    With ``kind`` the run is recorded in the job store (``searchtune jobs``); the
    body may return ``{"metrics": ..., "artifacts": ...}`` for the record.
    """
    try:
        if kind is None:
            return fn()
        from .jobs import recorded

        snapshot = {k: (str(v) if isinstance(v, Path) else v) for k, v in (params or {}).items()
                    if v is not None and v is not False and k not in ("qdrant_api_key", "llm_api_key", "verbose")}
        with recorded(kind, snapshot, command=_command(), out_dir=None if out is None else str(out)) as job:
            result = fn()
            if isinstance(result, dict):
                job.update(result)
            return result
    except SearchtuneError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: run the same command with --resume to continue where it stopped")
        raise typer.Exit(130) from None


def _print_metrics(report: dict) -> None:
    from .report import labels_for

    metrics, changes = report["metrics"], report["change_vs_bm25_percent"]
    table = Table(title=f"Held-out test queries ({report['split'].get('test_evaluated')})")
    table.add_column("system")
    cols = ["ndcg@10", "mrr@10", "recall@10", "recall@100", "precision@10"]
    for c in cols:
        table.add_column(c.replace("precision", "P").replace("recall", "R"), justify="right")
    table.add_column("vs BM25", justify="right")
    for name, m in metrics.items():
        delta = changes.get(name, {}).get("ndcg@10")
        table.add_row(labels_for(report, short=True).get(name, name), *[f"{m.get(c, float('nan')):.4f}" for c in cols],
                      "—" if delta is None else f"{delta:+.1f}%")
    out_console.print(table)


@app.callback()
def main(version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False) -> None:
    if version:
        out_console.print(__version__)
        raise typer.Exit()


# -- commands ----------------------------------------------------------------------
LR = Annotated[float | None, typer.Option("--lr", help="Learning rate.")]
Batch = Annotated[int | None, typer.Option(help="Training batch size.")]
Epochs = Annotated[float | None, typer.Option(help="Training epochs.")]
MaxLen = Annotated[int | None, typer.Option(help="Max tokens per text.")]
Seed = Annotated[int | None, typer.Option(help="Training seed.")]
MinGain = Annotated[int | None, typer.Option(help="Train only on positives with at least this gain.")]
MinGainFallback = Annotated[bool | None, typer.Option(
    "--min-gain-fallback/--no-min-gain-fallback",
    help="With --min-positive-gain: a query with no product at that gain trains on its best positives instead.")]
TypoRate = Annotated[float | None, typer.Option(
    help="Fraction of training rows that also train with a misspelled query (typo-aware training; 0 = off).")]
Out = Annotated[Path, typer.Option("--out", help="Run directory.")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue an interrupted run in --out.")]
Precision = Annotated[str | None, typer.Option(help="auto (bf16 where the hardware has it), bf16 or fp32.")]
Negatives = Annotated[str | None, typer.Option(
    help="Hard negatives: judged (labelled gain 0; default), none (in-batch only), ance/model (mined by the "
         "model in rounds), bm25.")]
AnceRounds = Annotated[int | None, typer.Option(help="Mining rounds after the first training (implies --negatives ance).")]
MineTopK = Annotated[int | None, typer.Option(help="Candidates retrieved per training query when mining.")]
MineWindow = Annotated[str | None, typer.Option(help="Rank window negatives come from, e.g. 10-50.")]
NegPerQuery = Annotated[int | None, typer.Option(help="Negatives kept per training query (judged first).")]
NegPerRow = Annotated[int | None, typer.Option(help="Negatives per training row.")]
MineMargin = Annotated[float | None, typer.Option(help="Skip candidates above (1 - margin) x the best positive's score.")]
Kind = Annotated[str | None, typer.Option(help="Model kind: sparse (SPLADE, default) or dense.")]
Matryoshka = Annotated[str | None, typer.Option(help="Dense: Matryoshka sizes, e.g. 384,256,128,64.")]
MiniBatch = Annotated[int | None, typer.Option(help="Dense: CachedMNRL mini-batch (large batches, small memory).")]
NegFile = Annotated[Path | None, typer.Option(help="Train on the negatives of a mined JSONL (searchtune mine, RUN/rounds).")]
StartModel = Annotated[str | None, typer.Option(help="ANCE: mine the first round with this model instead of training round 0.")]
MineSeed = Annotated[int | None, typer.Option(help="Seed for choosing negatives.")]
Soup = Annotated[bool | None, typer.Option("--soup/--no-soup", help="ANCE: after the rounds, average the rounds' "
                                           "models (greedy soup); kept only if dev rises.")]
SoupWith = Annotated[list[str] | None, typer.Option(help="ANCE: another soup ingredient, a model fine-tuned from the "
                                                    "same base (repeat the flag); implies --soup.")]
LLM = Annotated[str | None, typer.Option("--llm", help="Model for synthetic queries: openai:gpt-4o-mini, "
                "openrouter:M, anthropic:M, ollama:M, vllm:M, llamacpp:M, a model at --llm-base-url, or a .gguf "
                "file. Left out: the offline generator.")]
LLMBaseUrl = Annotated[str | None, typer.Option(help="OpenAI-compatible base URL (overrides the provider's).")]
LLMKey = Annotated[str | None, typer.Option(help="LLM API key (else from the provider's variable, "
                                                  "SEARCHTUNE_LLM_API_KEY or the .env file).")]
SynQueries = Annotated[Path | None, typer.Option(help="Synthetic queries.jsonl (from generate-queries) to train on.")]
PerProduct = Annotated[int | None, typer.Option(help="Synthetic queries per product (default 4: specific, "
                                                     "general, need, attribute).")]
MaxProducts = Annotated[int | None, typer.Option(help="Generate for a deterministic sample of this many products.")]



@app.command()
def pipeline(
    out: Out, data: Data = None, catalog: Catalog = None, queries: Queries = None, query_texts: QueryTexts = None,
    split: SplitFile = None, config: ConfigFile = None, model: Model = None, lr: LR = None, batch_size: Batch = None,
    epochs: Epochs = None, max_seq_length: MaxLen = None, seed: Seed = None, min_positive_gain: MinGain = None,
    min_gain_fallback: MinGainFallback = None, query_typo_rate: TypoRate = None, encoding: Encoding = None, label_scale: LabelScale = None, positive_min_gain: PositiveMinGain = None,
    duplicate_products: DupProducts = None, id_column: Column = None, title_column: Column = None,
    brand_column: Column = None, description_column: Column = None, bullets_column: Column = None,
    attributes_column: Column = None, category_column: Column = None, query_column: Column = None,
    query_id_column: Column = None, label_column: Column = None, qdrant_url: QdrantUrl = None,
    qdrant_api_key: QdrantKey = None, kind: Kind = None, matryoshka: Matryoshka = None, mini_batch_size: MiniBatch = None,
    negatives_file: NegFile = None, negatives: Negatives = None, ance_rounds: AnceRounds = None, mine_top_k: MineTopK = None,
    mine_window: MineWindow = None, negatives_per_query: NegPerQuery = None, negatives_per_row: NegPerRow = None,
    mine_margin: MineMargin = None, start_model: StartModel = None, mine_seed: MineSeed = None,
    soup: Soup = None, soup_with: SoupWith = None,
    llm: LLM = None, llm_base_url: LLMBaseUrl = None, llm_api_key: LLMKey = None, synthetic_queries: SynQueries = None,
    per_product: PerProduct = None, max_products: MaxProducts = None,
    precision: Precision = None, resume: Resume = False, verbose: Verbose = False,
) -> None:
    """Load → split → BM25 baselines → fine-tune → index → evaluate → report, in one run directory.

    With a catalog and no queries, synthetic queries are generated first (--llm, else the offline generator) and
    the split is by product. With real queries and --llm or --synthetic-queries, the model trains on synthetic
    queries and is evaluated on the real held-out ones."""
    _setup_logging(verbose)
    params = dict(locals())

    def body():
        from .pipeline import Pipeline

        cfg = _config_from(params)
        report = Pipeline(cfg, out, resume=resume, command=_command(), llm_api_key=llm_api_key).run()
        _print_metrics(report)
        out_console.print(f"report: {out / 'report.md'}   model: {out / 'model'}")
        return {"metrics": report["metrics"], "artifacts": {"run": str(out), "model": str(out / "model"),
                                                            "report": str(out / "report.md")}}

    _run(body, "pipeline", out, params)


@app.command()
def train(
    out: Out, data: Data = None, catalog: Catalog = None, queries: Queries = None, query_texts: QueryTexts = None,
    split: SplitFile = None, config: ConfigFile = None, model: Model = None, lr: LR = None, batch_size: Batch = None,
    epochs: Epochs = None, max_seq_length: MaxLen = None, seed: Seed = None, min_positive_gain: MinGain = None,
    min_gain_fallback: MinGainFallback = None, query_typo_rate: TypoRate = None, encoding: Encoding = None, label_scale: LabelScale = None, positive_min_gain: PositiveMinGain = None,
    duplicate_products: DupProducts = None, id_column: Column = None, title_column: Column = None,
    brand_column: Column = None, description_column: Column = None, bullets_column: Column = None,
    attributes_column: Column = None, category_column: Column = None, query_column: Column = None,
    query_id_column: Column = None, label_column: Column = None, kind: Kind = None, matryoshka: Matryoshka = None, mini_batch_size: MiniBatch = None,
    negatives_file: NegFile = None, negatives: Negatives = None, ance_rounds: AnceRounds = None, mine_top_k: MineTopK = None,
    mine_window: MineWindow = None, negatives_per_query: NegPerQuery = None, negatives_per_row: NegPerRow = None,
    mine_margin: MineMargin = None, start_model: StartModel = None, mine_seed: MineSeed = None,
    soup: Soup = None, soup_with: SoupWith = None,
    llm: LLM = None, llm_base_url: LLMBaseUrl = None, llm_api_key: LLMKey = None, synthetic_queries: SynQueries = None,
    per_product: PerProduct = None, max_products: MaxProducts = None,
    precision: Precision = None, resume: Resume = False, verbose: Verbose = False,
) -> None:
    """Fine-tune a SPLADE model on the training queries (dev and test queries are held out); synthetic queries
    as in `pipeline` when the data has none, or with --llm / --synthetic-queries."""
    _setup_logging(verbose)
    params = dict(locals())

    def body():
        from .pipeline import Pipeline

        cfg = _config_from(params)
        p = Pipeline(cfg, out, resume=resume, command=_command(), llm_api_key=llm_api_key)
        p.load()
        p.split()
        path = p.train()
        out_console.print(f"model: {path}")
        return {"artifacts": {"run": str(out), "model": str(path)}}

    _run(body, "train", out, params)


@app.command()
def evaluate(
    out: Out, data: Data = None, catalog: Catalog = None, queries: Queries = None, query_texts: QueryTexts = None,
    split: SplitFile = None, config: ConfigFile = None,
    model: Annotated[str | None, typer.Option("--model", help="The tuned model to evaluate (default: OUT/model).")] = None,
    base_model: Annotated[str | None, typer.Option(help="The untuned model to compare with.")] = None,
    dense_model: Annotated[str | None, typer.Option(help="A tuned dense model: adds dense and hybrid systems.")] = None,
    dense_base: Annotated[str | None, typer.Option(help="The untuned dense model (default minilm with --dense-model).")] = None,
    systems: Annotated[str | None, typer.Option(help="Comma list of systems (default: all the given models allow): "
                                                     "bm25-qdrant, sparse-base, sparse-tuned, dense-base, dense-tuned, "
                                                     "hybrid-base, hybrid-tuned, hybrid-tuned-both, hybrid-tuned-bm25.")] = None,
    fusion: Annotated[str, typer.Option(help="Hybrid fusion in Qdrant: rrf or dbsf.")] = "rrf",
    weights: Annotated[str | None, typer.Option(help="RRF weights per list, e.g. 1,2 (sparse, dense).")] = None,
    matryoshka: Annotated[str | None, typer.Option(help="Also evaluate the tuned dense model cut to these sizes, "
                                                        "e.g. 384,256,128,64 (default: the sizes it was trained with).")] = None,
    encoding: Encoding = None, label_scale: LabelScale = None, positive_min_gain: PositiveMinGain = None,
    duplicate_products: DupProducts = None, id_column: Column = None, title_column: Column = None,
    brand_column: Column = None, description_column: Column = None, bullets_column: Column = None,
    attributes_column: Column = None, category_column: Column = None, query_column: Column = None,
    query_id_column: Column = None, label_column: Column = None, qdrant_url: QdrantUrl = None,
    qdrant_api_key: QdrantKey = None, verbose: Verbose = False,
) -> None:
    """Compare BM25, the untuned model and a tuned model on the held-out test queries; write the report."""
    _setup_logging(verbose)
    params = {**locals(), "model": base_model}  # --model here is the tuned model; the base model is --base-model

    def body():
        from .pipeline import Pipeline

        cfg = _config_from(params, config or (out / "config.yaml" if (out / "config.yaml").exists() else None))
        tuned = model or (str(out / "model") if (out / "model").is_dir() else None)
        p = Pipeline(cfg, out, resume=True, command=_command())
        if dense_model or dense_base or systems:
            from .systems import Models

            try:
                w = [float(x) for x in weights.split(",")] if weights else None
            except ValueError:
                raise SearchtuneError(f"--weights must be numbers like 1,2, got '{weights}'") from None
            models = Models(sparse_base=base_model or "splade-tiny", sparse_tuned=tuned,
                            dense_base=dense_base or "minilm", dense_tuned=dense_model)
            p.load()
            p.split()
            p.baselines()
            p.compare(models, systems=[x.strip() for x in systems.split(",")] if systems else None, fusion=fusion,
                      weights=w)
            _matryoshka(p, dense_model or tuned, matryoshka)
            report = p.report()
        else:
            p.run(train=False, model=tuned)
            _matryoshka(p, tuned, matryoshka)
            report = p.report()
        _print_metrics(report)
        out_console.print(f"report: {out / 'report.md'}")
        return {"metrics": report["metrics"], "artifacts": {"run": str(out), "report": str(out / "report.md")}}

    _run(body, "evaluate", out, params)


@app.command()
def index(
    collection: Annotated[str, typer.Option(help="Collection name.")] = "products",
    data: Data = None, catalog: Catalog = None, model: Model = None, config: ConfigFile = None,
    encoding: Encoding = None, duplicate_products: DupProducts = None, id_column: Column = None,
    title_column: Column = None, brand_column: Column = None, description_column: Column = None,
    bullets_column: Column = None, attributes_column: Column = None, category_column: Column = None,
    qdrant_url: QdrantUrl = None, qdrant_api_key: QdrantKey = None,
    dense_model: Annotated[str | None, typer.Option(help="Also a dense model (and BM25): one hybrid collection "
                                                         "for --mode sparse|dense|hybrid|bm25.")] = None,
    data_dir: DataDir = None, verbose: Verbose = False,
) -> None:
    """Encode the catalog with a SPLADE model (and optionally a dense model + BM25) into a Qdrant collection."""
    _setup_logging(verbose)
    params = dict(locals())

    def body():
        from .data import load_data
        from .index import open_index
        from .models import load_sparse_encoder, resolve_model
        from .search import index_products

        cfg = _config_from(params)
        if dense_model:
            from .systems import Models, build_collection

            d = load_data(cfg.data)
            with open_index(collection, cfg.index) as ix:
                stats = build_collection(ix, d, Models(sparse_base=resolve_model(cfg.train.model),
                                                       dense_base=resolve_model(dense_model)),
                                         batch_size=cfg.evaluate.encode_batch_size, precision=cfg.evaluate.precision)
                count = ix.count()
            out_console.print(f"indexed {stats['documents']} products into '{collection}' ({count} points; sparse, "
                              f"dense and bm25 vectors; documents/s {stats['documents_per_second']})")
            return {"metrics": {"points": count}, "artifacts": {"collection": collection}}
        products = load_data(cfg.data).products
        m = load_sparse_encoder(cfg.train.model)
        with open_index(collection, cfg.index) as ix:
            stats = index_products(m, products, ix, batch_size=cfg.evaluate.encode_batch_size, recreate=False,
                                   metadata={"model": resolve_model(cfg.train.model)})
            count = ix.count()
        out_console.print(f"indexed {stats['documents']} products into '{collection}' ({count} points, "
                          f"{stats['documents_per_second']} documents/s)")
        return {"metrics": {"points": count, **stats}, "artifacts": {"collection": collection}}

    _run(body, "index", None, params)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="The search query.")],
    collection: Annotated[str, typer.Option(help="Collection name.")] = "products",
    model: Annotated[str | None, typer.Option("--model", help="Model (default: the one the collection was indexed with).")] = None,
    k: Annotated[int, typer.Option("-k", "--top-k", help="How many products.")] = 10,
    qdrant_url: QdrantUrl = None, qdrant_api_key: QdrantKey = None, data_dir: DataDir = None,
    terms: Annotated[bool, typer.Option(help="Also show the query's top expansion terms.")] = False,
    mode: Annotated[str, typer.Option(help="sparse, dense, hybrid or bm25 (the last three need a collection "
                                           "indexed with --dense-model).")] = "sparse",
    fusion: Annotated[str, typer.Option(help="Hybrid fusion: rrf or dbsf.")] = "rrf",
) -> None:
    """Search a collection and print the ranked products."""
    _setup_logging(False)

    def body():
        from .encode import encode_sparse, top_terms
        from .index import open_index
        from .models import load_sparse_encoder

        cfg = _config(None, qdrant_url=qdrant_url, qdrant_api_key=qdrant_api_key, data_dir=data_dir)
        with open_index(collection, cfg.index) as ix:
            if not ix.exists():
                raise SearchtuneError(f"collection '{collection}' not found; create it with `searchtune index "
                                      f"--data CATALOG --collection {collection}`")
            meta = ix.metadata()
            if mode not in ("sparse", "dense", "hybrid", "bm25"):
                raise SearchtuneError(f"--mode must be sparse, dense, hybrid or bm25, not '{mode}'")
            signature = (meta.get("signature") or {}).get("models")
            if signature:  # a hybrid collection (searchtune index --dense-model)
                from .systems import Models, search_system

                models = Models(sparse_base=model or signature.get("sparse_base"), dense_base=signature.get("dense_base"))
                system = {"sparse": "sparse-base", "dense": "dense-base", "hybrid": "hybrid-base",
                          "bm25": "bm25-qdrant"}[mode]
                hits = search_system(ix, models, [query], system, k=k, fusion=fusion)[0]
                m = load_sparse_encoder(models.sparse_base) if terms else None
                vec = encode_sparse(m, [query], kind="query") if terms else None
            else:
                if mode != "sparse":
                    raise SearchtuneError(f"collection '{collection}' holds only SPLADE vectors; for --mode {mode} "
                                          "index it with `searchtune index --dense-model minilm ...`")
                model_ref = model or meta.get("model") or "splade-tiny"
                m = load_sparse_encoder(model_ref)
                vec = encode_sparse(m, [query], kind="query")
                hits = ix.search(vec, limit=k)[0]
        if terms:
            out_console.print("query terms: " + ", ".join(f"{t} {w:.2f}" for t, w in top_terms(m, vec, 12)))
        table = Table(title=f"“{query}” in {collection}")
        for c, j in (("#", "right"), ("score", "right"), ("product id", "left"), ("title", "left")):
            table.add_column(c, justify=j)
        for i, h in enumerate(hits, 1):
            table.add_row(str(i), f"{h.score:.3f}", h.product_id, h.payload.get("title", ""))
        out_console.print(table)

    _run(body)


@app.command()
def mine(
    out: Annotated[Path, typer.Option("--out", help="JSONL file for the mined negatives (one line per query).")],
    data: Data = None, catalog: Catalog = None, queries: Queries = None, query_texts: QueryTexts = None,
    split: SplitFile = None, config: ConfigFile = None, model: Model = None,
    negatives: Negatives = None, mine_top_k: MineTopK = None, mine_window: MineWindow = None,
    negatives_per_query: NegPerQuery = None, mine_margin: MineMargin = None, mine_seed: MineSeed = None,
    collection: Annotated[str | None, typer.Option(help="Collection to (re)use; default: mine-<model folder>.")] = None,
    encoding: Encoding = None, label_scale: LabelScale = None, positive_min_gain: PositiveMinGain = None,
    duplicate_products: DupProducts = None, qdrant_url: QdrantUrl = None, qdrant_api_key: QdrantKey = None,
    data_dir: DataDir = None, precision: Precision = None, verbose: Verbose = False,
) -> None:
    """Mine hard negatives for the training queries (never dev or test) and write them to JSONL for inspection."""
    _setup_logging(verbose)
    params = dict(locals())
    if not negatives:
        params["negatives"] = "model"

    def body():
        import json as _json

        from .data import load_data, load_split_file, split_queries
        from .evaluate import ensure_index
        from .index import open_index
        from .mining import mine as run_mine
        from .mining import write_mined
        from .models import load_sparse_encoder, resolve_model

        cfg = _config_from(params)
        if cfg.mine.source in ("judged", "none"):
            raise SearchtuneError(f"--negatives {cfg.mine.source} mines nothing; use ance (the model) or bm25")
        d = load_data(cfg.data)
        if cfg.data.split:
            sp_ = load_split_file(cfg.data.split, d.queries)
        else:
            sp_ = split_queries(list(d.queries), dev_fraction=cfg.data.dev_fraction,
                                test_fraction=cfg.data.test_fraction, seed=cfg.data.split_seed)
        if cfg.mine.source == "bm25":
            records, stats = run_mine(d, sp_, cfg.mine, min_gain=cfg.train.min_positive_gain,
                                     fallback=cfg.train.min_gain_fallback)
        else:
            ref = resolve_model(cfg.train.model)
            m = load_sparse_encoder(ref)
            name = collection or "mine-" + Path(ref).name.replace(" ", "_")
            with open_index(name, cfg.index) as ix:
                ensure_index(m, ref, d, ix, batch_size=cfg.evaluate.encode_batch_size, progress=True,
                             catalog_key=str(len(d.products)), precision=cfg.evaluate.precision)
                records, stats = run_mine(d, sp_, cfg.mine, model=m, index=ix, precision=cfg.evaluate.precision,
                                          min_gain=cfg.train.min_positive_gain, fallback=cfg.train.min_gain_fallback)
        write_mined(out, records)
        out_console.print(_json.dumps(stats, indent=1))
        out_console.print(f"mined negatives for {len(records)} training queries: {out}")
        return {"metrics": {k: v for k, v in stats.items() if isinstance(v, (int, float))},
                "artifacts": {"negatives": str(out)}}

    _run(body, "mine", None, params)


@app.command("generate-queries")
def generate_queries(
    out: Annotated[Path, typer.Option("--out", help="queries.jsonl to write (stats go to queries.stats.json).")],
    data: Data = None, catalog: Catalog = None, config: ConfigFile = None, llm: LLM = None,
    llm_base_url: LLMBaseUrl = None, llm_api_key: LLMKey = None, per_product: PerProduct = None,
    max_products: MaxProducts = None,
    concurrency: Annotated[int | None, typer.Option(help="Requests in flight (default 4).")] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds per request (default 60).")] = None,
    max_retries: Annotated[int | None, typer.Option(help="HTTP retries with exponential backoff (default 5).")] = None,
    parse_retries: Annotated[int | None, typer.Option(help="Asks again after a malformed answer (default 2).")] = None,
    llm_threads: Annotated[int | None, typer.Option(help="CPU threads for a .gguf model (default 1).")] = None,
    generate_seed: Annotated[int | None, typer.Option("--seed", help="Seed for the product sample.")] = None,
    cache: Annotated[Path | None, typer.Option(help="Answer cache (default $SEARCHTUNE_HOME/query_cache.sqlite).")] = None,
    retry_failed: Annotated[bool, typer.Option(help="Ask again for products whose answers were malformed.")] = False,
    price_input: Annotated[float | None, typer.Option(help="Price per 1M prompt tokens (cost estimate).")] = None,
    price_output: Annotated[float | None, typer.Option(help="Price per 1M completion tokens.")] = None,
    encoding: Encoding = None, duplicate_products: DupProducts = None, id_column: Column = None,
    title_column: Column = None, brand_column: Column = None, description_column: Column = None,
    bullets_column: Column = None, attributes_column: Column = None, category_column: Column = None,
    verbose: Verbose = False,
) -> None:
    """Write shopper-like queries for catalog products (an LLM, or the offline generator without --llm).

    Answers are cached per model, prompt version and product, so a rerun or a crashed run pays nothing twice."""
    _setup_logging(verbose)
    params = dict(locals())

    def body():
        import json as _json

        from .data import load_data
        from .synthetic import generate, write_queries

        cfg = _config_from(params)
        if cfg.data.data is None and cfg.data.catalog is None:
            raise SearchtuneError("no catalog given: pass --data FILE or --catalog FILE")
        d = load_data(cfg.data)
        g = cfg.generate
        records, stats = generate(d.products, llm=g.llm, per_product=g.per_product, max_products=g.max_products,
                                  seed=g.seed, concurrency=g.concurrency, timeout=g.timeout, max_retries=g.max_retries,
                                  parse_retries=g.parse_retries, threads=g.threads, base_url=g.base_url,
                                  api_key=llm_api_key, cache_path=g.cache, retry_failed=retry_failed,
                                  price_input=g.price_input, price_output=g.price_output)
        write_queries(out, records, stats)
        out_console.print(_json.dumps(stats, indent=1))
        out_console.print(f"{len(records)} queries for {stats.get('products_with_queries')} products: {out}")
        return {"metrics": {k: v for k, v in stats.items() if isinstance(v, (int, float))},
                "artifacts": {"queries": str(out)}}

    _run(body, "generate", None, params)


@app.command()
def export(
    run: Annotated[Path, typer.Argument(help="Run directory (with model/ and report.json).")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the model to.")],
    overwrite: Annotated[bool, typer.Option(help="Replace --out if it exists.")] = False,
) -> None:
    """Write a self-contained model folder with a model card; sentence-transformers loads it directly."""
    _setup_logging(False)
    params = dict(locals())

    def body():
        from .export import export_model

        path = export_model(run, out, overwrite=overwrite)
        out_console.print(f"exported {run} to {path} (load it with SparseEncoder('{path}'))")
        return {"artifacts": {"model": str(path)}}

    _run(body, "export", run, params)


@app.command()
def average(
    models: Annotated[list[str], typer.Argument(help="Models fine-tuned from the same base (folders).")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the averaged model to.")],
    weights: Annotated[str | None, typer.Option(help="Comma-separated weights, one per model (default equal).")] = None,
) -> None:
    """Average the weights of fine-tuned models (a model soup); `evaluate --model OUT` tells whether it helps.
    Inside a run, `pipeline --negatives ance --soup` does this greedily and keeps a soup only if dev rises."""
    _setup_logging(False)
    params = dict(locals())

    def body():
        from .soup import average_models

        try:
            w = [float(x) for x in weights.split(",")] if weights else None
        except ValueError:
            raise SearchtuneError(f"--weights must be numbers like 0.5,0.5, got '{weights}'") from None
        path = average_models(models, out, weights=w)
        out_console.print(f"averaged {len(models)} models into {path}")
        return {"artifacts": {"model": str(path)}}

    _run(body, "average", out, params)


@app.command()
def publish(
    run: Annotated[Path, typer.Argument(help="Run directory (with model/ and report.json).")],
    repo: Annotated[str, typer.Option("--repo", help="Hub repository, user/name.")],
    public: Annotated[bool, typer.Option(help="Make the repository public (default private).")] = False,
) -> None:
    """Push the exported model to the Hugging Face hub (needs HF_TOKEN and network)."""
    _setup_logging(False)
    params = dict(locals())

    def body():
        from .export import publish as push

        url = push(run, repo, private=not public)
        out_console.print(f"published: {url}")
        return {"artifacts": {"url": url}}

    _run(body, "publish", run, params)


jobs_app = typer.Typer(help="The job history: every train, evaluate, index, mine, export and publish run.",
                       no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")


@jobs_app.command("list")
def jobs_list(
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 30,
) -> None:
    """List recent jobs."""
    def body():
        import datetime

        from .jobs import JobStore

        table = Table(title="jobs")
        for c in ("id", "kind", "status", "origin", "created", "error"):
            table.add_column(c)
        for j in JobStore().list(status=status, kind=kind, limit=limit):
            created = datetime.datetime.fromtimestamp(j.created_at).strftime("%Y-%m-%d %H:%M:%S")
            table.add_row(j.id, j.kind, j.status, j.origin, created, (j.error or "")[:60])
        out_console.print(table)

    _run(body)


@jobs_app.command("show")
def jobs_show(job_id: Annotated[str, typer.Argument(help="Job id.")],
              log: Annotated[bool, typer.Option(help="Print the log too.")] = False) -> None:
    """Show one job: config, metrics, artifacts (and log)."""
    def body():
        import json as _json

        from .jobs import JobStore

        store = JobStore()
        store.reconcile()
        job = store.get(job_id)
        out_console.print_json(_json.dumps(job.to_dict(), default=str))
        if log:
            out_console.print(store.log(job_id)[0], markup=False, highlight=False)

    _run(body)


@jobs_app.command("cancel")
def jobs_cancel(job_id: Annotated[str, typer.Argument(help="Job id.")]) -> None:
    """Cancel a queued or running job (its process gets SIGTERM; rerun with --resume to continue)."""
    def body():
        from .jobs import JobStore

        job = JobStore().cancel(job_id)
        out_console.print(f"job {job.id}: {job.status}")

    _run(body)


@app.command()
def studio(
    host: Annotated[str, typer.Option(help="Address to bind; anything but 127.0.0.1 needs --token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8765,
    token: Annotated[str | None, typer.Option(help="Token every request must carry.",
                                                 envvar="SEARCHTUNE_STUDIO_TOKEN")] = None,
    data_root: Annotated[list[Path] | None, typer.Option(help="Folder data files may come from (repeatable; "
                                                                 "default: the current folder).")] = None,
    runs_dir: Annotated[Path, typer.Option(help="Folder runs are written to.")] = Path("runs"),
) -> None:
    """Start the local web dashboard (train, evaluate, search, collections, jobs, settings)."""
    _setup_logging(False)

    def body():
        from .studio import serve

        url = f"http://{host}:{port}/" + (f"?token={token}" if token else "")
        out_console.print(f"searchtune studio on {url}  (Ctrl-C to stop)")
        serve(host=host, port=port, token=token, data_roots=data_root or [Path.cwd()], runs_dir=runs_dir)

    _run(body)


SECRET_FLAGS = ("--qdrant-api-key", "--llm-api-key")


def _command() -> str:
    """The command line as run, with secret values masked (it goes into reports and the job store)."""
    args, masked = sys.argv[1:], []
    for i, a in enumerate(args):
        if i and args[i - 1] in SECRET_FLAGS:
            a = "***"
        elif a.startswith(tuple(f + "=" for f in SECRET_FLAGS)):
            a = a.split("=", 1)[0] + "=***"
        masked.append(a)
    return "searchtune " + " ".join(shlex.quote(a) for a in masked)


if __name__ == "__main__":  # pragma: no cover
    app()
