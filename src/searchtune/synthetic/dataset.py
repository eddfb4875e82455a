"""Synthetic queries as training (and, with no real queries, evaluation) data, split honestly.

Two cases:

1. **Catalog only.** The synthetic queries are all there is, so the split is by
   *product*: each product falls in train, dev or test from a hash of its id and
   the seed (80/10/10 by default, ``generate.test_fraction``/``dev_fraction``). A query
   goes to the most held-out part any of its products is in (test, then dev,
   then train), so no query written for a held-out product is trained on.
   Evaluation then asks: does the model find the product a query was written
   for, among the whole catalog? The report says the test queries are synthetic.
2. **Real labelled queries exist** (Home Depot): train on synthetic queries (with
   ``keep_real``, beside the real training queries: the pipeline does this when a
   catalog has too few real ones), evaluate on the real dev/test queries of the split. Synthetic queries are written from
   the catalog alone, never from a real query; a synthetic query whose text
   equals a real dev or test query is still dropped (and counted), so no test
   query text is ever trained on. The catalog itself is not held out: a user
   always has the whole catalog, and indexing and training on it is the
   deployment setting; only the queries are unseen.

Identical query texts (after lowercasing and spacing) are one query: a query
written for several products has all of them as positives.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import replace

from ..data.catalog import clean
from ..data.load import SearchData
from ..data.split import Split, unit
from ..errors import SearchtuneError
from .records import SyntheticQuery

logger = logging.getLogger(__name__)
PREFIX = "syn:"


def product_unit(seed: int, product_id: str) -> float:
    """Where a product falls in [0, 1) for the by-product split (the query split's hash, on the product)."""
    return unit(seed, f"product\x00{product_id}")


def _grouped(records: list[SyntheticQuery], known: set[str]) -> tuple[dict[str, str], dict[str, set[str]], dict]:
    """query id → text and → product ids; unknown products are counted and left out."""
    texts: dict[str, str] = {}
    products: dict[str, set[str]] = defaultdict(set)
    stats = {"synthetic_pairs": 0, "skipped_synthetic_unknown_product": 0}
    for r in records:
        if r.product_id not in known:
            stats["skipped_synthetic_unknown_product"] += 1
            continue
        text = clean(r.query).lower()
        if not text:
            continue
        qid = PREFIX + text
        texts[qid] = text
        products[qid].add(r.product_id)
        stats["synthetic_pairs"] += 1
    if stats["skipped_synthetic_unknown_product"]:
        logger.warning("%d synthetic queries name products that are not in the catalog; left out",
                       stats["skipped_synthetic_unknown_product"])
    return texts, products, stats


def _with_queries(data: SearchData) -> SearchData:
    """A copy of ``data`` whose queries, judgments and counts can grow without touching the original."""
    return replace(data, queries=dict(data.queries), qrels=dict(data.qrels), counts=dict(data.counts))


def catalog_only(data: SearchData, records: list[SyntheticQuery], *, dev_fraction: float = 0.1,
                 test_fraction: float = 0.1, seed: int = 42) -> tuple[SearchData, Split]:
    """The data with the synthetic queries added (gain 1 each), split by product (case 1)."""
    if data.queries:
        raise SearchtuneError("the data already has queries; use train_on_synthetic to add synthetic training queries")
    if not (0 <= dev_fraction < 1 and 0 < test_fraction < 1 and dev_fraction + test_fraction < 1):
        raise SearchtuneError(f"dev ({dev_fraction}) and test ({test_fraction}) fractions must be in [0, 1) "
                              "(test above 0) and sum below 1")
    texts, products, stats = _grouped(records, set(data.product_ids))
    if not texts:
        raise SearchtuneError("no synthetic queries to train on: generation produced none for this catalog")
    data = _with_queries(data)

    def part(pid: str) -> int:  # 2 = test, 1 = dev, 0 = train
        u = product_unit(seed, pid)
        return 2 if u < test_fraction else 1 if u < test_fraction + dev_fraction else 0

    parts: dict[str, list[str]] = {"train": [], "dev": [], "test": []}
    mixed = 0
    for qid in sorted(texts):
        sides = {part(p) for p in products[qid]}
        mixed += len(sides) > 1
        parts[("train", "dev", "test")[max(sides)]].append(qid)
        data.queries[qid] = texts[qid]
        data.qrels[qid] = {p: 1 for p in products[qid]}
    data.positive_min_gain = 1
    stats["synthetic_queries_spanning_parts_held_out"] = mixed
    data.counts.update(stats, synthetic_queries=len(texts))
    return data, Split(parts["train"], parts["dev"], parts["test"],
                       source=f"synthetic, by product: seed={seed} dev={dev_fraction} test={test_fraction}")


def train_on_synthetic(data: SearchData, split: Split, records: list[SyntheticQuery], *,
                       keep_real: bool = False) -> tuple[SearchData, Split]:
    """The data with synthetic training queries added, and a split that trains on them alone (with ``keep_real``,
    on them and the real training queries); dev and test stay the real held-out queries (case 2)."""
    held_out = {clean(data.queries[q]).lower() for q in split.dev + split.test}
    data = _with_queries(data)
    texts, products, stats = _grouped(records, set(data.product_ids))
    gain = data.scale.max_gain if data.scale is not None else 1
    train = []
    dropped = 0
    for qid in sorted(texts):
        if texts[qid] in held_out:
            dropped += 1
            continue
        data.queries[qid] = texts[qid]
        data.qrels[qid] = {p: gain for p in products[qid]}
        train.append(qid)
    if not train:
        raise SearchtuneError("no synthetic training queries left (all were empty, unknown products or held-out texts)")
    stats["skipped_synthetic_equal_to_held_out_query"] = dropped
    if dropped:
        logger.warning("%d synthetic queries have the text of a real dev/test query; not trained on", dropped)
    if keep_real:
        data.counts.update(stats, synthetic_queries=len(train), real_training_queries=len(split.train))
        return data, Split(split.train + train, split.dev, split.test,
                           source=f"{split.source}; train = real + synthetic queries")
    data.counts.update(stats, synthetic_queries=len(train), real_training_queries_unused=len(split.train))
    return data, Split(train, split.dev, split.test, source=f"{split.source}; train = synthetic queries")
