"""Search logs as a data set: labels per period, and a split by time that never leaks.

The searches are split by time (:func:`~searchtune.events.labels.time_split`): the oldest train, the next
choose (dev), the newest are the test. Position bias is fitted on the training period alone, and every
period's labels come from its own events. A query searched in the dev or test period is not trained on
(its older events are dropped) unless ``train_on_heldout_queries``; the report then says so.

Where human judgments exist too (``--queries``, or ``--data`` with labels), they choose (their dev queries
replace the events' dev period, because judgments are the surer guide) and are reported beside the events'
test period (``Split.judged_test``); their training queries are not used, and none of their held-out queries
is trained on from the logs either. Their ids take the prefix ``judged:`` so that one query text can be both
a logged and a judged query.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from ..config import Config, EventsConfig
from ..data import SearchData, Split
from ..data.catalog import normalise_query
from ..data.labels import SCALES
from ..errors import SearchtuneError
from .labels import derive, impressions, position_bias, time_split
from .store import counts

logger = logging.getLogger(__name__)

JUDGED = "judged:"
TRAIN = "train:"  # a held-out query's older events, when train_on_heldout_queries


def events_dataset(data: SearchData, events: pd.DataFrame, config: EventsConfig,
                   judged: Split | None = None) -> tuple[SearchData, Split, dict]:
    """The catalog of ``data`` with labels from ``events``; ``judged``: the split of ``data``'s human
    judgments, when it has any. Returns the new data, its split and the report's ``events`` section."""
    imp = impressions(events)
    start = imp.groupby("search_id")["timestamp"].transform("min").to_numpy()
    periods = time_split(events, config)
    part = periods.part(start)
    bias = position_bias(imp[part == 0], config)
    train, dev, test = (derive(imp[part == k], bias, config) for k in range(3))
    positive = lambda labels: {q for q, v in labels.qrels.items() if any(g >= 1 for g in v.values())}  # noqa: E731
    test_q = positive(test)
    dev_q = positive(dev) - test_q
    human_held = set()
    if judged is not None:
        human_held = {normalise_query(data.queries[q]) for q in judged.dev + judged.test}
    held = test_q | dev_q
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    train_ids, heldout_trained = [], 0
    for q, judgments in train.qrels.items():
        if q in human_held:
            continue
        qid = q
        if q in held:
            if not config.train_on_heldout_queries:
                continue
            qid, heldout_trained = TRAIN + q, heldout_trained + 1
        queries[qid], qrels[qid] = train.texts[q], judgments
        train_ids.append(qid)
    for labels, ids in ((test, test_q), (dev, dev_q)):
        for q in ids:
            queries[q], qrels[q] = labels.texts[q], labels.qrels[q]
    dev_ids, judged_test = sorted(dev_q), []
    if judged is not None:
        def add(qids):
            out = []
            for q in qids:
                queries[JUDGED + q] = data.queries[q]
                qrels[JUDGED + q] = {p: g if g >= data.positive_min_gain else 0 for p, g in data.qrels[q].items()}
                out.append(JUDGED + q)
            return out

        dev_ids, judged_test = add(judged.dev), add(judged.test)
    if not test_q:
        raise SearchtuneError(f"the newest {config.test_fraction:.0%} of the searches ({periods.to_dict()['test_from']}"
                              " on) have no clicked product, so there is nothing to test on; log more, or raise "
                              "--events-test-fraction")
    searched = imp.groupby("qkey")["search_id"].nunique()  # how often each held-out query was searched: its
    frequency = {q: int(searched.get(q, 0)) for q in held}  # head, torso or tail (evaluation.segments)
    new = SearchData(products=data.products, queries=queries, qrels=qrels, scale=SCALES["graded"],
                     positive_min_gain=1, source={**data.source, "searches_per_query": frequency},
                     language=data.language,
                     counts={**data.counts, **{f"events_{k}": v for k, v in counts(events).items()}})
    split = Split(sorted(train_ids), dev_ids, sorted(test_q), source=f"events by time: {periods.to_dict()}",
                  judged_test=judged_test)
    stats = {**counts(events), "periods": periods.to_dict(), "position_bias": bias.to_dict(),
             "labels": {"train": train.stats, "dev": dev.stats, "test": test.stats},
             "train_queries": len(train_ids), "dev_queries": len(dev_ids), "test_queries": len(test_q),
             "judged_test_queries": len(judged_test), "dev_from": "judgments" if judged is not None else "events",
             "heldout_queries_trained": heldout_trained,
             "heldout_queries_not_trained": 0 if config.train_on_heldout_queries else
             sum(1 for q in train.qrels if q in held)}
    logger.info("events: %s searches, %s clicks → %s labelled pairs for %s training queries; position bias "
                "(%s) %s", f"{stats['searches']:,}", f"{stats['clicks']:,}", f"{train.stats['labelled_pairs']:,}",
                f"{len(train_ids):,}", bias.method, " ".join(f"{x:.2f}" for x in bias.theta[:5]))
    if heldout_trained:
        logger.warning("%d training queries are also dev or test queries of a later period "
                       "(--train-on-heldout-queries): their test figures are not held out", heldout_trained)
    return new, split, stats


def from_config(data: SearchData, config: Config, store: Path) -> tuple[SearchData, Split, dict]:
    """The pipeline's data from ``config.events.log``: the log imported into ``store`` (idempotent, so a
    resumed run adds nothing), the judgments of ``data`` (if any) split as the data options say."""
    from ..data import split_for
    from .store import load_events

    judged = None
    if data.queries:
        judged = split_for(config.data, data.queries)
    events, imports = load_events(config.events.log, columns=config.data.columns, products=data.product_ids,
                                  encoding=config.data.encoding, store=store)
    for result in imports:
        for reason, n in result.skipped.items():
            logger.warning("%s: %s rows skipped (%s); the first: %s", result.file, f"{n:,}", reason,
                           result.examples[reason])
    new, split, stats = events_dataset(data, events, config.events, judged)
    stats["imports"] = [r.to_dict() for r in imports]
    return new, split, stats
