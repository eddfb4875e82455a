"""Is a difference beyond noise? One paired test and one confidence interval for every comparison.

The test is Student's paired t-test on per-query scores (``scipy.stats.ttest_rel``, what ranx's ``compare``
runs with ``stat_test="student"``); the interval is a percentile bootstrap of the mean. The report's marks and
the deploy choice (:mod:`.deploy`) states its confidence as :func:`probability_better`, a paired bootstrap.
"""

from __future__ import annotations

import warnings

import numpy as np

MAX_P = 0.05
TEST = "student"


def paired_test(a: dict[str, float], b: dict[str, float]) -> float | None:
    """The two-sided p-value of per-query scores ``a`` against ``b`` over their common queries (None with fewer
    than two; 1.0 when every query scores the same in both)."""
    from scipy.stats import ttest_rel

    common = sorted(set(a) & set(b))
    if len(common) < 2:
        return None
    with warnings.catch_warnings():  # nearly equal scores: scipy warns of precision loss, the p-value stands
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(ttest_rel([a[q] for q in common], [b[q] for q in common]).pvalue)
    return 1.0 if np.isnan(p) else p


def worse(a: dict[str, float], b: dict[str, float], max_p: float = MAX_P) -> float | None:
    """The p-value when per-query scores ``a`` are significantly below ``b`` (p < ``max_p``), else None."""
    common = sorted(set(a) & set(b))
    if len(common) < 2 or np.mean([a[q] for q in common]) >= np.mean([b[q] for q in common]):
        return None
    p = paired_test(a, b)
    return p if p is not None and p < max_p else None


def significance(per_query: dict[str, dict[str, float]], *, against: list[str], metric: str = "ndcg@10",
                 max_p: float = MAX_P) -> dict:
    """Every system's per-query ``metric`` (``per_query[system][query]``, all on the same queries) tested
    against each system of ``against``.

    Returns ``{"results": {system: {reference: {"p": p, "significant": bool, "delta": mean difference}}}, ...}``.
    """
    out: dict[str, dict] = {}
    for a, scores in per_query.items():
        for b in against:
            if b not in per_query or a == b:
                continue
            p = paired_test(scores, per_query[b])
            p = 1.0 if p is None else p
            delta = float(np.mean(list(scores.values())) - np.mean(list(per_query[b].values())))
            out.setdefault(a, {})[b] = {"p": p, "significant": p < max_p, "delta": round(delta, 4)}
    return {"metric": metric, "test": TEST, "max_p": max_p, "results": out}


def confidence_interval(values, level: float = 0.95, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """A percentile bootstrap interval of the mean of per-query values (ranx gives p-values, not intervals;
    the bootstrap needs no normality, which a bounded metric on a few dozen queries lacks)."""
    x = np.asarray(list(values), dtype=float)
    if len(x) < 2:
        return (float(x.mean()) if len(x) else float("nan"),) * 2
    means = np.random.default_rng(seed).choice(x, size=(resamples, len(x)), replace=True).mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return round(float(lo), 4), round(float(hi), 4)


def probability_better(a: dict[str, float], b: dict[str, float], resamples: int = 2000, seed: int = 0) -> float | None:
    """The share of paired bootstrap resamples of the common queries in which ``a``'s mean beats ``b``'s (a tie
    counts half): how sure a choice of ``a`` over ``b`` is, on the queries seen (None with fewer than two)."""
    common = sorted(set(a) & set(b))
    if len(common) < 2:
        return None
    diff = np.array([a[q] - b[q] for q in common])
    means = diff[np.random.default_rng(seed).integers(0, len(diff), size=(resamples, len(diff)))].mean(axis=1)
    return round(float((means > 1e-12).mean() + 0.5 * (np.abs(means) <= 1e-12).mean()), 3)
