"""One model trained on several data sets (``searchtune train-multi``).

Every batch comes from one set (sentence-transformers' multi-data-set batch samplers over one data set per
set and row kind), so in-batch negatives are never trivially from another domain. ``proportional`` draws
sets by their rows (after ``max_samples`` and ``weight``); ``round_robin`` takes one batch of each in turn and
stops when the smallest runs out. With ``curriculum``, the other sets train first and the target last,
starting from the first phase's model. Every set's dev and test queries are held out, and a training query
whose text is another set's held-out query is dropped too.

``RUN/`` holds ``model/`` (the result), ``phase-1/`` (curriculum), ``datasets.json`` (rows per set and
their splits) and the usual checkpoints and log, so ``--resume`` continues an interrupted run.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import SearchtuneError
from ..files import write_json
from ..rundir import STATS, RunDir
from ..train.trainer import TrainResult, train
from .sets import LoadedSet, load_set, set_rows
from .spec import MultiSpec

logger = logging.getLogger(__name__)


def training_parts(sets: list[LoadedSet], spec: MultiSpec) -> tuple[dict, dict]:
    """Rows keyed ``<set>/<kind>`` for the trained sets of ``sets``, and the per-set stats."""
    held = {name: s.held_out_texts() for name, s in ((s.name, s) for s in sets)}
    parts, stats = {}, {}
    for s in sets:
        if s.spec.eval_only:
            continue
        others = set().union(*(texts for name, texts in held.items() if name != s.name))
        rows, stats[s.name] = set_rows(s, judged_negatives=spec.train.judged_negatives,
                                       min_gain=spec.train.min_positive_gain, other_held_out=others,
                                       seed=spec.train.seed)
        parts.update({f"{s.name}/{kind}": r for kind, r in rows.items()})
    return parts, stats


def train_multi(spec: MultiSpec, out: str | Path, *, resume: bool = False, progress: bool = True,
                sets: list[LoadedSet] | None = None) -> TrainResult:
    """Train ``spec.train.model`` on the sets of ``spec``; the model is ``OUT/model``."""
    import json

    out = Path(out)
    if spec.train.inference_free:
        raise SearchtuneError("inference-free training reads one catalog's IDF; train on one set for it")
    if not spec.trained:
        raise SearchtuneError(f"{spec.path}: every data set is eval_only: there is nothing to train on")
    stats_file = RunDir(out).model / STATS
    if resume and stats_file.exists():
        logger.info("training already finished in %s", RunDir(out).model)
        return TrainResult(RunDir(out).model, json.loads(stats_file.read_text()))
    if out.exists() and any(out.iterdir()) and not resume:
        raise SearchtuneError(f"{out} already holds a run; pass --resume to continue it, or choose a new --out")
    sets = sets or [load_set(d) for d in spec.datasets]
    parts, per_set = training_parts(sets, spec)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "datasets.json", {"sampler": spec.sampler, "curriculum": spec.curriculum, "sets": per_set,
                                       "splits": {s.name: {"train": len(s.split.train), "dev": len(s.split.dev),
                                                           "test": len(s.split.test), "source": s.split.source}
                                                  for s in sets}}, indent=2)
    extra = {"datasets": per_set, "sampler": spec.sampler}
    if not spec.curriculum:
        return train(None, None, spec.train, out, resume=resume, progress=progress, parts=parts,
                     sampler=spec.sampler, extra_stats=extra)
    target = spec.target or spec.trained[0].name
    first = {k: v for k, v in parts.items() if not k.startswith(f"{target}/")}
    last = {k: v for k, v in parts.items() if k.startswith(f"{target}/")}
    if not first or not last:
        raise SearchtuneError(f"curriculum needs the target ({target}) and at least one other trained set")
    phase = out / "phase-1"
    done = RunDir(phase).model / STATS
    if resume and done.exists():
        general = TrainResult(RunDir(phase).model, json.loads(done.read_text()))
    else:
        logger.info("curriculum, phase 1: %s", ", ".join(sorted({k.split('/')[0] for k in first})))
        general = train(None, None, spec.train, phase, resume=resume, progress=progress, parts=first,
                        sampler=spec.sampler)
    logger.info("curriculum, phase 2: %s", target)
    return train(None, None, spec.train, out, resume=resume, progress=progress, parts=last, sampler=spec.sampler,
                 init_model=str(general.model_dir), extra_stats={**extra, "curriculum": {
                     "first": general.stats, "target": target}})
