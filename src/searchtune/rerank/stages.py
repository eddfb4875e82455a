"""Two-stage search, measured: first stages, the reranker on top, every choice made on dev, and the system
to deploy.

First stages are BM25 (the report's reference), the tuned model, and the hybrid of the tuned model and
BM25 fused inside Qdrant, its fusion (RRF, weighted RRF or DBSF) chosen on dev. The second stage rescores a
first stage's top K (:func:`searchtune.rerank.model.rerank_run`); K and the weight of the first stage's
score are chosen on dev for each first stage. Test is read once: for each first stage as chosen, and for
the two-stage system dev prefers (``reranked``). :func:`recommend` names what to deploy: the cheapest system
that dev does not put significantly below the best.
"""

from __future__ import annotations

import random
import statistics

from ..metrics import evaluate_run
from .model import pairs_of, rerank_run

# Fusions of the hybrid tried on dev: (method, weights for [tuned model, BM25]); Qdrant's weighted RRF.
FUSIONS = (("rrf", None), ("rrf", [2.0, 1.0]), ("rrf", [1.0, 2.0]), ("rrf", [3.0, 1.0]), ("rrf", [1.0, 3.0]),
           ("dbsf", None))
FIRST_STAGES = ("bm25", "finetuned", "hybrid")
# K and weight: dev nDCG@10 within this of the best counts as a tie, which goes to the smaller K.
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
    option tried is returned too."""
    tried = []
    for method, weights in FUSIONS:
        tried.append({"fusion": method, "weights": weights, "ndcg@10": round(ndcg10(qrels, search(method, weights)), 4)})
    best = max(tried, key=lambda t: t["ndcg@10"])  # the first of equals: plain RRF before its weighted forms
    return best, tried


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


def worse(a: dict[str, float], b: dict[str, float], max_p: float = 0.05) -> float | None:
    """The p-value when per-query scores ``a`` are significantly below ``b`` (paired t-test over their common
    queries, p < ``max_p``), else None."""
    from scipy.stats import ttest_rel

    common = sorted(set(a) & set(b))
    x, y = [a[q] for q in common], [b[q] for q in common]
    if len(common) < 2 or statistics.fmean(x) >= statistics.fmean(y):
        return None
    p = float(ttest_rel(x, y).pvalue)
    return p if p < max_p else None


def recommend(dev: dict[str, dict[str, float]], latency: dict[str, float], test: dict[str, dict],
              labels: dict[str, str]) -> dict:
    """The system to deploy from per-query dev nDCG@10 (``dev[system][query]``): the fastest (lowest p50
    ``latency``) of the systems dev does not put significantly below the best one (paired t-test, p < 0.05),
    never one whose dev mean is below BM25's. On few dev queries differences are rarely significant, so the
    cheaper system wins unless the better one has shown it is better. Returns the name, its test figures and
    latency, and why in one sentence."""
    means = {s: statistics.fmean(v.values()) for s, v in dev.items() if v}
    floor = means.get("bm25", float("-inf"))
    allowed = {s: m for s, m in means.items() if m >= floor}
    best = max(allowed, key=allowed.get)
    near = [s for s in allowed if s == best or worse(dev[s], dev[best]) is None]
    chosen = min(near, key=lambda s: (latency.get(s, float("inf")), -allowed[s]))
    n = len(dev[best])
    why = f"best dev nDCG@10 ({allowed[chosen]:.4f} on {n} dev queries)"
    if chosen != best:
        why = (f"dev nDCG@10 {allowed[chosen]:.4f}, not significantly below the best ({labels.get(best, best)}, "
               f"{allowed[best]:.4f}; paired t-test on {n} dev queries) and faster "
               f"({latency.get(chosen, 0):.1f} vs {latency.get(best, 0):.1f} ms p50)")
        if n < 200:
            why += f"; {n} dev queries show only large differences: a larger dev split decides more surely"
    return {"system": chosen, "label": labels.get(chosen, chosen), "dev_ndcg@10": round(allowed[chosen], 4),
            "test": test.get(chosen, {}), "latency_p50_ms": latency.get(chosen), "why": why,
            "dev": {s: round(m, 4) for s, m in means.items()}, "dev_queries": n}


def rerank_pairs(runs: dict[str, dict], k: int) -> list[tuple[str, str]]:
    """Every pair the top ``k`` of any of ``runs`` needs scored (once, whatever the number of first stages)."""
    return list(dict.fromkeys(p for run in runs.values() for p in pairs_of(run, k)))
