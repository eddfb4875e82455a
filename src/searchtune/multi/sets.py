"""One data set of a multi-set file, loaded and split the way a single run would load and split it."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from ..data import SearchData, Split, load_data, split_for
from ..errors import SearchtuneError
from .spec import DataSet

logger = logging.getLogger(__name__)


@dataclass
class LoadedSet:
    spec: DataSet
    data: SearchData
    split: Split

    @property
    def name(self) -> str:
        return self.spec.name

    def held_out_texts(self) -> set[str]:
        return {self.data.queries[q].strip().lower() for q in self.split.dev + self.split.test}


def load_set(ds: DataSet, *, synthetic_seed: int = 42) -> LoadedSet:
    """Read the set; split it by its split file or seed (an ``eval_only`` set: every query is a test query);
    with ``synthetic``, add offline synthetic training queries for that many products (real held-out queries
    stay the dev and test)."""
    data = load_data(ds.data)
    if not data.queries:
        raise SearchtuneError(f"data set {ds.name}: no labelled queries (the matrix and training need them)")
    if ds.eval_only:
        split = Split([], [], sorted(data.queries), source="eval_only: every query is a test query")
    else:
        split = split_for(ds.data, data.queries)
    if not split.test:
        raise SearchtuneError(f"data set {ds.name}: no held-out test query ({len(split.train)} training, "
                              f"{len(split.dev)} dev): give it a split file or a test_fraction above 0")
    if ds.synthetic:
        from ..config import GenerateConfig
        from ..synthetic import generate
        from ..synthetic.dataset import train_on_synthetic

        records, _ = generate(data.products, llm=None, per_product=GenerateConfig().per_product,
                              max_products=ds.synthetic, seed=synthetic_seed, progress=False)
        data, split = train_on_synthetic(data, split, records, keep_real=True)
    return LoadedSet(ds, data, split)


def set_rows(loaded: LoadedSet, *, judged_negatives: bool, min_gain: int | None, other_held_out: set[str],
             seed: int = 42) -> tuple[dict[str, dict[str, list[str]]], dict]:
    """The set's training rows (:func:`searchtune.train.rows.training_rows`), less any query whose text is a
    held-out query of another set, cut to ``max_samples`` and scaled by ``weight`` (rows repeated or
    thinned, seeded). Returns the rows by kind and what was done."""
    from ..train.rows import training_rows

    ds, data, split = loaded.spec, loaded.data, loaded.split
    train = [q for q in split.train if data.queries[q].strip().lower() not in other_held_out]
    dropped = len(split.train) - len(train)
    parts = training_rows(data, train, judged_negatives=judged_negatives, min_gain=ds.min_positive_gain or min_gain,
                          held_out=set(split.dev) | set(split.test))
    rng = random.Random(f"{seed}:{ds.name}")
    total = sum(len(rows["query"]) for rows in parts.values())
    keep = min(total, ds.max_samples or total)
    target = max(1, round(keep * ds.weight))
    out = {}
    for kind, rows in parts.items():
        n = len(rows["query"])
        want = round(target * n / total)
        idx = list(range(n))
        if keep < total:
            idx = sorted(rng.sample(idx, round(keep * n / total)))
        chosen = (idx * (want // len(idx) + 1))[:want] if idx and want > len(idx) else idx[:want]
        if chosen:
            out[kind] = {col: [values[i] for i in chosen] for col, values in rows.items()}
    stats = {"rows": sum(len(r["query"]) for r in out.values()), "rows_available": total,
             "queries": len({q for r in out.values() for q in r["query"]}),
             "dropped_held_out_elsewhere": dropped}
    logger.info("%s: %s training rows (%s available) from %s queries", ds.name, f"{stats['rows']:,}",
                f"{total:,}", f"{stats['queries']:,}")
    return out, stats
