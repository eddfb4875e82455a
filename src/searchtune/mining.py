"""Hard-negative mining in rounds (ANCE), and BM25-mined negatives.

A round: index the catalog with the current model (the same Qdrant code as
search), retrieve the top-K products for every *training* query with the
query's known positives filtered out inside Qdrant, drop products whose text
equals a positive's, and take negatives from a rank window (default ranks
10-50, not the very top: the top of a ranking is full of relevant products
nobody labelled, and training away from them poisons the model). Candidates
scoring within a relative ``margin`` of the best positive are skipped too
(the "positive-aware" filter of NV-Retriever, Moreira et al. 2024). Judged
gain-0 products fill the pool first. Then train on (query, positive,
negatives) with the same loss, measure dev nDCG@10, keep the best round and
stop when dev stops improving.

Layout under ``RUN/rounds/``::

    round-0/model/          the first training (judged + in-batch negatives), unless mine.start_model is given
    round-N/negatives.jsonl the mined pool per training query (query, positives, negatives with rank/score/source)
    round-N/model/          the model trained on it; round-N/checkpoints/ for resume
    round-N/round.json      timings and dev metrics of the finished round
    rounds.json             the summary: every round, the best one, why it stopped

An interrupted run resumes at its last finished step: a round whose
``round.json`` exists is not redone, a mined file is not mined again, and
training continues from its checkpoint.
"""

from __future__ import annotations

import json
import logging
import random
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .config import MineConfig, TrainConfig
from .data import SearchData, Split
from .errors import SearchtuneError

logger = logging.getLogger(__name__)

SOURCES = ("judged", "none", "model", "bm25")


def check_config(cfg: MineConfig) -> None:
    if cfg.source not in SOURCES:
        raise SearchtuneError(f"negatives source must be one of {', '.join(SOURCES)}, not '{cfg.source}'")
    if not 1 <= cfg.window_start <= cfg.window_end:
        raise SearchtuneError(f"the rank window {cfg.window_start}-{cfg.window_end} is empty; "
                              "give start <= end, both from 1")
    if cfg.window_end > cfg.top_k:
        raise SearchtuneError(f"the rank window ends at {cfg.window_end} but only top_k={cfg.top_k} candidates "
                              "are retrieved; raise --mine-top-k or lower the window")
    if not 0 <= cfg.margin < 1:
        raise SearchtuneError(f"margin must be in [0, 1), got {cfg.margin}")
    if cfg.negatives_per_query < 1 or cfg.negatives_per_row < 1:
        raise SearchtuneError("negatives per query and per row must be at least 1")
    if cfg.rounds < 0:
        raise SearchtuneError(f"rounds must be 0 or more, got {cfg.rounds}")
    if (cfg.soup or cfg.soup_with) and cfg.source not in ("model", "bm25"):
        raise SearchtuneError("--soup averages the models of mining rounds; add --negatives ance (or bm25), or "
                              "average finished models with `searchtune average`")


def parse_window(text: str) -> tuple[int, int]:
    """``"10-50"`` → (10, 50)."""
    m = re.fullmatch(r"\s*(\d+)\s*[-:]\s*(\d+)\s*", text or "")
    if not m:
        raise SearchtuneError(f"--mine-window must look like 10-50, got '{text}'")
    return int(m.group(1)), int(m.group(2))


def _norm(text: str) -> str:
    return " ".join(str(text).lower().split())


def known_positives(data: SearchData, qid: str) -> set[str]:
    """Every judged product with gain > 0: none of them may come back as a negative."""
    return {p for p, g in data.qrels.get(qid, {}).items() if g > 0}


def select_negatives(qid: str, candidates: list[tuple[str, float]], *, data: SearchData, cfg: MineConfig,
                     best_positive: float | None) -> dict:
    """Choose the pool of negatives for one query from its ranked candidates.

    ``candidates``: (product_id, score) in rank order. Known positives are
    dropped before ranks are counted (Qdrant already filtered them out; this
    guards other sources), so rank 1 is the best-scoring non-positive. Returns
    the record written to ``negatives.jsonl``.
    """
    positives = known_positives(data, qid)
    texts = data.texts
    pos_texts = {_norm(texts[p]) for p in positives if p in texts}
    rng = random.Random(f"{cfg.seed}:{qid}")
    skipped = {"identical_text": 0, "margin": 0, "outside_window": 0}
    eligible = []
    rank = 0
    for pid, score in candidates:
        if pid in positives:
            continue
        rank += 1
        if not cfg.window_start <= rank <= cfg.window_end:
            skipped["outside_window"] += 1
            continue
        if _norm(texts.get(pid, "")) in pos_texts:
            skipped["identical_text"] += 1
            continue
        if cfg.margin > 0 and best_positive is not None and best_positive > 0 \
                and score > (1 - cfg.margin) * best_positive:
            skipped["margin"] += 1
            continue
        eligible.append({"product_id": pid, "rank": rank, "score": round(float(score), 4), "source": cfg.source})
    chosen = []
    if cfg.judged_first:
        judged = sorted(p for p in data.negatives(qid) if _norm(texts.get(p, "")) not in pos_texts)
        rng.shuffle(judged)
        chosen = [{"product_id": p, "rank": None, "score": None, "source": "judged"}
                  for p in judged[:cfg.negatives_per_query]]
    taken = {c["product_id"] for c in chosen}
    eligible = [e for e in eligible if e["product_id"] not in taken]
    room = cfg.negatives_per_query - len(chosen)
    if room > 0 and eligible:
        picked = rng.sample(eligible, min(room, len(eligible)))
        chosen += sorted(picked, key=lambda e: e["rank"])
    for c in chosen:
        c["text"] = texts.get(c["product_id"], "")
    judged_pos = data.qrels.get(qid, {})
    best = sorted((p for p in positives if p in texts), key=lambda p: (-judged_pos[p], p))[:3]
    return {
        "query_id": qid,
        "query": data.queries[qid],
        "positives": [{"product_id": p, "text": texts[p], "gain": judged_pos[p]} for p in best],
        "best_positive_score": None if best_positive is None else round(float(best_positive), 4),
        "negatives": chosen,
        "candidates": len(candidates),
        "skipped": skipped,
    }


# -- candidate sources ----------------------------------------------------------
def _bar(bar: dict[str, int] | int, qid: str) -> int:
    """A query's positive bar for the margin: one for all, or per query (mine's min_gain fallback)."""
    return bar[qid] if isinstance(bar, dict) else bar


def model_candidates(model, index, data: SearchData, qids: list[str], cfg: MineConfig, *, precision: str = "auto",
                     batch_size: int = 256, bar: dict[str, int] | int = 1):
    """Top-K candidates per query from ``index`` (searched with ``model``), positives filtered in Qdrant,
    plus each query's best positive score for the margin. Returns (candidates, best_positive, stats)."""
    from .encode import encode_sparse

    t0 = time.perf_counter()
    q_vecs = encode_sparse(model, [data.queries[q] for q in qids], kind="query", batch_size=batch_size,
                           precision=precision)
    t1 = time.perf_counter()
    exclude = [known_positives(data, q) for q in qids]
    hits = index.search(q_vecs, limit=cfg.top_k, exclude=exclude)
    t2 = time.perf_counter()
    best: dict[str, float | None] = {q: None for q in qids}
    if cfg.margin > 0:
        pos = {q: [p for p, g in data.qrels.get(q, {}).items() if g >= _bar(bar, q)] for q in qids}
        ids = sorted({p for ps in pos.values() for p in ps})
        row = {p: i for i, p in enumerate(ids)}
        p_vecs = index.vectors(ids, q_vecs.shape[1])
        for i, q in enumerate(qids):
            if pos[q]:
                scores = (q_vecs[i] @ p_vecs[[row[p] for p in pos[q]]].T).toarray().ravel()
                best[q] = float(scores.max())
    t3 = time.perf_counter()
    candidates = {q: [(h.product_id, h.score) for h in hs] for q, hs in zip(qids, hits)}
    stats = {"queries": len(qids), "encode_seconds": round(t1 - t0, 2), "search_seconds": round(t2 - t1, 2),
             "positive_scores_seconds": round(t3 - t2, 2),
             "search_queries_per_second": round(len(qids) / (t2 - t1), 1) if t2 > t1 else None,
             "queries_per_second": round(len(qids) / (t3 - t0), 1) if t3 > t0 else None,
             "backend": index.metadata().get("backend", type(index).__name__)}
    return candidates, best, stats


def bm25_candidates(data: SearchData, qids: list[str], cfg: MineConfig, *, bar: dict[str, int] | int = 1):
    """Top-K BM25 (stemmed) candidates per query with positives dropped, and the best positive's BM25 score."""
    from .evaluate import bm25_index

    t0 = time.perf_counter()
    bm25 = bm25_index(data, stem=True)
    t1 = time.perf_counter()
    extra = max((len(known_positives(data, q)) for q in qids), default=0)
    run = bm25.search({q: data.queries[q] for q in qids}, k=cfg.top_k + extra)
    t2 = time.perf_counter()
    candidates, best = {}, {}
    position = {p: i for i, p in enumerate(bm25.ids)}
    for q in qids:
        positives = known_positives(data, q)
        ranked = sorted(run.get(q, {}).items(), key=lambda kv: -kv[1])
        candidates[q] = [(p, s) for p, s in ranked if p not in positives][:cfg.top_k]
        best[q] = None
        if cfg.margin > 0:
            pos = [p for p, g in data.qrels.get(q, {}).items() if g >= _bar(bar, q) and p in position]
            if pos:
                scores = bm25.scores(data.queries[q])
                best[q] = float(max(scores[position[p]] for p in pos))
    t3 = time.perf_counter()
    stats = {"queries": len(qids), "index_seconds": round(t1 - t0, 2), "search_seconds": round(t2 - t1, 2),
             "positive_scores_seconds": round(t3 - t2, 2),
             "search_queries_per_second": round(len(qids) / (t2 - t1), 1) if t2 > t1 else None,
             "queries_per_second": round(len(qids) / (t3 - t1), 1) if t3 > t1 else None, "backend": "bm25s"}
    return candidates, best, stats


def mine(data: SearchData, split: Split, cfg: MineConfig, *, model=None, index=None, precision: str = "auto",
         progress: bool = True, min_gain: int | None = None, fallback: bool = False) -> tuple[list[dict], dict]:
    """Mine a pool of negatives for every training query of ``split`` (never a dev or test query) that has a
    training positive (:meth:`SearchData.training_bar`)."""
    check_config(cfg)
    held_out = set(split.dev) | set(split.test)
    bars = {q: data.training_bar(q, min_gain, fallback) for q in split.train if q not in held_out}
    bar = {q: b for q, b in bars.items() if b is not None}
    qids = sorted(bar)
    if cfg.source == "bm25":
        candidates, best, stats = bm25_candidates(data, qids, cfg, bar=bar)
    else:
        if model is None or index is None:
            raise SearchtuneError("mining with a model needs the model and an index of the catalog")
        candidates, best, stats = model_candidates(model, index, data, qids, cfg, precision=precision, bar=bar)
    t = time.perf_counter()
    records = [select_negatives(q, candidates[q], data=data, cfg=cfg, best_positive=best[q]) for q in qids]
    stats["select_seconds"] = round(time.perf_counter() - t, 2)
    stats["negatives"] = sum(len(r["negatives"]) for r in records)
    stats["queries_without_negatives"] = sum(1 for r in records if not r["negatives"])
    for key in ("identical_text", "margin", "outside_window"):
        stats[f"skipped_{key}"] = sum(r["skipped"][key] for r in records)
    logger.info("mined %d negatives for %d training queries (%s, search %.0f q/s)", stats["negatives"], len(qids),
                cfg.source, stats.get("search_queries_per_second") or 0)
    return records, stats


def write_mined(path: str | Path, records: list[dict]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    tmp.replace(path)  # a crash mid-write never leaves a half file that looks finished


def read_mined(path: str | Path) -> list[dict]:
    with Path(path).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def pools(records: list[dict]) -> dict[str, list[str]]:
    return {r["query_id"]: [n["product_id"] for n in r["negatives"]] for r in records}


# -- rounds ---------------------------------------------------------------------
@dataclass
class RoundResult:
    round: int
    source: str
    model: str
    dev: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    mining: dict = field(default_factory=dict)


DevEval = Callable[[str, str], tuple[dict, object]]  # (model path, collection) → (dev metrics, open index)


def train_with_mining(data: SearchData, split: Split, train_cfg: TrainConfig, mine_cfg: MineConfig,
                      out_dir: str | Path, *, dev_eval: DevEval, resume: bool = False, progress: bool = True,
                      metric: str = "ndcg@10") -> dict:
    """Train with mined negatives in rounds; return the summary (``rounds.json``) with the best model.

    ``dev_eval(model_path, collection)`` indexes the catalog with the model in
    that collection, scores the dev queries and returns (metrics, index); the
    index is then reused to mine the next round.
    """
    from .models import load_sparse_encoder
    from .training import train_sparse

    check_config(mine_cfg)
    if mine_cfg.source in ("judged", "none"):
        raise SearchtuneError("train_with_mining needs source 'model' or 'bm25'")
    root = Path(out_dir) / "rounds"
    root.mkdir(parents=True, exist_ok=True)
    results: list[RoundResult] = []

    def finished(r: int) -> RoundResult | None:
        f = root / f"round-{r}" / "round.json"
        return RoundResult(**json.loads(f.read_text())) if resume and f.exists() else None

    def save_round(res: RoundResult) -> None:
        (root / f"round-{res.round}" / "round.json").write_text(json.dumps(asdict(res), indent=2))

    def train_round(r: int, init: str | None, negatives, extra) -> tuple[str, dict]:
        t = time.perf_counter()
        model_dir = train_sparse(data, split, train_cfg, root / f"round-{r}", resume=resume, progress=progress,
                                 init_model=init, negatives=negatives,
                                 negatives_per_row=mine_cfg.negatives_per_row, extra_stats=extra)
        return str(model_dir), {"train_seconds": round(time.perf_counter() - t, 1)}

    def evaluate(res: RoundResult) -> object:
        t = time.perf_counter()
        res.dev, index = dev_eval(res.model, f"round-{res.round}")
        res.timings["index_and_dev_seconds"] = round(time.perf_counter() - t, 1)
        logger.info("round %d (%s): dev %s = %.4f", res.round, res.source, metric, res.dev.get(metric, float("nan")))
        return index

    # Round 0: where mining starts from.
    if mine_cfg.source == "bm25":
        start = train_cfg.model
        r0 = None
    else:
        r0 = finished(0)
        if r0 is None:
            (root / "round-0").mkdir(exist_ok=True)
            if mine_cfg.start_model:
                r0 = RoundResult(0, "given", mine_cfg.start_model)
            else:
                kind = "judged" if train_cfg.judged_negatives else "in-batch"
                negatives = "judged+in-batch" if kind == "judged" else kind
                if train_cfg.negatives_file:  # train_sparse reads the file when no negatives are passed
                    kind, negatives = "file", f"{train_cfg.negatives_file}+in-batch"
                path, timings = train_round(0, None, None, {"round": 0, "negatives": negatives})
                r0 = RoundResult(0, kind, path, timings=timings)
            evaluate(r0).close()
            save_round(r0)
        results.append(r0)
        start = r0.model
    rounds = 1 if mine_cfg.source == "bm25" else mine_cfg.rounds
    best = r0
    stale = 0
    stopped = "all rounds done"
    previous = start
    for r in range(1, rounds + 1):
        res = finished(r)
        if res is None:
            rdir = root / f"round-{r}"
            rdir.mkdir(exist_ok=True)
            mined_path = rdir / "negatives.jsonl"
            stats_path = rdir / "mining.json"
            if resume and mined_path.exists() and stats_path.exists():
                records, mstats = read_mined(mined_path), json.loads(stats_path.read_text())
            else:
                t = time.perf_counter()
                if mine_cfg.source == "bm25":
                    records, mstats = mine(data, split, mine_cfg, progress=progress,
                                           min_gain=train_cfg.min_positive_gain,
                                           fallback=train_cfg.min_gain_fallback)
                else:
                    model = load_sparse_encoder(previous)
                    _, index = dev_eval(previous, f"round-{r - 1}")  # already indexed: reused, not rebuilt
                    try:
                        records, mstats = mine(data, split, mine_cfg, model=model, index=index,
                                               precision=train_cfg.precision, progress=progress,
                                               min_gain=train_cfg.min_positive_gain,
                                               fallback=train_cfg.min_gain_fallback)
                    finally:
                        index.close()
                mstats["seconds"] = round(time.perf_counter() - t, 1)
                write_mined(mined_path, records)
                stats_path.write_text(json.dumps(mstats, indent=2))
            init = previous if mine_cfg.source == "model" else None
            path, timings = train_round(r, init, pools(records), {"round": r, "negatives": mine_cfg.source})
            res = RoundResult(r, mine_cfg.source, path, timings=timings, mining=mstats)
            evaluate(res).close()
            save_round(res)
        results.append(res)
        previous = res.model
        if best is None or res.dev.get(metric, -1) > best.dev.get(metric, -1):
            best, stale = res, 0
        else:
            stale += 1
            if stale >= mine_cfg.patience:
                stopped = f"dev {metric} did not improve for {stale} round(s)"
                break
    summary = {"source": mine_cfg.source, "metric": metric, "best_round": best.round, "best_model": best.model,
               "stopped": stopped, "rounds": [asdict(x) for x in results], "config": asdict(mine_cfg)}
    if mine_cfg.soup or mine_cfg.soup_with:
        soup = _soup(results, mine_cfg, root, dev_eval=dev_eval, resume=resume, metric=metric)
        summary["soup"] = soup
        if soup["model"] != best.model:
            summary["best_round"], summary["best_model"] = soup["round"], soup["model"]
    (root / "rounds.json").write_text(json.dumps(summary, indent=2))
    return summary


def _soup(results: list[RoundResult], mine_cfg: MineConfig, root: Path, *, dev_eval: DevEval, resume: bool,
          metric: str) -> dict:
    """Greedy weight-average (searchtune.soup) of the rounds' models and ``soup_with``, chosen on dev.

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
        t = time.perf_counter()
        metrics, index = dev_eval(path, f"round-{name}")
        index.close()
        logger.info("soup %s: dev %s = %.4f (%.0f s)", path, metric, metrics.get(metric, float("nan")),
                    time.perf_counter() - t)
        return metrics.get(metric, -1.0)

    t = time.perf_counter()
    res = greedy_soup(candidates, root, score, scores=known)
    res["seconds"] = round(time.perf_counter() - t, 1)
    res["round"] = names[res["model"]]
    done.write_text(json.dumps(res, indent=2))
    return res


def install_best(summary: dict, out_dir: str | Path) -> Path:
    """Copy the best round's model to ``RUN/model`` (what `evaluate`, `index` and the report use)."""
    target = Path(out_dir) / "model"
    source = Path(summary["best_model"])
    if source.resolve() == target.resolve():
        return target
    tmp = target.with_name("model.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    (tmp / "rounds.json").write_text(json.dumps(summary, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    tmp.replace(target)
    return target


def examples(records: list[dict], n: int = 5, seed: int = 0) -> list[dict]:
    """A few mined queries for the report: query, best positive, the negatives with rank and source."""
    with_mined = [r for r in records if any(x["source"] != "judged" for x in r["negatives"])]
    rng = random.Random(seed)
    picked = rng.sample(with_mined, min(n, len(with_mined)))
    def title(text: str) -> str:  # the product text starts with [brand] title; the rest is long
        return text.split(" | ")[0].replace("|", "/")

    return [{"query": r["query"], "positive": title(r["positives"][0]["text"]) if r["positives"] else "",
             "negatives": [{"text": title(x["text"]), "rank": x["rank"], "source": x["source"]}
                           for x in r["negatives"]]}
            for r in picked]
