"""Two runs compared system by system: the change of each system's test nDCG@10, with an interval, on the
test queries both runs scored — the regression gate a search team's CI runs (``searchtune diff``).

The interval is the percentile bootstrap of the mean per-query difference (:mod:`.stats`), the test the paired
t-test; a system *drops* when the whole interval lies below 0. The gate fails when a system drops by more than
``max_drop`` (its mean change below ``-max_drop`` and the interval below 0): a change within noise never fails
it, however large it looks on a few queries.
"""

from __future__ import annotations

import numpy as np

from .results import Results
from .stats import confidence_interval, paired_test

METRIC = "ndcg@10"


def diff_runs(a: Results, b: Results) -> dict:
    """Per system both runs measured: test nDCG@10 before and after, the mean per-query change with its 95%
    interval and p-value, on the queries both scored."""
    systems = {}
    for name in [n for n in a.systems if n in b.systems]:
        before = a.systems[name].per_query.get(METRIC) or {}
        after = b.systems[name].per_query.get(METRIC) or {}
        common = sorted(set(before) & set(after))
        if not common:
            continue
        deltas = [after[q] - before[q] for q in common]
        lo, hi = confidence_interval(deltas)
        systems[name] = {"before": round(float(np.mean([before[q] for q in common])), 4),
                         "after": round(float(np.mean([after[q] for q in common])), 4),
                         "change": round(float(np.mean(deltas)), 4), "ci95": [lo, hi],
                         "p": paired_test(after, before), "queries": len(common),
                         "dropped": hi < 0, "rose": lo > 0}
    return {"metric": METRIC, "systems": systems}


def gate(diff: dict, max_drop: float) -> list[str]:
    """The systems that dropped significantly by more than ``max_drop`` (the gate fails when any does)."""
    return [n for n, s in diff["systems"].items() if s["dropped"] and s["change"] < -max_drop]
