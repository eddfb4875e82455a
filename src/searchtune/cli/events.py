"""``events import``, ``events simulate``, ``events replay``, ``events show`` and ``compare``: search logs in, and two models
compared on them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..config import Config
from ..errors import SearchtuneError
from .app import LOGS, app
from .options import config_command, out_console

events_app = typer.Typer(no_args_is_help=True, help="Search logs: import them, simulate them, look at them.")
app.add_typer(events_app, name="events", rich_help_panel=LOGS)

Store = Annotated[Path | None, typer.Option("--store", help="Event store folder (default: "
                                                           "$SEARCHTUNE_HOME/events).")]


def _catalog(config: Config):
    from ..data import load_data

    if config.data.data is None and config.data.catalog is None:
        return None
    return load_data(config.data)


def _default_store(store: Path | None) -> Path:
    from ..home import home

    return store or home() / "events"


@config_command(events_app, "import", sections=("data",))
def import_log(config: Config, log: Annotated[Path, typer.Argument(help="Log file: CSV, JSON Lines or Parquet, "
                                                                        "compressed too.")],
               store: Store = None):
    """Add a search log to the event store: rows of timestamp, search id, query, product id, position and event
    (impression, click, add_to_cart, purchase). With --catalog (or --data), events for products not in it are
    skipped. Rows already stored are not added again."""
    from ..events import EventStore

    data = _catalog(config)
    target = _default_store(store)
    result = EventStore(target).add(log, columns=config.data.columns, encoding=config.data.encoding,
                                    products=data.product_ids if data is not None else None)
    out_console.print(f"{log}: {result.rows:,} rows read, {result.added:,} new events added "
                      f"({result.total:,} in {target}) in {result.seconds:.1f}s")
    out_console.print("columns: " + ", ".join(f"{role} = {col}" for role, col in result.columns.items()))
    for reason, n in result.skipped.items():
        out_console.print(f"skipped {n:,} rows ({reason}); the first: {result.examples[reason]}")
    return {"metrics": {"rows": result.rows, "added": result.added, "total": result.total},
            "artifacts": {"store": str(target)}}


@config_command(events_app, "simulate", sections=("data",))
def simulate_log(
    config: Config,
    out: Annotated[Path, typer.Option("--out", help="Log to write: .parquet, .csv or .jsonl (.gz, .zst too).")],
    impressions: Annotated[int, typer.Option(help="Products shown in all (searches = impressions / page size).")]
    = 100_000,
    seed: Annotated[int, typer.Option(help="Seed: the same seed writes the same log.")] = 42,
    ranker: Annotated[str, typer.Option(help="The production ranker whose results are shown.")] = "bm25",
    click_model: Annotated[str, typer.Option(help="pbm (position-based) or cascade.")] = "pbm",
    examination_decay: Annotated[float, typer.Option(help="PBM: examination at position k is (1/k)^this.")] = 1.0,
    noise: Annotated[float, typer.Option(help="Attractiveness of an irrelevant product.")] = 0.1,
    ranking_noise: Annotated[float, typer.Option(help="How much the shown order varies between searches.")] = 0.7,
    zipf: Annotated[float, typer.Option(help="Query frequency exponent.")] = 1.0,
    page_size: Annotated[int, typer.Option(help="Results shown per search.")] = 10,
    cart_rate: Annotated[float, typer.Option(help="Add-to-cart probability after a click on a top-gain product.")]
    = 0.3,
    purchase_rate: Annotated[float, typer.Option(help="Purchase probability after an add-to-cart (top gain).")]
    = 0.5,
    days: Annotated[int, typer.Option(help="Days the searches spread over.")] = 90,
    start: Annotated[str, typer.Option(help="First day (UTC).")] = "2026-01-01",
):
    """Write a realistic search log for labelled queries (see searchtune.events.simulate): Zipf query
    frequencies, a perturbed production ranking, a click model, add-to-carts and purchases by relevance. With
    --split, only the training queries are searched (the split's dev and test queries never appear)."""
    from ..data import load_split_file
    from ..events import SimulationConfig, simulate, write_log

    data = _catalog(config)
    if data is None or not data.queries:
        raise SearchtuneError("simulate needs labelled queries: pass --data FILE (query, product, label rows), or "
                              "--catalog FILE with --queries FILE")
    qids = list(data.queries)
    if config.data.split:
        split = load_split_file(config.data.split, data.queries)
        qids = split.train
    sim = SimulationConfig(impressions=impressions, seed=seed, ranker=ranker, click_model=click_model,
                           position_bias=examination_decay, noise=noise, ranking_noise=ranking_noise, zipf=zipf,
                           page_size=page_size, cart_rate=cart_rate, purchase_rate=purchase_rate, days=days,
                           start=start)
    log = simulate(data, qids, sim)
    write_log(log, out)
    out_console.print(f"{out}: {len(log):,} events")
    return {"metrics": {"events": len(log)}, "artifacts": {"log": str(out)}}


@config_command(events_app, "replay", sections=("data",))
def replay_log(
    config: Config,
    url: Annotated[str, typer.Option(help="A running `searchtune serve --log FILE`: http://HOST:PORT.")],
    searches: Annotated[int, typer.Option(help="Simulated searches to send.", min=1)] = 1000,
    seed: Annotated[int, typer.Option(help="Seed: the same seed sends the same searches and clicks.")] = 42,
    examination_decay: Annotated[float, typer.Option(help="PBM: examination at position k is (1/k)^this.")] = 1.0,
    noise: Annotated[float, typer.Option(help="Attractiveness of an irrelevant product.")] = 0.1,
    page_size: Annotated[int, typer.Option(help="Results asked for per search.")] = 10,
    api_key: Annotated[str | None, typer.Option(help="The server's API key.", envvar="SEARCHTUNE_API_KEY")] = None,
):
    """Simulated shoppers on a live server: labelled queries sent to its /search, clicks (and add-to-carts,
    purchases) by a click model on the page it returns, sent to its /events; its log then imports with no
    flags. Only the training queries of the split (--split, else the seeded one) are searched, so its dev and
    test queries stay held out."""
    from ..data import split_for
    from ..events import SimulationConfig
    from ..events.replay import replay

    data = _catalog(config)
    if data is None or not data.queries:
        raise SearchtuneError("replay needs labelled queries: pass --catalog FILE with --queries FILE (or --data)")
    qids = split_for(config.data, data.queries).train
    sim = SimulationConfig(seed=seed, position_bias=examination_decay, noise=noise, page_size=page_size)
    counts = replay(url, data, qids, sim, searches, api_key=api_key)
    out_console.print(f"{counts['searches']:,} searches sent to {url}: {counts['click']:,} clicks, "
                      f"{counts['add_to_cart']:,} add-to-carts, {counts['purchase']:,} purchases")
    return {"metrics": counts}


@events_app.command("show")
def show(source: Annotated[Path, typer.Argument(help="An event store folder or a log file.")]):
    """Counts and the click-through rate by position (raw: position bias and ranking quality together)."""
    from ..events import load_events
    from ..events.store import counts, ctr_by_position
    from .options import run_job, setup_logging

    def body():
        events, _ = load_events(source)
        for key, value in counts(events).items():
            out_console.print(f"{key.replace('_', ' ')}: {value:,}")
        table = Table(title="click-through rate by position")
        for c in ("position", "impressions", "clicks", "CTR"):
            table.add_column(c, justify="right")
        for row in ctr_by_position(events):
            table.add_row(str(row["position"]), f"{row['impressions']:,}", f"{row['clicks']:,}",
                          "—" if row["ctr"] is None else f"{row['ctr']:.3f}")
        out_console.print(table)

    setup_logging()
    run_job(body)


@config_command(app, "compare", sections=("data", "index", "events"), panel=LOGS, models=True)
def compare(
    config: Config,
    candidate: Annotated[list[str], typer.Option("--candidate", help="A model (folder, short name or hub id) or bm25; "
                                                              "give exactly two.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the two models' collections and compare.json.")],
    seed: Annotated[int, typer.Option(help="Seed of the team draws and the simulated clicks.")] = 42,
    quiet: bool = False,
):
    """Which of two models is better on the logged traffic of --events: team-draft interleaving replayed through
    the click model fitted on the logs, with a 95% interval (see searchtune.events.compare)."""
    from ..events import load_events
    from ..events.compare import interleave
    from ..events.ranking import rank_queries
    from ..files import write_json

    model = candidate
    if len(model) != 2:
        raise SearchtuneError(f"give exactly two --candidate options, got {len(model)}")
    if not config.events.log:
        raise SearchtuneError("pass the logged traffic with --events LOG (a log file or an event store folder)")
    data = _catalog(config)
    if data is None:
        raise SearchtuneError("pass the catalog the log's products come from: --catalog FILE (or --data FILE)")
    events, _ = load_events(config.events.log, columns=config.data.columns, products=data.product_ids,
                            encoding=config.data.encoding)
    names = [m if model.count(m) == 1 else f"{m}#{i + 1}" for i, m in enumerate(model)]
    rankings = {name: rank_queries(ref, data, events, config, out / "qdrant", progress=not quiet)
                for name, ref in zip(names, model)}
    result = interleave(events, rankings, config.events, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "compare.json", result, indent=2)
    a, b = names
    out_console.print(f"{result['searches']:,} logged searches replayed: {a} wins {result['wins'][a]:,}, "
                      f"{b} wins {result['wins'][b]:,}, {result['wins']['ties']:,} ties")
    out_console.print(f"preference for {a}: {result['preference']:+.4f} (95% CI {result['ci95'][0]:+.4f} to "
                      f"{result['ci95'][1]:+.4f})")
    out_console.print(f"better: {result['better'] or 'neither'} — {result['why']}")
    out_console.print(f"details: {out / 'compare.json'}")
    return result
