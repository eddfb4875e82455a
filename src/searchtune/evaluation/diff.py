"""Two runs compared system by system, and segment by segment: the change of each system's test nDCG@10, with
an interval, on the test queries both runs scored — the regression gate a search team's CI runs
(``searchtune diff``).

The interval is the percentile bootstrap of the mean per-query difference (:mod:`.stats`), the test the paired
t-test; a system *drops* when the whole interval lies below 0. The gate fails when a system drops by more than
``max_drop`` (its mean change below ``-max_drop`` and the interval below 0), on all the test queries or on one
segment of them: a change within noise never fails it, however large it looks on a few queries.
"""

from __future__ import annotations

import numpy as np

from .results import Results
from .stats import confidence_interval, paired_test

METRIC = "ndcg@10"


def change(before: dict[str, float], after: dict[str, float], qids) -> dict | None:
    """Before, after and the mean per-query change with its 95% interval on ``qids`` both scored."""
    common = sorted(set(before) & set(after) & set(qids))
    if not common:
        return None
    deltas = [after[q] - before[q] for q in common]
    lo, hi = confidence_interval(deltas)
    return {"before": round(float(np.mean([before[q] for q in common])), 4),
            "after": round(float(np.mean([after[q] for q in common])), 4),
            "change": round(float(np.mean(deltas)), 4), "ci95": [lo, hi],
            "p": paired_test({q: after[q] for q in common}, {q: before[q] for q in common}),
            "queries": len(common), "dropped": hi < 0, "rose": lo > 0}


def diff_runs(a: Results, b: Results) -> dict:
    """Per system both runs measured: test nDCG@10 before and after, the mean per-query change with its 95%
    interval and p-value, on the queries both scored; and the same per segment of the test queries (the later
    run's segments, :mod:`.segments`)."""
    segments = {n: row["query_ids"] for n, row in (b.segments or {}).items() if row.get("query_ids")}
    systems = {}
    for name in [n for n in a.systems if n in b.systems]:
        before = a.systems[name].per_query.get(METRIC) or {}
        after = b.systems[name].per_query.get(METRIC) or {}
        whole = change(before, after, before)
        if whole is None:
            continue
        parts = {seg: change(before, after, qids) for seg, qids in segments.items()}
        systems[name] = {**whole, "segments": {seg: c for seg, c in parts.items() if c is not None}}
    return {"metric": METRIC, "systems": systems}


def gate(diff: dict, max_drop: float) -> list[str]:
    """The systems, and the segments of a system, that dropped significantly by more than ``max_drop`` (the gate
    fails when any did): ``name`` or ``name / segment``."""
    out = []
    for name, s in diff["systems"].items():
        if s["dropped"] and s["change"] < -max_drop:
            out.append(name)
        out += [f"{name} / {seg}" for seg, c in s.get("segments", {}).items()
                if c["dropped"] and c["change"] < -max_drop]
    return out
