"""Training the reranker: sentence-transformers' ``CrossEncoderTrainer`` on the training queries' judged pairs.

Every judged (query, product) pair of a training query is a row with a graded target (gain / the scale's
top gain: Home Depot's "partly relevant" is 0.5), plus hard negatives (target 0) drawn from the products a
first stage ranks high for that query, known positives left out. The loss is ``BinaryCrossEntropyLoss``,
which takes soft targets. Dev and test queries are never trained on nor mined (refused, as for the
retriever). Ours: the rows, the sample under ``max_pairs``, and the saved record.
"""

from __future__ import annotations

import logging
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config import RerankConfig
from ..data import SearchData, Split
from ..errors import SearchtuneError
from ..fit import common_args, fit, save_stats
from ..rundir import RunDir
from .model import load_reranker

logger = logging.getLogger(__name__)

CONFIG_FILE = "searchtune_reranker.yaml"


def reranker_rows(data: SearchData, train_qids, candidates: dict[str, list[str]], config: RerankConfig, *,
                  held_out=()) -> dict[str, list]:
    """Columns ``query``, ``product``, ``label`` for the training queries: judged pairs with graded targets and
    ``negatives_per_query`` mined negatives from ``candidates`` (a first-stage ranking per training query)."""
    leaked = set(train_qids) & set(held_out)
    if leaked:
        raise SearchtuneError(f"{len(leaked)} held-out (dev/test) queries were passed for reranker training; refusing")
    mined_held_out = set(candidates) & set(held_out)
    if mined_held_out:
        raise SearchtuneError(f"{len(mined_held_out)} held-out (dev/test) queries have mined candidates; refusing")
    top_gain = (data.scale.max_gain if data.scale else 0) or max(
        (g for q in train_qids for g in data.qrels.get(q, {}).values()), default=1) or 1
    texts = data.texts
    rng = random.Random(config.seed)
    qids = sorted(q for q in train_qids if data.positives(q))
    rng.shuffle(qids)  # a seeded order: max_pairs keeps a random sample of whole queries
    rows: dict[str, list] = {"query": [], "product": [], "label": []}
    for qid in qids:
        judged = data.qrels.get(qid, {})
        pool = [p for p in candidates.get(qid, [])[:config.mine_top_k] if p not in judged and p in texts]
        mined = rng.sample(pool, min(config.num_negatives, len(pool)))
        pairs = [(p, min(1.0, g / top_gain)) for p, g in sorted(judged.items()) if p in texts]
        pairs += [(p, 0.0) for p in mined]
        if config.max_pairs and rows["query"] and len(rows["query"]) + len(pairs) > config.max_pairs:
            break
        for pid, label in pairs:
            rows["query"].append(data.queries[qid])
            rows["product"].append(texts[pid])
            rows["label"].append(label)
    if not rows["query"]:
        raise SearchtuneError("no reranker training pairs: no training query has a judged relevant product")
    return rows


@dataclass
class RerankerResult:
    model_dir: Path
    stats: dict  # pairs, queries, steps, seconds, pairs per second, final loss (also training_stats.json)


def train_reranker(data: SearchData, split: Split, config: RerankConfig, out_dir: str | Path, *,
                   candidates: dict[str, list[str]], candidates_from: str, resume: bool = False,
                   progress: bool = True, precision: str = "auto") -> RerankerResult:
    """Train ``config.model`` as a reranker on the training queries of ``split``; saved to ``OUT/reranker``
    (checkpoints in ``OUT/reranker-checkpoints``, the loss log in ``OUT/reranker_log.jsonl``).
    ``candidates``: each training query's first-stage ranking, mined for negatives (``candidates_from`` names
    that first stage in the record)."""
    from datasets import Dataset
    from sentence_transformers.cross_encoder import (
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    out_dir = Path(out_dir)
    run = RunDir(out_dir)
    model_dir, ckpt_dir = run.reranker, run.reranker_checkpoints
    rows = reranker_rows(data, split.train, candidates, config, held_out=set(split.dev) | set(split.test))
    n_queries = len(set(rows["query"]))
    mined = sum(1 for x in rows["label"] if x == 0.0)
    logger.info("reranker: training on %s pairs from %s queries (%s with target 0)", f"{len(rows['query']):,}",
                f"{n_queries:,}", f"{mined:,}")
    model = load_reranker(config.model, max_length=config.max_length)
    common, used = common_args(model, output_dir=ckpt_dir, epochs=config.epochs, batch_size=config.batch_size,
                               learning_rate=config.learning_rate, warmup=0.1, save_steps=200, logging_steps=20,
                               seed=config.seed, precision=precision)
    run, _ = fit(CrossEncoderTrainer, model=model, args=CrossEncoderTrainingArguments(**common),
                 train_dataset=Dataset.from_dict(rows), loss=BinaryCrossEntropyLoss(model), model_dir=model_dir,
                 ckpt_dir=ckpt_dir, log_path=run.reranker_log, record={CONFIG_FILE: asdict(config)},
                 progress=progress, resume=resume)
    stats = {"pairs": len(rows["query"]), "queries": n_queries, "mined_negatives": mined,
             "negatives_from": candidates_from, "epochs": config.epochs, **run, "precision": used,
             "started_from": config.model}
    save_stats(model_dir, stats, ckpt_dir)
    return RerankerResult(model_dir, stats)
