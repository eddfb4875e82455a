"""The system to deploy: the cheapest system that dev does not put significantly below the best.

On few dev queries differences are rarely significant, so the cheaper system wins unless the better one has
shown it is better (the paired test of :mod:`.stats`). Test figures are shown, never used to choose.
"""

from __future__ import annotations

import statistics

from .stats import worse


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


