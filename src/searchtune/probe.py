"""A short training run on part of the queries, to estimate before a full run what fine-tuning gains.

:func:`probe` trains the base model for one epoch on at most :data:`PROBE_QUERIES` of the training queries (a
seeded sample), then compares it with the untuned model on up to :data:`PROBE_DEV` dev queries. Both rank the
same candidates a query: BM25's and the untuned model's top :data:`POOL` over the whole catalog. Re-encoding
only those candidates keeps the probe to a minute or two on Home Depot; ranking a shared pool compares the two
models paired, on the products a first stage would hand them. A full run trains on every query and
for longer, so it usually gains more than the probe; a probe that gains nothing says the labels teach little.
"""

from __future__ import annotations

import dataclasses
import random
import tempfile
import time

import numpy as np

from .config import Config
from .data import SearchData, Split

PROBE_QUERIES = 500  # training queries the probe trains on (Home Depot: 1,492 rows, 7 s in bf16 on 2 cores)
PROBE_DEV = 200  # dev queries it is measured on
POOL = 50  # candidates a query from each of BM25 and the untuned model


def _rank(model, data: SearchData, queries: dict[str, str], pools: dict[str, list[str]], config: Config):
    """``model``'s ranking of each query's pool: {qid: {pid: score}}."""
    from .encode import encode

    model.max_seq_length = config.train.max_seq_length  # as the products would be indexed
    products = sorted({p for pool in pools.values() for p in pool})
    column = {p: i for i, p in enumerate(products)}
    texts = data.texts
    docs = encode(model, [texts[p] for p in products], "document", batch_size=config.evaluate.encode_batch_size,
                  precision=config.evaluate.precision)
    qids = list(queries)
    vectors = encode(model, [queries[q] for q in qids], "query", precision=config.evaluate.precision)
    run = {}
    for row, q in enumerate(qids):
        cols = [column[p] for p in pools[q]]
        scores = vectors[row] @ docs[cols].T
        scores = np.asarray(scores.toarray() if hasattr(scores, "toarray") else scores).ravel()
        run[q] = {p: float(s) for p, s in zip(pools[q], scores)}
    return run


def probe(data: SearchData, split: Split, config: Config, dev: list[str],
          first_stages: list[dict[str, dict[str, float]]], *, progress: bool = True) -> dict:
    """Train on part of ``split.train``; the untuned and the probe model's nDCG@10 on ``dev`` (a sample of it),
    each query's candidates the top :data:`POOL` of each run in ``first_stages`` (over the whole catalog)."""
    from .evaluation.metrics import evaluate_run
    from .models import load_encoder
    from .train.trainer import base_model, train

    rng = random.Random(config.train.seed)
    trainable = [q for q in split.train if data.positives(q)]
    part = sorted(rng.sample(trainable, min(PROBE_QUERIES, len(trainable))))
    measured = [q for q in dev if q in first_stages[0]]
    measured = sorted(rng.sample(measured, min(PROBE_DEV, len(measured))))
    pools = {q: list(dict.fromkeys(p for run in first_stages
                                   for p, _ in sorted(run.get(q, {}).items(), key=lambda x: -x[1])[:POOL]))
             for q in measured}
    queries = {q: data.queries[q] for q in measured}
    qrels = data.eval_qrels(measured)
    train_config = dataclasses.replace(config.train, epochs=1.0, save_steps=10 ** 9)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = train(data, Split(train=part, dev=split.dev, test=split.test), train_config, tmp,
                       progress=progress)
        train_s = time.perf_counter() - started
        tuned = _rank(load_encoder(result.model_dir, kind=config.train.kind), data, queries, pools, config)
    untuned = _rank(load_encoder(base_model(config.train), kind=config.train.kind), data, queries, pools, config)
    before = evaluate_run(qrels, untuned, ks=(10,))["ndcg@10"]
    after = evaluate_run(qrels, tuned, ks=(10,))["ndcg@10"]
    return {"training_queries": len(part), "of_training_queries": len(trainable), "dev_queries": len(measured),
            "pool": POOL, "rows": result.stats.get("pairs"), "train_seconds": round(train_s, 1),
            "seconds": round(time.perf_counter() - started, 1), "untuned": round(before, 4),
            "probe": round(after, 4), "gain_percent": round(100 * (after - before) / before, 1) if before else None}
