"""Fine-tuning (SPLADE or dense) with the sentence-transformers trainer.

The rows come from :mod:`.rows`. Everything else — the SpladeLoss around
SparseMultipleNegativesRankingLoss with FLOPS regularisation (or MNRL / CachedMNRL / Matryoshka for dense
models), the no-duplicates batch sampler, checkpoints and ``resume_from_checkpoint`` — is
sentence-transformers. Ours: which checkpoint is complete enough to resume from, the log file the studio
reads, and a progress bar in place of the trainer's printed log dicts.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config import TrainConfig
from ..data import SearchData, Split
from ..distributed import world_size
from ..encode import embedding_dim
from ..errors import SearchtuneError
from ..files import write_json
from ..fit import common_args, fit, save_stats
from ..inference_free import (
    QUERY_LEARNING_RATE,
    TABLE_PATTERN,
    is_inference_free,
    make_inference_free,
    query_table,
)
from ..models import load_encoder, model_kind
from ..rundir import RunDir
from .fused import fused
from .rows import training_rows

logger = logging.getLogger(__name__)

CONFIG_FILE = "searchtune_config.yaml"


def base_model(config: TrainConfig) -> str:
    """The model training starts from: ``config.model``, which must be of ``config.kind`` (a hub id that is not
    downloaded is taken to be). The one exception is the default: ``--kind dense`` without ``--model`` trains
    ``config.dense_model`` (minilm) instead of the default SPLADE model."""
    if config.kind == "dense" and config.model == TrainConfig().model:
        return config.dense_model
    kind = model_kind(config.model, declared=config.kind)
    if kind != config.kind:
        raise SearchtuneError(f"--model {config.model} is a {kind} model, but --kind is {config.kind}; pass "
                              f"--kind {kind}, or a {config.kind} model")
    return config.model


def logging_steps(config: TrainConfig, dataset_rows: list[int]) -> int:
    """How often the loss is logged: ``config.logging_steps``, or more often for a run with fewer than ten times
    that many steps, so that every run logs about ten loss points or more (the studio's live loss curve
    would stay empty for a short run on a small catalog)."""
    steps = int(sum(-(-n // config.batch_size) for n in dataset_rows) * config.epochs)
    return max(1, min(config.logging_steps, steps // 10))


def set_round_robin(groups: list[str]):
    """A multi-dataset batch sampler for sentence-transformers' trainer: one batch of each *set* in turn
    (``groups[i]``: the set of the trainer's i-th dataset; a set's row kinds drawn in proportion to their
    batches), until the set with the fewest batches runs out. sentence-transformers' own round robin turns
    over datasets, and a set's small row kind (Icecat's few triplets) would end training after a few steps.
    A ``functools.partial`` of a module-level class: the trainer pickles its arguments into checkpoints."""
    return functools.partial(_set_round_robin_class(), groups=list(groups))


@functools.cache
def _set_round_robin_class():
    from itertools import accumulate

    import torch
    from sentence_transformers.base.sampler import MultiDatasetDefaultBatchSampler

    class SetRoundRobin(MultiDatasetDefaultBatchSampler):
        def __init__(self, dataset, batch_samplers, generator=None, seed: int = 0, *, groups: list[str]):
            super().__init__(dataset, batch_samplers, generator=generator, seed=seed)
            self.groups, self.names = groups, sorted(set(groups))

        def __iter__(self):
            offsets = [0, *accumulate(len(d) for d in self.dataset.datasets)]
            generator = torch.Generator()
            generator.manual_seed((self.seed or 0) + getattr(self, "epoch", 0))
            streams = []
            for name in self.names:
                order = [i for i, g in enumerate(self.groups) if g == name for _ in range(len(self.batch_samplers[i]))]
                perm = torch.randperm(len(order), generator=generator).tolist()
                streams.append(([order[j] for j in perm], {i: iter(self.batch_samplers[i]) for i in set(order)}))
            for step in range(min(len(order) for order, _ in streams)):
                for order, iters in streams:
                    i = order[step]
                    batch = next(iters[i], None)  # a no-duplicates sampler may yield fewer than it counted
                    if batch is not None:
                        yield [idx + offsets[i] for idx in batch]

        def __len__(self) -> int:
            per_set = {name: sum(len(self.batch_samplers[i]) for i, g in enumerate(self.groups) if g == name)
                       for name in self.names}
            return min(per_set.values()) * len(per_set)

    SetRoundRobin.__module__, SetRoundRobin.__qualname__ = __name__, "SetRoundRobin"
    globals()["SetRoundRobin"] = SetRoundRobin  # found by name when a checkpoint's arguments are unpickled
    return SetRoundRobin


@dataclass
class TrainResult:
    model_dir: Path
    stats: dict  # rows, steps, seconds, speed, final loss, precision (also model/training_stats.json)


def train(data: SearchData, split: Split, config: TrainConfig, out_dir: str | Path, *, resume: bool = False,
          progress: bool = True, callbacks=None, init_model: str | None = None,
          negatives: dict[str, list[str]] | None = None, negatives_per_row: int = 1,
          extra_stats: dict | None = None, parts: dict[str, dict[str, list[str]]] | None = None,
          sampler: str = "proportional") -> TrainResult:
    """Fine-tune ``config.model`` (or ``init_model``, e.g. the previous mining round's) on the training queries
    of ``split``; the model is saved to ``OUT/model``.

    Checkpoints go to ``OUT/checkpoints``; with ``resume=True`` training continues from the latest complete
    one instead of starting over. ``negatives`` (a pool per query, :mod:`.negatives`) replaces the judged
    negatives. ``parts``: ready training rows by name (``set/kind``) instead (several data sets:
    :mod:`searchtune.multi`); every batch comes from one part, drawn ``proportional`` to their rows
    (sentence-transformers' sampler) or ``round_robin``: one batch of each set in turn (:func:`set_round_robin`).
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

    out_dir = Path(out_dir)
    run = RunDir(out_dir)
    model_dir, ckpt_dir = run.model, run.checkpoints
    if parts is None:
        parts = training_rows(data, split.train, judged_negatives=config.judged_negatives,
                              min_gain=config.min_positive_gain, held_out=set(split.dev) | set(split.test),
                              negatives=negatives, negatives_per_row=negatives_per_row,
                              fallback=config.min_gain_fallback, typo_rate=config.query_typo_rate,
                              typo_seed=config.seed)
    datasets = {name: Dataset.from_dict(rows) for name, rows in parts.items()}
    dataset = datasets if len(datasets) > 1 else next(iter(datasets.values()))
    n_rows = sum(len(d) for d in datasets.values())
    n_queries = len({q for rows in parts.values() for q in rows["query"]})
    logger.info("training on %s rows from %s queries", f"{n_rows:,}", f"{n_queries:,}")

    extra_args = {}
    gather = world_size() > 1  # several processes: every process's in-batch negatives count for each query
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

        model = load_encoder(init_model or base_model(config), kind="dense")
        # CachedMNRL (GradCache) gives the in-batch negatives of a large batch at a small batch's memory
        inner = (CachedMultipleNegativesRankingLoss(model, mini_batch_size=config.mini_batch_size,
                                                    gather_across_devices=gather)
                 if config.mini_batch_size else MultipleNegativesRankingLoss(model, gather_across_devices=gather))
        dims = sorted({int(d) for d in config.matryoshka_dims}, reverse=True)
        if dims and dims[0] > embedding_dim(model):
            raise SearchtuneError(f"matryoshka size {dims[0]} is larger than the model's "
                                  f"{embedding_dim(model)} dimensions")
        loss = MatryoshkaLoss(model, inner, matryoshka_dims=dims) if dims else inner
        Args, Trainer, kind_callbacks = SentenceTransformerTrainingArguments, SentenceTransformerTrainer, []
    elif config.kind == "sparse":
        model = load_encoder(init_model or base_model(config), kind="sparse", pooling_chunk=None)
        if config.inference_free:
            model = make_inference_free(model, data.products["text"].tolist())
            route = {"query": "query", **{c: "document" for rows in parts.values() for c in rows if c != "query"}}
            extra_args = {"router_mapping": route, "learning_rate_mapping": {TABLE_PATTERN: QUERY_LEARNING_RATE}}
        loss = SpladeLoss(
            model,
            loss=SparseMultipleNegativesRankingLoss(model, gather_across_devices=gather),
            # an inference-free query is its own tokens: nothing to sparsify (0, not None: None logs a warning)
            query_regularizer_weight=0.0 if config.inference_free else config.query_regularizer_weight,
            document_regularizer_weight=config.document_regularizer_weight,
        )
        # The regulariser weights ramp up over the first third of training (the SPLADE recipe).
        Args, Trainer = SparseEncoderTrainingArguments, SparseEncoderTrainer
        kind_callbacks = [SpladeRegularizerWeightSchedulerCallback(loss)]
    else:
        raise SearchtuneError(f"kind must be sparse or dense, not '{config.kind}'")
    model.max_seq_length = config.max_seq_length
    if is_inference_free(model):  # the query table reads its length from the tokenizer once saved
        query_table(model).tokenizer.model_max_length = config.max_seq_length
    common, precision = common_args(
        model, output_dir=ckpt_dir, epochs=config.epochs, batch_size=config.batch_size,
        learning_rate=config.learning_rate, warmup=config.warmup_ratio, save_steps=config.save_steps,
        logging_steps=logging_steps(config, [len(d) for d in datasets.values()]), seed=config.seed,
        precision=config.precision)
    args = Args(
        **common,
        weight_decay=config.weight_decay,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        multi_dataset_batch_sampler=set_round_robin([k.split("/")[0] for k in datasets])
        if sampler == "round_robin" else MultiDatasetBatchSamplers(sampler),
        **extra_args,
    )
    run, trainer = fit(Trainer, model=model, args=args, train_dataset=dataset, loss=loss, model_dir=model_dir,
                       ckpt_dir=ckpt_dir, log_path=run.train_log, record={CONFIG_FILE: asdict(config)},
                       progress=progress, resume=resume, callbacks=[*kind_callbacks, *(callbacks or [])],
                       around=fused)  # SPLADE: projection + max as one autograd step (train/fused.py)
    stats = {
        "pairs": n_rows,
        "rows_by_kind": {k: len(v) for k, v in datasets.items()},
        "queries": n_queries,
        "epochs": config.epochs,
        **run,
        "precision": precision,
        "started_from": init_model or base_model(config),
        "kind": config.kind,
        **(extra_stats or {}),
    }
    write_json(model_dir / "training_log.json", trainer.state.log_history, indent=1, default=float)
    save_stats(model_dir, stats, ckpt_dir)
    return TrainResult(model_dir, stats)


