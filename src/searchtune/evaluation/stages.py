"""The rules of two-stage search, every choice made on dev.

First stages are BM25 (the report's reference), the tuned model, and the hybrid of the tuned model and
BM25 fused inside Qdrant, its fusion (RRF, weighted RRF or DBSF) chosen on dev (:func:`choose_fusion`). The
second stage rescores a first stage's top K (:func:`searchtune.rerank.model.rerank_run`); K and the weight of
the first stage's score are chosen on dev for each first stage (:func:`choose_rerank`). :mod:`.deploy` then
names what to deploy; :mod:`.two_stage` runs these rules on a bench.
"""

from __future__ import annotations

import random
import statistics

from ..rerank.model import pairs_of, rerank_run
from .metrics import evaluate_run

# Fusions of the hybrid tried on dev: (method, weights for [tuned model, BM25]); Qdrant's weighted RRF.
FUSIONS = (("rrf", None), ("rrf", [2.0, 1.0]), ("rrf", [1.0, 2.0]), ("rrf", [3.0, 1.0]), ("rrf", [1.0, 3.0]),
           ("dbsf", None))
FIRST_STAGES = ("bm25", "finetuned", "hybrid")
# Fusion, K and weight: dev nDCG@10 within this of the best counts as a tie, which goes to the first fusion
# and the smaller K.
TIE = 0.002


def ndcg10(qrels, run) -> float:
    return evaluate_run(qrels, run, [10])["ndcg@10"]


def per_query(qrels, run) -> dict[str, float]:
    """nDCG@10 of each query of ``qrels``."""
    return evaluate_run(qrels, run, [10], per_query=True)[1]["ndcg@10"]


def sample_queries(qids, n: int | None, seed: int) -> list[str]:
    """A seeded sample of ``n`` query ids (all when ``n`` is None or not smaller)."""
    qids = sorted(qids)
    return qids if not n or n >= len(qids) else sorted(random.Random(seed).sample(qids, n))


def choose_fusion(search, qrels) -> tuple[dict, list[dict]]:
    """The hybrid's fusion with the best dev nDCG@10 (``search(method, weights)`` gives the dev run); every
    option tried is returned too. Fusions within :data:`TIE` of the best are equal, and the first of them in
    :data:`FUSIONS` order wins (plain RRF before its weighted forms), so a catalog encoded again (bf16 moves
    near-ties) still gets the same fusion."""
    tried = []
    for method, weights in FUSIONS:
        tried.append({"fusion": method, "weights": weights, "ndcg@10": round(ndcg10(qrels, search(method, weights)), 4)})
    top = max(t["ndcg@10"] for t in tried)
    return next(t for t in tried if t["ndcg@10"] >= top - TIE), tried


def choose_rerank(run, scores, qrels, candidates, weights) -> tuple[dict, list[dict]]:
    """The (K, weight) with the best dev nDCG@10 for one first stage; a tie (within :data:`TIE`) goes to the
    smaller K, then the smaller weight."""
    grid = [{"k": k, "weight": w, "ndcg@10": round(ndcg10(qrels, rerank_run(run, scores, k=k, weight=w)), 4)}
            for k in sorted(candidates) for w in sorted(weights)]
    top = max(g["ndcg@10"] for g in grid)
    return next(g for g in grid if g["ndcg@10"] >= top - TIE), grid


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return {"p50_ms": round(statistics.median(ms), 2), "p95_ms": round(p95, 2), "queries": len(ms)}


def rerank_pairs(runs: dict[str, dict], k: int) -> list[tuple[str, str]]:
    """Every pair the top ``k`` of any of ``runs`` needs scored (once, whatever the number of first stages)."""
    return list(dict.fromkeys(p for run in runs.values() for p in pairs_of(run, k)))
