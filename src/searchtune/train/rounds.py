"""Training in rounds with mined hard negatives (ANCE), and the greedy soup of the rounds' models.

Round 0 is the usual training (judged + in-batch negatives), or ``mine.start_model``. Each later round
mines negatives for the training queries with the previous round's model (:mod:`.negatives`), trains on
them, and is scored on dev by an :class:`Evaluator`; the best round wins and the loop stops when dev stops
improving. With ``mine.source = bm25`` there is one round of BM25-mined negatives.

Layout under ``RUN/rounds/`` (for the user and for ``--resume``)::

    round-N/negatives.jsonl the mined pool per training query (query, positives, negatives with rank/score/source)
    round-N/mining.json     the mining stats
    round-N/model/          the model trained on it; round-N/checkpoints/ for resume
    round-N/round.json      timings and dev metrics of the finished round
    soup-N/, soup.json      the greedy soup (with mine.soup)
    rounds.json             the summary: every round, the best one, why it stopped

An interrupted run resumes at its last finished step: a round whose ``round.json`` exists is not redone,
a mined file is not mined again, and training continues from its checkpoint.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from ..config import MineConfig, TrainConfig
from ..data import SearchData, Split
from ..errors import SearchtuneError
from ..files import write_json
from ..index import Index
from ..models import load_encoder
from ..rundir import RunDir
from .negatives import load_pools, mine, pools, read_mined, write_mined
from .trainer import train

logger = logging.getLogger(__name__)


class Evaluator(Protocol):
    """Scores a model on the dev queries; the rounds call it and mine from the collections it builds."""

    def score(self, model_ref: str, collection: str) -> dict[str, float]:
        """Index the catalog with ``model_ref`` in ``collection`` (reused if it holds exactly that) and return
        the dev metrics."""

    def open(self, collection: str) -> Index:
        """The collection :meth:`score` built (the next round mines from it)."""


@dataclass
class RoundResult:
    round: int
    source: str
    model: str
    dev: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    mining: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)  # the trainer's stats (empty for a given start model)


@dataclass
class MiningResult:
    """What the rounds produced: every round, the chosen model (best round or soup) and why the loop stopped."""

    source: str
    metric: str
    rounds: list[RoundResult]
    best_round: int | str
    best_model: str
    stopped: str
    config: dict = field(default_factory=dict)
    soup: dict | None = None
    examples: list[dict] = field(default_factory=list)  # a few mined queries for the report

    def to_dict(self) -> dict:
        return asdict(self)

    def chosen_training(self) -> dict | None:
        """The trainer's stats of the chosen model (None for a soup: it was averaged, not trained)."""
        return next((r.training for r in self.rounds if r.model == self.best_model and r.training), None)

    @classmethod
    def from_dict(cls, raw: dict) -> MiningResult:
        return cls(**{**raw, "rounds": [RoundResult(**r) for r in raw["rounds"]]})


def train_with_mining(data: SearchData, split: Split, train_cfg: TrainConfig, mine_cfg: MineConfig,
                      out_dir: str | Path, *, evaluator: Evaluator, resume: bool = False, progress: bool = True,
                      metric: str = "ndcg@10") -> MiningResult:
    """Train with mined negatives in rounds; return the rounds and the chosen model (also ``rounds.json``)."""
    from .negatives import examples

    if mine_cfg.source not in ("model", "bm25"):
        raise SearchtuneError("training in rounds needs negatives from the model (ance) or bm25")
    root = RunDir(out_dir).rounds
    root.mkdir(parents=True, exist_ok=True)
    results: list[RoundResult] = []

    def finished(r: int) -> RoundResult | None:
        f = root / f"round-{r}" / "round.json"
        return RoundResult(**json.loads(f.read_text())) if resume and f.exists() else None

    def train_round(r: int, init: str | None, negatives, extra) -> tuple[str, dict, dict]:
        t = time.perf_counter()
        result = train(data, split, train_cfg, root / f"round-{r}", resume=resume, progress=progress, init_model=init,
                       negatives=negatives, negatives_per_row=mine_cfg.negatives_per_row, extra_stats=extra)
        return str(result.model_dir), {"train_seconds": round(time.perf_counter() - t, 1)}, result.stats

    def finish(res: RoundResult) -> None:
        t = time.perf_counter()
        res.dev = evaluator.score(res.model, f"round-{res.round}")
        res.timings["index_and_dev_seconds"] = round(time.perf_counter() - t, 1)
        logger.info("round %d (%s): dev %s %.4f", res.round, res.source, metric, res.dev.get(metric, float("nan")))
        write_json(root / f"round-{res.round}" / "round.json", asdict(res), indent=2)

    best = None
    if mine_cfg.source == "bm25":
        previous = train_cfg.model
    else:  # round 0: where mining starts from
        r0 = finished(0)
        if r0 is None:
            (root / "round-0").mkdir(exist_ok=True)
            if mine_cfg.start_model:
                r0 = RoundResult(0, "given", mine_cfg.start_model)
            else:
                kind = "judged" if train_cfg.judged_negatives else "in-batch"
                negatives = "judged+in-batch" if kind == "judged" else kind
                pool = None
                if train_cfg.negatives_file:
                    kind, negatives = "file", f"{train_cfg.negatives_file}+in-batch"
                    pool = load_pools(train_cfg.negatives_file)
                path, timings, stats = train_round(0, None, pool, {"round": 0, "negatives": negatives})
                r0 = RoundResult(0, kind, path, timings=timings, training=stats)
            finish(r0)
        results.append(r0)
        best = r0
        previous = r0.model
    last_records: list[dict] = []
    stale, stopped = 0, "all rounds done"
    for r in range(1, (1 if mine_cfg.source == "bm25" else mine_cfg.rounds) + 1):
        res = finished(r)
        rdir = root / f"round-{r}"
        mined_path, stats_path = rdir / "negatives.jsonl", rdir / "mining.json"
        if res is None:
            rdir.mkdir(exist_ok=True)
            if resume and mined_path.exists() and stats_path.exists():
                records, mstats = read_mined(mined_path), json.loads(stats_path.read_text())
            else:
                records, mstats = _mine_round(data, split, train_cfg, mine_cfg, previous, f"round-{r - 1}",
                                              evaluator, progress)
                write_mined(mined_path, records)
                write_json(stats_path, mstats, indent=2)
            init = previous if mine_cfg.source == "model" else None
            path, timings, stats = train_round(r, init, pools(records), {"round": r, "negatives": mine_cfg.source})
            res = RoundResult(r, mine_cfg.source, path, timings=timings, mining=mstats, training=stats)
            finish(res)
        last_records = read_mined(mined_path) if mined_path.exists() else []
        results.append(res)
        previous = res.model
        if best is None or res.dev.get(metric, -1) > best.dev.get(metric, -1):
            best, stale = res, 0
        else:
            stale += 1
            if stale >= mine_cfg.patience:
                stopped = f"dev {metric} did not improve for {stale} round(s)"
                break
    result = MiningResult(source=mine_cfg.source, metric=metric, rounds=results, best_round=best.round,
                          best_model=best.model, stopped=stopped, config=asdict(mine_cfg),
                          examples=examples(last_records, 5))
    if mine_cfg.soup or mine_cfg.soup_with:
        result.soup = _soup(results, mine_cfg, root, evaluator=evaluator, resume=resume, metric=metric)
        if result.soup["model"] != best.model:
            result.best_round, result.best_model = result.soup["round"], result.soup["model"]
    write_json(root / "rounds.json", result.to_dict(), indent=2)
    return result


def _mine_round(data, split, train_cfg: TrainConfig, mine_cfg: MineConfig, model_ref: str, collection: str,
                evaluator: Evaluator, progress: bool) -> tuple[list[dict], dict]:
    """Negatives for a round: from the previous round's collection (already built by the evaluator), or BM25."""
    t = time.perf_counter()
    options = {"progress": progress, "min_gain": train_cfg.min_positive_gain, "fallback": train_cfg.min_gain_fallback}
    if mine_cfg.source == "bm25":
        records, stats = mine(data, split, mine_cfg, **options)
    else:
        with evaluator.open(collection) as index:
            records, stats = mine(data, split, mine_cfg, model=load_encoder(model_ref, kind="sparse"), index=index,
                                  precision=train_cfg.precision, **options)
    stats["seconds"] = round(time.perf_counter() - t, 1)
    return records, stats


def _soup(results: list[RoundResult], mine_cfg: MineConfig, root: Path, *, evaluator: Evaluator, resume: bool,
          metric: str) -> dict:
    """Greedy weight-average (:mod:`.soup`) of the rounds' models and ``soup_with``, chosen on dev.

    Soup models are saved as ``rounds/soup-N`` and indexed in collection ``round-soup-N``. With resume,
    a finished soup (``rounds/soup.json``) of the same candidates is reused.
    """
    from .soup import greedy_soup

    known = {r.model: r.dev.get(metric, -1.0) for r in results if r.dev}
    candidates = list(dict.fromkeys([*known, *mine_cfg.soup_with]))
    done = root / "soup.json"
    if resume and done.exists():
        previous = json.loads(done.read_text())
        if set(previous["candidates"]) == set(candidates):
            return previous
    names = {r.model: str(r.round) for r in results}  # collection round-<name> holds the model's index

    def score(path: str) -> float:
        name = names.setdefault(path, Path(path).name if Path(path).parent == root else f"in-{len(names)}")
        value = evaluator.score(path, f"round-{name}").get(metric, -1.0)
        logger.info("soup candidate %s: dev %s %.4f", Path(path).name, metric, value)
        return value

    t = time.perf_counter()
    res = greedy_soup(candidates, root, score, scores=known)
    res["seconds"] = round(time.perf_counter() - t, 1)
    res["round"] = names[res["model"]]
    write_json(done, res, indent=2)
    return res


def install_best(result: MiningResult, out_dir: str | Path) -> Path:
    """Copy the chosen model to ``RUN/model`` (what `evaluate`, `index` and the report use)."""
    target = RunDir(out_dir).model
    source = Path(result.best_model)
    if source.resolve() == target.resolve():
        return target
    tmp = target.with_name("model.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    (tmp / "rounds.json").write_text(json.dumps(result.to_dict(), indent=2))
    shutil.rmtree(target, ignore_errors=True)
    tmp.replace(target)
    return target
