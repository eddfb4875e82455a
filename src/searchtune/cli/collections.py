"""``index``, ``search`` and ``mine``: collections outside a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..config import Config
from ..errors import SearchtuneError
from .app import SEARCH, STEPS, app
from .options import config_command, out_console

Collection = Annotated[str, typer.Option(help="Collection name.")]


@config_command(app, "index", sections=("data", "index"), job="index", panel=SEARCH, models=True)
def index(
    config: Config, collection: Collection = "products",
    model: Annotated[str, typer.Option(help="The model to index with: splade-tiny, minilm, a folder (e.g. RUN/model) "
                                            "or a hub id.")] = "splade-tiny",
    kind: Annotated[str | None, typer.Option(help="sparse or dense, for a hub id not downloaded yet (any other "
                                                  "model says what it is).")] = None,
    dense_model: Annotated[str | None, typer.Option(help="Also a dense model: one collection for --mode sparse, "
                                                         "dense, hybrid and bm25.")] = None,
    max_length: Annotated[int | None, typer.Option(help="Tokens per product text (default: each model's own; a "
                                                        "tuned model's run evaluates at its training length).")] = None,
    force: Annotated[bool, typer.Option(help="Move the alias to a new version even if it scores more than 1% "
                                             "below the live one on the dev queries.")] = False,
    rollback: Annotated[bool, typer.Option(help="Move the alias back to the version the live one replaced "
                                                "(builds nothing).")] = False,
    keep: Annotated[int | None, typer.Option(help="Then delete all but the live version and the KEEP newest "
                                                  "others.", min=0)] = None,
    quiet: bool = False,
):
    """Encode the catalog with a model (and --dense-model) into a Qdrant collection, with BM25 vectors. A
    collection that serves other models or texts is never rebuilt in place: a new version is built beside it,
    checked on the dev queries, and the alias moved (blue-green; --rollback moves it back)."""
    from ..data import load_data, split_for
    from ..index import collection as col
    from ..index import open_index
    from ..versions import prune, publish
    from ..versions import rollback as roll_back
    from ..models import model_kind, resolve_model, trained_config

    def opened(name: str, resolve: bool = True):
        return open_index(name, config.index, resolve=resolve)

    if rollback:
        previous = roll_back(opened, collection)
        out_console.print(f"'{collection}' serves {previous} again")
        return {"artifacts": {"collection": collection, "version": previous}}
    data = load_data(config.data)
    ref = resolve_model(model)
    kind = model_kind(ref, declared=kind)
    role = "tuned" if trained_config(ref) else "base"  # a searchtune-trained model is stored as tuned
    models = col.Models(**{f"{kind}_{role}": ref}, max_length=max_length)
    if dense_model:
        if kind == "dense":
            raise SearchtuneError("--dense-model adds a dense model beside a sparse --model; --model is dense already")
        models = col.Models(**{f"sparse_{role}": ref}, dense_base=resolve_model(dense_model), max_length=max_length)
    dev = split_for(config.data, data.queries).dev if data.queries else None
    done = publish(opened, collection, data, models, dev=dev, force=force, server=bool(config.index.qdrant_url),
                   batch_size=config.evaluate.encode_batch_size, precision=config.evaluate.precision,
                   progress=not quiet, processes=config.index.encode_processes)
    out_console.print(done.line)
    if keep is not None:
        gone = prune(opened, collection, keep)
        out_console.print(f"deleted {len(gone)} older version(s){': ' + ', '.join(gone) if gone else ''}")
    with opened(collection) as ix:  # from the metadata: a server may hold the live shard open
        count = ix.metadata().get("points")
    return {"metrics": {"points": count, **done.check}, "artifacts": {"collection": collection,
                                                                      "version": done.live}}


@config_command(app, "reindex", sections=("data", "index"), job="index", panel=SEARCH, models=True)
def reindex(
    config: Config, collection: Collection = "products",
    plan: Annotated[bool, typer.Option("--plan", help="Only say what would change and how long it would take.")]
    = False,
    quiet: bool = False,
):
    """Bring a collection up to date with a changed catalog: encode only new and changed products, delete the
    removed ones; searches go on meanwhile. Run it again after an interruption: it does what is left."""
    from ..data import load_data
    from ..index import open_index
    from ..index.reindex import plan as diff
    from ..index.reindex import reindex as apply

    data = load_data(config.data)
    with open_index(collection, config.index) as ix:
        todo = diff(ix, data)
        out_console.print(f"'{collection}': {todo.line()}")
        if plan:
            return {"metrics": todo.to_dict()}
        done = apply(ix, data, batch_size=config.evaluate.encode_batch_size, precision=config.evaluate.precision,
                     progress=not quiet, processes=config.index.encode_processes)
    out_console.print(f"reindexed '{collection}' in {done['seconds']:,.1f} s ({done['new'] + done['changed']:,} "
                      f"encoded, {done['removed']:,} deleted)")
    return {"metrics": done, "artifacts": {"collection": collection}}


@config_command(app, "search", sections=("index",), panel=SEARCH, models=True)
def search(
    config: Config,
    query: Annotated[str, typer.Argument(help="The search query.")],
    system: Annotated[Path | None, typer.Option(help="A search system to run: a run directory (its system.json, "
                                                     "what its report recommends) or a system.json file.")] = None,
    collection: Collection = "products",
    k: Annotated[int, typer.Option("-k", "--top-k", help="How many products.")] = 10,
    terms: Annotated[bool, typer.Option(help="Also show the query's top expansion terms.")] = False,
    mode: Annotated[str, typer.Option(help="Without --system: sparse, dense, hybrid or bm25 (dense and hybrid need "
                                           "a collection indexed with --dense-model).")] = "sparse",
    fusion: Annotated[str, typer.Option(help="Without --system: hybrid fusion, rrf or dbsf.")] = "rrf",
    reranker: Annotated[Path | None, typer.Option(help="Without --system: a trained reranker (RUN/reranker) "
                                                       "rescoring the top K.")] = None,
    rerank_k: Annotated[int, typer.Option(help="With --reranker: products it rescores.")] = 50,
    rerank_weight: Annotated[float, typer.Option(help="With --reranker: weight of the first stage's score mixed "
                                                      "in.")] = 0.0,
):
    """Search with a system (--system RUN: first stage, then its reranker) or a collection in a mode, and print
    the ranked products."""
    from ..encode import top_terms
    from ..index import collection as col
    from ..index import open_index
    from ..system import Reranker, Searcher
    from ..system import System as SearchSystem

    if system is not None:
        chosen = SearchSystem.load(system)
    else:
        with open_index(collection, config.index) as ix:
            models = col.stored_models(ix)
        name = models.mode_system(mode)
        chosen = SearchSystem(vectors=tuple(col.SYSTEM_VECTORS[name]), models=models.named(), collection=collection,
                              data_dir=config.index.data_dir, fusion=fusion, max_length=models.max_length,
                              reranker=Reranker(str(reranker), rerank_k, rerank_weight) if reranker else None)
    with Searcher(chosen, config.index) as searcher:
        ranked = searcher.search(query, k)
        if terms:
            sparse = next((v for v in chosen.vectors if v.startswith("sparse")), None) or \
                next((v for v in searcher.models.named() if v.startswith("sparse")), None)
            if sparse is None:
                raise SearchtuneError(f"collection '{chosen.collection}' has no SPLADE model: --terms shows its "
                                      "expansion")
            vectors, _ = col.query_vectors(searcher.index, searcher.models, [query], [sparse], loaded=searcher.loaded)
            shown = top_terms(searcher.loaded[sparse], vectors[sparse], 12)
            out_console.print("query terms: " + ", ".join(f"{t} {w:.2f}" for t, w in shown))
    columns = [("#", "right"), ("score", "right"), ("product id", "left"), ("title", "left")]
    if chosen.reranker:
        columns.insert(2, ("first stage #", "right"))
    table = Table(title=f"“{query}”: {chosen.describe()}")
    for c, j in columns:
        table.add_column(c, justify=j)
    for i, r in enumerate(ranked, 1):
        h, score = r["hit"], r["score"]
        cells = [str(i), "—" if score is None else f"{score:.3f}", h.product_id, h.payload.get("title", "")]
        if chosen.reranker:
            cells.insert(2, str(r["first_rank"]))
        table.add_row(*cells)
    out_console.print(table)


@config_command(app, "mine", sections=("data", "train", "mine", "index"), job="mine", panel=STEPS,
                only={"train": ("model", "min_positive_gain", "min_gain_fallback")}, models=True)
def mine(
    config: Config,
    out: Annotated[Path, typer.Option("--out", help="JSONL file for the mined negatives (one line per query).")],
    collection: Annotated[str | None, typer.Option(help="Collection to (re)use; default: mine-<model folder>.")] = None,
    quiet: bool = False,
):
    """Mine hard negatives for the training queries (never dev or test) and write them to JSONL for inspection."""
    import json

    from ..data import load_data, split_for
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
    split = split_for(cfg.data, data.queries)
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
