"""Hard negatives: candidates (a model's Qdrant collection, or BM25) → selection → a pool per query.

Retrieve the top-K products for every *training* query with the query's known
positives filtered out inside Qdrant, drop products whose text equals a
positive's, and take negatives from a rank window (default ranks 10-50, not
the very top: the top of a ranking is full of relevant products nobody
labelled, and training away from them poisons the model). Candidates scoring
within a relative ``margin`` of the best positive are skipped too (the
"positive-aware" filter of NV-Retriever, Moreira et al. 2024). Judged gain-0
products fill the pool first.

The selection rules and names are those of ``sentence_transformers.util.mine_hard_negatives``
(``range_min`` ranks skipped, ``range_max`` the last rank — counted among
non-positives —, ``relative_margin``, ``num_negatives``, ``sampling_strategy``
random or top), but that function embeds the whole corpus with the model and
searches it in memory (or FAISS); ours retrieves from the Qdrant collection the
round already built and filters known positives inside Qdrant, so it is not
called.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import time
from pathlib import Path

from ..config import MineConfig
from ..data import SearchData, Split
from ..errors import SearchtuneError
from ..evaluation.bm25 import bm25_index
from ..index import collection as col
from ..rerank.model import PairScores, load_reranker

logger = logging.getLogger(__name__)

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
        if not cfg.range_min < rank <= cfg.range_max:
            skipped["outside_window"] += 1
            continue
        if _norm(texts.get(pid, "")) in pos_texts:
            skipped["identical_text"] += 1
            continue
        if cfg.relative_margin > 0 and best_positive is not None and best_positive > 0 \
                and score > (1 - cfg.relative_margin) * best_positive:
            skipped["margin"] += 1
            continue
        eligible.append({"product_id": pid, "rank": rank, "score": round(float(score), 4), "source": cfg.source})
    chosen = []
    if cfg.judged_first:
        judged = sorted(p for p in data.negatives(qid) if _norm(texts.get(p, "")) not in pos_texts)
        rng.shuffle(judged)
        chosen = [{"product_id": p, "rank": None, "score": None, "source": "judged"}
                  for p in judged[:cfg.num_negatives]]
    taken = {c["product_id"] for c in chosen}
    eligible = [e for e in eligible if e["product_id"] not in taken]
    room = cfg.num_negatives - len(chosen)
    if room > 0 and eligible:
        if cfg.sampling_strategy == "top":
            picked = eligible[:room]
        else:
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
    from ..encode import encode_sparse

    models = col.stored_models(index)
    (vector,) = models.named()  # a round's collection holds its one model
    t0 = time.perf_counter()
    q_vecs = encode_sparse(model, [data.queries[q] for q in qids], kind="query", batch_size=batch_size,
                           precision=precision)
    t1 = time.perf_counter()
    exclude = [known_positives(data, q) for q in qids]
    hits = col.search(index, models, [data.queries[q] for q in qids], vector.replace("_", "-"), k=cfg.top_k,
                      exclude=exclude, vectors={vector: q_vecs})
    t2 = time.perf_counter()
    best: dict[str, float | None] = {q: None for q in qids}
    if cfg.relative_margin > 0:
        pos = {q: [p for p, g in data.qrels.get(q, {}).items() if g >= _bar(bar, q)] for q in qids}
        ids = sorted({p for ps in pos.values() for p in ps})
        row = {p: i for i, p in enumerate(ids)}
        p_vecs = index.vectors(ids, q_vecs.shape[1], name=vector)
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
        if cfg.relative_margin > 0:
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
    select = dataclasses.replace(cfg, num_negatives=2 * cfg.num_negatives) if cfg.denoise_with else cfg
    records = [select_negatives(q, candidates[q], data=data, cfg=select, best_positive=best[q]) for q in qids]
    stats["select_seconds"] = round(time.perf_counter() - t, 2)
    if cfg.denoise_with:
        stats["skipped_reranker"] = denoise(records, data, cfg.denoise_with, cfg.denoise_threshold,
                                            keep=cfg.num_negatives, progress=progress)
    stats["negatives"] = sum(len(r["negatives"]) for r in records)
    stats["queries_without_negatives"] = sum(1 for r in records if not r["negatives"])
    for key in ("identical_text", "margin", "outside_window"):
        stats[f"skipped_{key}"] = sum(r["skipped"][key] for r in records)
    logger.info("mined %d negatives for %d training queries (%s, search %.0f q/s)", stats["negatives"], len(qids),
                cfg.source, stats.get("search_queries_per_second") or 0)
    return records, stats


def denoise(records: list[dict], data: SearchData, reranker: str, threshold: float, *, keep: int,
            progress: bool = True) -> int:
    """Drop, in place, the mined (not judged) negatives ``reranker`` scores at ``threshold`` or above: the
    top of a ranking is full of relevant products nobody labelled. Each pool is then cut to ``keep``; returns
    how many were dropped."""
    pairs = [(r["query_id"], n["product_id"]) for r in records for n in r["negatives"] if n["source"] != "judged"]
    scores = PairScores(load_reranker(reranker), data.queries, data.texts, progress=progress).score(
        pairs, "denoising negatives")
    dropped = 0
    for r in records:
        kept = [n for n in r["negatives"] if scores.get((r["query_id"], n["product_id"]), 0.0) < threshold]
        r["skipped"]["reranker"] = len(r["negatives"]) - len(kept)
        dropped += r["skipped"]["reranker"]
        r["negatives"] = kept[:keep]
    logger.info("the reranker dropped %d of %d mined negatives as likely relevant (score >= %.2f)", dropped,
                len(pairs), threshold)
    return dropped


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


def load_pools(path: str | Path) -> dict[str, list[str]]:
    """The negatives pool per query of a mined file (``searchtune mine``, ``RUN/rounds/round-N``)."""
    if not Path(path).is_file():
        raise SearchtuneError(f"{path}: negatives file not found (write one with `searchtune mine` or take "
                              "RUN/rounds/round-N/negatives.jsonl)")
    return pools(read_mined(path))


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
