"""``index``, ``search`` and ``mine``: collections outside a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..config import Config
from ..errors import SearchtuneError
from .app import app
from .options import config_command, out_console

Collection = Annotated[str, typer.Option(help="Collection name.")]


@config_command(app, "index", sections=("data", "train", "index"), job="index")
def index(
    config: Config, collection: Collection = "products",
    dense_model: Annotated[str | None, typer.Option(help="Also a dense model: one collection for --mode sparse, "
                                                         "dense, hybrid and bm25.")] = None,
    quiet: bool = False,
):
    """Encode the catalog with a model (--model; and --dense-model) into a Qdrant collection, with BM25 vectors."""
    from ..data import load_data
    from ..index import collection as col
    from ..index import open_index
    from ..models import model_kind, resolve_model

    data = load_data(config.data)
    ref = resolve_model(config.train.model)
    models = col.Models(**{f"{model_kind(ref)}_base": ref})
    if dense_model:
        models = col.Models(sparse_base=models.sparse_base, dense_base=resolve_model(dense_model))
    with open_index(collection, config.index) as ix:
        stats = col.build(ix, data, models, bm25=True, batch_size=config.evaluate.encode_batch_size,
                          precision=config.evaluate.precision, progress=not quiet)
        count = ix.count()
    vectors = ", ".join([*models.named(), "bm25"])
    out_console.print(f"indexed {stats['documents']} products into '{collection}' ({count} points; {vectors}"
                      f"{'; unchanged, reused' if stats['reused'] else ''})")
    return {"metrics": {"points": count}, "artifacts": {"collection": collection}}


@config_command(app, "search", sections=("index",))
def search(
    config: Config,
    query: Annotated[str, typer.Argument(help="The search query.")],
    collection: Collection = "products",
    k: Annotated[int, typer.Option("-k", "--top-k", help="How many products.")] = 10,
    terms: Annotated[bool, typer.Option(help="Also show the query's top expansion terms.")] = False,
    mode: Annotated[str, typer.Option(help="sparse, dense, hybrid or bm25 (dense and hybrid need a collection "
                                           "indexed with --dense-model).")] = "sparse",
    fusion: Annotated[str, typer.Option(help="Hybrid fusion: rrf or dbsf.")] = "rrf",
    rerank: Annotated[str | None, typer.Option(help="A trained reranker (RUN/reranker) rescoring the top K; the "
                                                     "table then shows each product's first-stage rank too.")] = None,
    rerank_k: Annotated[int | None, typer.Option(help="Products the reranker rescores (default: the K its run "
                                                      "chose on dev, else 50).")] = None,
    weight: Annotated[float | None, typer.Option(help="Weight of the first stage's score mixed in (default: the "
                                                      "run's choice on dev, else 0).")] = None,
):
    """Search a collection and print the ranked products (with --rerank: first stage, then the reranker)."""
    from ..encode import top_terms
    from ..index import collection as col
    from ..index import open_index
    from ..rerank.model import load_reranker, rerank_hits, saved_choice

    with open_index(collection, config.index) as ix:
        models = col.stored_models(ix)
        system = models.mode_system(mode)
        using = col.SYSTEM_VECTORS[system]
        sparse = next((v for v in using if v.startswith("sparse")), None)
        sparse = sparse or next((v for v in models.named() if v.startswith("sparse")), None)
        if terms and sparse is None:
            raise SearchtuneError(f"collection '{collection}' has no SPLADE model: --terms shows its expansion")
        loaded = {}  # the query is encoded once, for the search and the terms
        vectors, _ = col.query_vectors(ix, models, [query], list(dict.fromkeys([*using, *([sparse] if terms else [])])),
                                       loaded=loaded)
        choice = saved_choice(rerank) if rerank else {}
        rerank_k = rerank_k or choice.get("k") or 50
        hits = col.search(ix, models, [query], system, k=max(k, rerank_k) if rerank else k, fusion=fusion,
                          vectors=vectors)[0]
        if terms:
            shown = top_terms(loaded[sparse], vectors[sparse], 12)
            out_console.print("query terms: " + ", ".join(f"{t} {w:.2f}" for t, w in shown))
    columns = [("#", "right"), ("score", "right"), ("product id", "left"), ("title", "left")]
    if rerank:
        ranked = rerank_hits(load_reranker(rerank), query, hits, k=rerank_k,
                             weight=choice.get("weight", 0.0) if weight is None else weight)[:k]
        rows = [(r["hit"], r["score"], r["first_rank"]) for r in ranked]
        columns.insert(2, ("first stage #", "right"))
        title = f"“{query}” in {collection} ({system}, then the reranker on the top {rerank_k})"
    else:
        rows = [(h, h.score, None) for h in hits]
        title = f"“{query}” in {collection} ({system})"
    table = Table(title=title)
    for c, j in columns:
        table.add_column(c, justify=j)
    for i, (h, score, first) in enumerate(rows, 1):
        cells = [str(i), "—" if score is None else f"{score:.3f}", h.product_id, h.payload.get("title", "")]
        if rerank:
            cells.insert(2, str(first))
        table.add_row(*cells)
    out_console.print(table)


@config_command(app, "mine", sections=("data", "train", "mine", "index"), job="mine")
def mine(
    config: Config,
    out: Annotated[Path, typer.Option("--out", help="JSONL file for the mined negatives (one line per query).")],
    collection: Annotated[str | None, typer.Option(help="Collection to (re)use; default: mine-<model folder>.")] = None,
    quiet: bool = False,
):
    """Mine hard negatives for the training queries (never dev or test) and write them to JSONL for inspection."""
    import json

    from ..data import load_data, load_split_file, split_queries
    from ..index import collection as col
    from ..index import open_index
    from ..models import load_encoder, resolve_model
    from ..train.negatives import mine as run_mine
    from ..train.negatives import write_mined

    cfg = config
    if cfg.mine.source == "judged":  # the default of training; mining means the model unless told otherwise
        cfg.mine.source = "model"
    if cfg.mine.source == "none":
        raise SearchtuneError("--negatives none mines nothing; use ance (the model) or bm25")
    data = load_data(cfg.data)
    if cfg.data.split:
        split = load_split_file(cfg.data.split, data.queries)
    else:
        split = split_queries(list(data.queries), dev_fraction=cfg.data.dev_fraction,
                              test_fraction=cfg.data.test_fraction, seed=cfg.data.split_seed)
    options = {"min_gain": cfg.train.min_positive_gain, "fallback": cfg.train.min_gain_fallback,
               "progress": not quiet}
    if cfg.mine.source == "bm25":
        records, stats = run_mine(data, split, cfg.mine, **options)
    else:
        ref = resolve_model(cfg.train.model)
        model = load_encoder(ref, kind="sparse")
        name = collection or "mine-" + Path(ref).name.replace(" ", "_")
        with open_index(name, cfg.index) as ix:
            col.build(ix, data, col.Models(sparse_base=ref), batch_size=cfg.evaluate.encode_batch_size,
                      precision=cfg.evaluate.precision, progress=not quiet, loaded={"sparse_base": model})
            records, stats = run_mine(data, split, cfg.mine, model=model, index=ix, precision=cfg.evaluate.precision,
                                      **options)
    write_mined(out, records)
    out_console.print(json.dumps(stats, indent=1))
    out_console.print(f"mined negatives for {len(records)} training queries: {out}")
    return {"metrics": {k: v for k, v in stats.items() if isinstance(v, (int, float))},
            "artifacts": {"negatives": str(out)}}
