"""Training rows from judgments: (query, positive[, negatives]) for the training queries only.

What is ours: turning graded judgments into rows, the guard that no held-out query is trained on, and the
misspelled copies of typo-aware training (:mod:`.typos`).
"""

from __future__ import annotations

import logging
import random

from ..data import SearchData
from ..errors import SearchtuneError

logger = logging.getLogger(__name__)


def training_rows(data: SearchData, train_qids, *, judged_negatives: bool = True, min_gain: int | None = None,
                  held_out=(), negatives: dict[str, list[str]] | None = None,
                  negatives_per_row: int = 1, fallback: bool = False, typo_rate: float = 0.0,
                  typo_seed: int = 42) -> dict[str, dict[str, list[str]]]:
    """Training rows from the judgments of the training queries.

    Returns up to two column sets: ``"triplets"`` (query, positive, negative
    [, negative_2 ...]) for queries that have negatives — each row takes the next
    ``negatives_per_row`` of the query's pool, cycling — and ``"pairs"`` (query,
    positive) for the rest, which learn from in-batch negatives only. Keeping
    them apart spares a vocabulary-wide forward pass for a filler negative.
    The pool is ``negatives[qid]`` when given (mined; see :mod:`searchtune.mining`),
    else the judged gain-0 products when ``judged_negatives``. ``min_gain`` raises
    the bar for a positive above the scale's; with ``fallback`` a query with nothing at that bar trains on
    its best-judged positives (:meth:`SearchData.training_bar`). With ``typo_rate`` > 0 that fraction of
    the rows gets a second copy whose query is misspelled (:mod:`.typos`); a misspelling that
    equals a held-out query's text is not used. Raises if a held-out query is among ``train_qids``.
    """
    leaked = set(train_qids) & set(held_out)
    if leaked:
        raise SearchtuneError(f"{len(leaked)} held-out (dev/test) queries were passed for training; refusing")
    if negatives_per_row < 1:
        raise SearchtuneError(f"negatives_per_row must be at least 1, got {negatives_per_row}")
    if not 0.0 <= typo_rate <= 1.0:
        raise SearchtuneError(f"query_typo_rate must be between 0 and 1, got {typo_rate}")
    texts = data.texts
    bar = max(data.positive_min_gain, min_gain or 0)
    neg_cols = ["negative"] + [f"negative_{i}" for i in range(2, negatives_per_row + 1)]
    pairs: dict[str, list[str]] = {"query": [], "positive": []}
    triplets: dict[str, list[str]] = {"query": [], "positive": [], **{c: [] for c in neg_cols}}
    cursor = 0
    for qid in sorted(train_qids):
        judged = data.qrels.get(qid, {})
        q_bar = data.training_bar(qid, min_gain, fallback)
        if q_bar is None:
            continue
        positives = sorted((p for p, g in judged.items() if g >= q_bar), key=lambda p: (-judged[p], p))
        if negatives is not None:
            pool = list(negatives.get(qid, []))
        else:
            pool = sorted(data.negatives(qid)) if judged_negatives else []
        cursor = 0
        for pid in positives:
            target = triplets if pool else pairs
            target["query"].append(data.queries[qid])
            target["positive"].append(texts[pid])
            for col in neg_cols if pool else ():
                target[col].append(texts[pool[cursor % len(pool)]])
                cursor += 1
    out = {name: rows for name, rows in (("pairs", pairs), ("triplets", triplets)) if rows["query"]}
    if not out:
        raise SearchtuneError(f"no training pairs: no training query has a judgment with gain >= {bar}")
    if typo_rate > 0:
        _add_misspelled(out, typo_rate, typo_seed, {data.queries[q].lower() for q in held_out if q in data.queries})
    return out


def _add_misspelled(parts: dict[str, dict[str, list[str]]], rate: float, seed: int, held_out_texts: set[str]):
    """Append a misspelled copy of ``rate`` of the rows of every column set (the same positive and
    negatives), in place. Logged: copies made, rows with no word to misspell, copies dropped because they
    spelled a held-out query."""
    from .typos import misspell

    rng = random.Random(seed)
    made = no_word = held = 0
    for rows in parts.values():
        n = len(rows["query"])
        for r in range(n):
            if rng.random() >= rate:
                continue
            typo = misspell(rows["query"][r], rng)
            if typo is None:
                no_word += 1
                continue
            if typo.lower() in held_out_texts:
                held += 1
                continue
            made += 1
            for col, values in rows.items():
                values.append(typo if col == "query" else values[r])
    logger.info("misspelled copies: %d added, %d rows had no word to misspell, %d dropped (equal to a "
                "held-out query)", made, no_word, held)
