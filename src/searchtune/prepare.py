"""The data steps of a run: load the catalog and queries, add synthetic queries, split.

Each step takes values and returns a value; files are written for the user and for ``--resume``
(:class:`~searchtune.rundir.RunDir`): ``RUN/synthetic/queries.jsonl``, ``RUN/split.json``, ``RUN/events/``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from .config import Config
from .data import SearchData, Split, load_data, split_for
from .data.preview import preview, summary_lines
from .errors import SearchtuneError
from .progress import duration
from .rundir import RunDir

logger = logging.getLogger(__name__)


@dataclass
class Prepared:
    """The data a run trains and evaluates on, its split, and where the queries came from."""

    data: SearchData
    split: Split
    synthetic: dict | None = None  # with synthetic queries: how they were made and what evaluates
    events: dict | None = None  # with --events: counts, position bias, labels per period
    bm25_fields: dict | None = None  # what BM25 reads, chosen on dev (searchtune.evaluation.bm25.choose_fields)

    @property
    def sizes(self) -> dict:
        s = self.split
        return {"source": s.source, "train": len(s.train), "dev": len(s.dev), "test": len(s.test),
                "test_evaluated": len(self.data.eval_qrels(s.test))}


def load(config: Config) -> SearchData:
    t = time.perf_counter()
    data = load_data(config.data)
    for line in summary_lines(preview(data)):
        logger.info("%s", line)
    logger.info("loaded in %s (`searchtune inspect` shows more)", duration(time.perf_counter() - t))
    return data


def same_data(data: SearchData, run: RunDir, *, resume: bool) -> None:
    """Record the data a run begins with (``RUN/data.json``); on resume, refuse other data: a trained model and
    its rankings would be reported on labels they were not made from."""
    from .files import read_json, write_json

    now = {"catalog": data.fingerprint, "judgments": data.judgments_fingerprint}
    before = read_json(run.data, "data record") if resume else None
    if isinstance(before, dict):
        changed = [what for what in now if before.get(what) and before[what] != now[what]]
        if changed:
            files = ", ".join(f["file"] for f in data.source.get("files", [])) or "the data files"
            raise SearchtuneError(f"--resume continues a run on the data it began with, but the "
                                  f"{' and the '.join(changed)} changed since ({files}). Start a new run with "
                                  "another --out, or restore the files")
    write_json(run.data, now, indent=1)


def synthetic_queries(data: SearchData, config: Config, run: RunDir, *, augment: bool = False, resume: bool = False,
                      progress: bool = True, api_key: str | None = None) -> tuple[list, dict] | None:
    """Synthetic training queries when the data has none, with ``generate.llm``/``queries_file``, or with
    ``augment`` (too few real training queries): read from ``generate.queries_file``, from this run's earlier
    generation (resume), or generated now (an LLM, else the offline generator) into ``RUN/synthetic/``.
    (records, stats), or None when not used."""
    from .synthetic import generate, read_queries, write_queries

    g = config.generate
    if config.events.log or (data.queries and not (g.queries_file or g.llm or augment)):
        return None
    path = Path(g.queries_file) if g.queries_file else run.synthetic_queries
    stats_path = path.with_name(path.stem + ".stats.json")
    if g.queries_file or (resume and path.exists()):
        records = read_queries(path)
        stats = json.loads(stats_path.read_text()) if stats_path.exists() else {"source": "file",
                                                                                 "queries": len(records)}
    else:
        why = "no labelled queries" if not data.queries else "too few real training queries" if augment else \
            "synthetic queries asked for"
        max_products = g.max_products or (g.augment_products if augment else None)
        logger.info("%s: generating %d queries per product for %s products with %s", why, g.per_product,
                    f"{min(max_products or len(data.products), len(data.products)):,}",
                    g.llm or "the offline generator (weaker than an LLM)")
        records, stats = generate(
            data.products, llm=g.llm, per_product=g.per_product, max_products=max_products, seed=g.seed,
            concurrency=g.concurrency, timeout=g.timeout, max_retries=g.max_retries, parse_retries=g.parse_retries,
            threads=g.threads, base_url=g.base_url, api_key=api_key, cache_path=g.cache,
            price_input=g.price_input, price_output=g.price_output, progress=progress, language=data.language)
        write_queries(path, records, stats)
    return records, {**stats, "file": str(path)}


def split(data: SearchData, config: Config, run: RunDir, *, augment: bool = False, resume: bool = False,
          progress: bool = True, api_key: str | None = None) -> Prepared:
    """The held-out split (``RUN/split.json``) and the data it splits. With synthetic queries the data grows by
    them (``data`` itself is not changed). With ``augment`` (a run that trains) and fewer real training queries
    than ``generate.augment_below``, synthetic ones are added to the training side. Then what BM25 reads is
    chosen on dev (:func:`~searchtune.evaluation.bm25.choose_fields`)."""
    from dataclasses import replace

    from .evaluation.bm25 import choose_fields

    prepared = held_out(data, config, run, augment=augment, resume=resume, progress=progress, api_key=api_key)
    data, fields = choose_fields(prepared.data, prepared.split.dev)
    return replace(prepared, data=data, bm25_fields=fields)


def held_out(data: SearchData, config: Config, run: RunDir, *, augment: bool = False, resume: bool = False,
             progress: bool = True, api_key: str | None = None) -> Prepared:
    """:func:`split` before BM25's choice."""
    from .synthetic.dataset import PREFIX, catalog_only, train_on_synthetic

    if config.events.log:  # labels from search logs, split by time (searchtune.events.dataset)
        from .events.dataset import from_config

        data, held, events = from_config(data, config, run.events)
        held.save(run.split)
        return Prepared(data, held, events=events)
    options = {"resume": resume, "progress": progress, "api_key": api_key}
    made = synthetic_queries(data, config, run, **options)
    records, stats = made if made else (None, None)
    g = config.generate
    if records is not None and not data.queries:  # catalog only: split by product
        data, held = catalog_only(data, records, dev_fraction=g.dev_fraction, test_fraction=g.test_fraction,
                                  seed=g.seed)
        stats["evaluation"] = "synthetic queries written for held-out products"
    else:
        if resume and run.split.exists() and records is None:
            saved = Split.load(run.split)  # the real queries' split; added synthetic ones are added again below
            held = Split([q for q in saved.train if not q.startswith(PREFIX)], saved.dev, saved.test,
                         saved.source.split("; train = ")[0])
        else:
            held = split_for(config.data, data.queries)
        real = sum(1 for q in held.train if data.positives(q))
        added = augment and records is None and real < g.augment_below
        if added:
            logger.info("the split leaves %d real training queries with a relevant product (%d dev, %d test), "
                        "fewer than %d (--augment-below): adding synthetic training queries", real,
                        len(held.dev), len(held.test), g.augment_below)
            records, stats = synthetic_queries(data, config, run, augment=True, **options)
        if records is not None:  # real queries too: train on synthetic ones, evaluate on the real held-out ones
            data, held = train_on_synthetic(data, held, records, keep_real=added)
            stats["evaluation"] = "real held-out queries"
            stats["added_to_real"] = added
    if not held.test:
        raise SearchtuneError(
            f"the split leaves no test query ({len(data.queries)} queries: {len(held.train)} training, "
            f"{len(held.dev)} dev, 0 test), so nothing can be compared honestly. Add judged queries (a few "
            "dozen at least), raise data.test_fraction in a --config file, or give a split file (--split) with "
            "test queries")
    held.save(run.split)
    logger.info("split: %s training, %s dev, %s test queries", f"{len(held.train):,}", f"{len(held.dev):,}",
                f"{len(held.test):,}")
    return Prepared(data, held, synthetic=stats)


def check_trainable(data: SearchData, split: Split, *, from_logs: bool = False) -> None:
    """Before any long step: training needs a training query with a relevant product."""
    if not any(data.positives(q) for q in split.train):
        advice = ("the log's queries with a click all fall in its dev or test period: import older searches, or "
                  "pass --train-on-heldout-queries" if from_logs else
                  "Add judged queries, lower data.dev_fraction/test_fraction in a --config file, or let synthetic "
                  "queries fill the training side (--augment-below above 0, or --llm)")
        raise SearchtuneError(
            f"nothing to train on: the split leaves no training query with a relevant product "
            f"({len(split.train)} training, {len(split.dev)} dev, {len(split.test)} test queries of "
            f"{len(data.queries)}). {advice[:1].upper()}{advice[1:]}")
