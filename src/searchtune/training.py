"""SPLADE fine-tuning with the sentence-transformers trainer.

What is ours: turning judgments into (query, positive, negative) rows and the
guard that no held-out query is trained on. Everything else — the SpladeLoss
around SparseMultipleNegativesRankingLoss with FLOPS regularisation, the
no-duplicates batch sampler, checkpoints, resume — is sentence-transformers.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import asdict
from pathlib import Path

import yaml

from .config import TrainConfig
from .data import SearchData, Split
from .errors import SearchtuneError
from .models import load_dense_encoder, load_sparse_encoder, model_kind

logger = logging.getLogger(__name__)


def _dim(model) -> int:
    from .dense import _dim as dim

    return dim(model)

CONFIG_FILE = "searchtune_config.yaml"


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
    the rows gets a second copy whose query is misspelled (:mod:`searchtune.typos`); a misspelling that
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


def base_model(config: TrainConfig) -> str:
    """The model training starts from: ``config.model`` if it is of ``config.kind``, else that kind's default
    (``--kind dense`` with the default ``splade-tiny`` trains ``minilm``)."""
    if config.kind == "dense" and model_kind(config.model) != "dense":
        return config.dense_model
    return config.model


def logging_steps(config: TrainConfig, dataset_rows: list[int]) -> int:
    """How often the loss is logged: ``config.logging_steps``, or more often for a run with fewer than ten times
    that many steps, so that every run logs about ten loss points or more (the studio's live loss curve
    would stay empty for a short run on a small catalog)."""
    steps = int(sum(-(-n // config.batch_size) for n in dataset_rows) * config.epochs)
    return max(1, min(config.logging_steps, steps // 10))


def _log_callback(path: Path):
    """A trainer callback appending every log entry (loss, lr, ...) to ``path`` as JSON lines: the
    studio draws the live loss curve from it."""
    from transformers import TrainerCallback

    class JsonlLog(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs:
                entry = {"step": state.global_step, "time": round(time.time(), 2), **logs}
                with path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(entry, default=float) + "\n")

    return JsonlLog()


def train_sparse(data: SearchData, split: Split, config: TrainConfig, out_dir: str | Path, *,
                 resume: bool = False, progress: bool = True, callbacks=None, init_model: str | None = None,
                 negatives: dict[str, list[str]] | None = None, negatives_per_row: int = 1,
                 extra_stats: dict | None = None) -> Path:
    """Fine-tune ``config.model`` (or ``init_model``, e.g. the previous mining round's) on the
    training queries of ``split``; return the saved model folder.

    Checkpoints go to ``OUT/checkpoints``; with ``resume=True`` training continues from the
    latest one instead of starting over. The final model is ``OUT/model``. ``negatives``
    replaces the judged negatives with a mined pool per query.
    """
    from datasets import Dataset
    from sentence_transformers.sparse_encoder import (
        SparseEncoderTrainer,
        SparseEncoderTrainingArguments,
    )
    from sentence_transformers.sparse_encoder.callbacks import (
        SpladeRegularizerWeightSchedulerCallback,
    )
    from sentence_transformers.sparse_encoder.losses import (
        SparseMultipleNegativesRankingLoss,
        SpladeLoss,
    )
    from sentence_transformers.training_args import (
        BatchSamplers,
        MultiDatasetBatchSamplers,
    )

    from .precision import resolve

    out_dir = Path(out_dir)
    if negatives is None and config.negatives_file:
        from .mining import pools, read_mined

        if not Path(config.negatives_file).is_file():
            raise SearchtuneError(f"{config.negatives_file}: negatives file not found (write one with "
                                  "`searchtune mine` or take RUN/rounds/round-N/negatives.jsonl)")
        negatives = pools(read_mined(config.negatives_file))
    model_dir = out_dir / "model"
    ckpt_dir = out_dir / "checkpoints"
    parts = training_rows(data, split.train, judged_negatives=config.judged_negatives,
                          min_gain=config.min_positive_gain, held_out=set(split.dev) | set(split.test),
                          negatives=negatives, negatives_per_row=negatives_per_row,
                          fallback=config.min_gain_fallback, typo_rate=config.query_typo_rate,
                          typo_seed=config.seed)
    datasets = {name: Dataset.from_dict(rows) for name, rows in parts.items()}
    dataset = datasets if len(datasets) > 1 else next(iter(datasets.values()))
    n_rows = sum(len(d) for d in datasets.values())
    n_queries = len({q for rows in parts.values() for q in rows["query"]})
    logger.info("training on %s rows from %d queries", {k: len(v) for k, v in datasets.items()}, n_queries)

    if config.kind == "dense":
        from sentence_transformers import (
            SentenceTransformerTrainer,
            SentenceTransformerTrainingArguments,
        )
        from sentence_transformers.losses import (
            CachedMultipleNegativesRankingLoss,
            MatryoshkaLoss,
            MultipleNegativesRankingLoss,
        )

        model = load_dense_encoder(init_model or base_model(config))
        # CachedMNRL (GradCache) gives the in-batch negatives of a large batch at a small batch's memory
        inner = (CachedMultipleNegativesRankingLoss(model, mini_batch_size=config.mini_batch_size)
                 if config.mini_batch_size else MultipleNegativesRankingLoss(model))
        dims = sorted({int(d) for d in config.matryoshka_dims}, reverse=True)
        if dims and dims[0] > _dim(model):
            raise SearchtuneError(f"matryoshka size {dims[0]} is larger than the model's "
                                  f"{_dim(model)} dimensions")
        loss = MatryoshkaLoss(model, inner, matryoshka_dims=dims) if dims else inner
        Args, Trainer, kind_callbacks = SentenceTransformerTrainingArguments, SentenceTransformerTrainer, []
    elif config.kind == "sparse":
        model = load_sparse_encoder(init_model or base_model(config), pooling_chunk=None)
        loss = SpladeLoss(
            model,
            loss=SparseMultipleNegativesRankingLoss(model),
            query_regularizer_weight=config.query_regularizer_weight,
            document_regularizer_weight=config.document_regularizer_weight,
        )
        # The regulariser weights ramp up over the first third of training (the SPLADE recipe).
        Args, Trainer = SparseEncoderTrainingArguments, SparseEncoderTrainer
        kind_callbacks = [SpladeRegularizerWeightSchedulerCallback(loss)]
    else:
        raise SearchtuneError(f"kind must be sparse or dense, not '{config.kind}'")
    precision = resolve(config.precision, "cuda" if model.device.type == "cuda" else "cpu")
    model.max_seq_length = config.max_seq_length
    args = Args(
        output_dir=str(ckpt_dir),
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a ratio in transformers v5
        weight_decay=config.weight_decay,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        multi_dataset_batch_sampler=MultiDatasetBatchSamplers.PROPORTIONAL,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,
        logging_steps=logging_steps(config, [len(d) for d in datasets.values()]),
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",
        disable_tqdm=not progress,
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        bf16=precision == "bf16",  # autocast; the saved weights stay float32
        use_cpu=model.device.type == "cpu",  # transformers refuses bf16 without a GPU unless told
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    callbacks = [*kind_callbacks, _log_callback(out_dir / "train_log.jsonl"), *(callbacks or [])]
    trainer = Trainer(model=model, args=args, train_dataset=dataset, loss=loss, callbacks=callbacks)
    checkpoint = None
    if resume:
        # A checkpoint is complete once the trainer has written its state; one cut off mid-save (the
        # process killed while writing it) is skipped in favour of the one before.
        done = [c for c in ckpt_dir.glob("checkpoint-*") if (c / "trainer_state.json").exists()
                and c.name.split("-")[-1].isdigit()]
        if done:
            checkpoint = str(max(done, key=lambda c: int(c.name.split("-")[-1])))
            logger.info("resuming from %s", checkpoint)
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=checkpoint)
    seconds = time.perf_counter() - started
    model.save_pretrained(str(model_dir))
    (model_dir / CONFIG_FILE).write_text(yaml.safe_dump(asdict(config), sort_keys=False))
    stats = {
        "pairs": n_rows,
        "rows_by_kind": {k: len(v) for k, v in datasets.items()},
        "queries": n_queries,
        "epochs": config.epochs,
        "steps": trainer.state.global_step,
        "seconds": round(seconds, 2),
        "pairs_per_second": round(result.metrics.get("train_samples_per_second", 0.0), 2),
        "final_loss": result.metrics.get("train_loss"),
        "resumed": bool(checkpoint),
        "precision": precision,
        "started_from": init_model or base_model(config),
        "kind": config.kind,
        **(extra_stats or {}),
    }
    (model_dir / "training_stats.json").write_text(json.dumps(stats, indent=2))
    (model_dir / "training_log.json").write_text(json.dumps(trainer.state.log_history, indent=1))
    return model_dir


train_model = train_sparse
