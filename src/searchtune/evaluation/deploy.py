"""The system to deploy: the best on dev, unless a cheaper one is as good; never one below BM25 on dev.

A significance test guards a claim ("A beats B"), not a choice. The rule before this one, "the cheapest system
that dev does not put significantly below the best", threw away real gains on small data: on a few dozen dev
queries nothing is significant, so BM25 won even where the tuned model led it on dev and on test. A choice
follows the best estimate, the highest dev mean; cost enters as a margin: a cheaper system within
``EQUIVALENT`` (1%, below the run-to-run spread of re-encoding a catalog in bf16) of the best counts as equal
and wins. A system below BM25 on dev is never chosen. The choice states its confidence: the paired bootstrap
probability that it beats BM25 and the runner-up on the dev queries (:func:`.stats.probability_better`).

Cost is a fixed order (BM25 < the tuned model < the hybrid < any of them + reranker), not the measured
latency, so the same dev scores give the same choice on every run and machine; ties fall to the cheaper system,
then to the name. Test figures are shown beside the choice, never used to make it; when test ranks another
system first, the recommendation says so in one line.
"""

from __future__ import annotations

import statistics

from .stats import probability_better

EQUIVALENT = 0.01  # relative dev nDCG@10 within which two systems count as equal
CHEAPEST_FIRST = ("bm25", "finetuned", "hybrid")
FEW_DEV_QUERIES = 50  # below this, a dev split decides only large differences (the recommendation says so)
RULE = (f"the best dev nDCG@10; a cheaper system within {EQUIVALENT:.0%} of it counts as equal; never one below "
        "BM25 on dev")


def cost(system: str) -> int:
    """A system's place in the fixed cost order: first stages cheapest first, then each with the reranker."""
    first = system.removesuffix("+rerank")
    rank = CHEAPEST_FIRST.index(first) if first in CHEAPEST_FIRST else len(CHEAPEST_FIRST)
    return rank + (len(CHEAPEST_FIRST) + 1 if system.endswith("+rerank") else 0)


def recommend(dev: dict[str, dict[str, float]], latency: dict[str, float], test: dict[str, dict],
              labels: dict[str, str]) -> dict:
    """The system to deploy from per-query dev nDCG@10 (``dev[system][query]``), with why in one sentence, its
    confidence, its ``test`` figures and p50 ``latency`` (shown, not used), and, when test ranks another system
    first, the one line that says so."""
    means = {s: statistics.fmean(v.values()) for s, v in dev.items() if v}
    floor = means.get("bm25", float("-inf"))
    allowed = {s: m for s, m in means.items() if m >= floor}
    best = min(allowed, key=lambda s: (-allowed[s], cost(s), s))
    near = [s for s in allowed if allowed[s] >= allowed[best] * (1 - EQUIVALENT)]
    chosen = min(near, key=lambda s: (cost(s), -allowed[s], s))
    label = lambda s: labels.get(s, s)
    n = len(dev[chosen])
    others = sorted((s for s in means if s != chosen), key=lambda s: (-means[s], cost(s), s))
    runner = others[0] if others else None
    confidence = {s: probability_better(dev[chosen], dev[s]) for s in dict.fromkeys(("bm25", runner))
                  if s and s != chosen and s in dev}
    why = f"the best dev nDCG@10 ({means[chosen]:.4f} on {n} dev queries)"
    if chosen != best:
        why = (f"dev nDCG@10 {means[chosen]:.4f}, within {EQUIVALENT:.0%} of the best ({label(best)}, "
               f"{means[best]:.4f}, on {n} dev queries), and cheaper")
    shown = [f"beats {'BM25' if s == 'bm25' else label(s)} with probability {p:.2f}"
             for s, p in confidence.items() if p is not None]
    if shown:
        why += f"; on dev it {' and '.join(shown)} (paired bootstrap)"
    if n < FEW_DEV_QUERIES:
        why += f"; {n} dev queries decide only large differences"
    out = {"system": chosen, "label": label(chosen), "dev_ndcg@10": round(means[chosen], 4),
           "test": test.get(chosen, {}), "latency_p50_ms": latency.get(chosen), "why": why,
           "confidence": {s: p for s, p in confidence.items() if p is not None}, "runner_up": runner,
           "dev": {s: round(m, 4) for s, m in means.items()}, "dev_queries": n, "rule": RULE}
    disagreement = disagrees(chosen, means, test, n, label)
    if disagreement:
        out["test_disagrees"] = disagreement
    return out



def disagrees(chosen: str, dev: dict[str, float], test: dict[str, dict], n: int, label) -> str | None:
    """One line when test puts another system above the chosen one, else None."""
    scored = {s: t["ndcg@10"] for s, t in test.items() if "ndcg@10" in t and s in dev}
    if chosen not in scored:
        return None
    top = min(scored, key=lambda s: (-scored[s], cost(s), s))
    if top == chosen or scored[top] <= scored[chosen]:
        return None
    return (f"Test puts {label(top)} above the choice ({scored[top]:.4f} vs {scored[chosen]:.4f}); dev, which "
            f"chooses, had {dev[top]:.4f} vs {dev[chosen]:.4f} on {n} queries: test is read for the table, never "
            "to choose, and both are samples.")
