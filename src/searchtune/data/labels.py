"""Relevance label scales: detection and normalisation to a graded gain.

Every judgment becomes an integer *gain* (0 = not relevant) and a *positive*
flag (used to pick training pairs and, in evaluation, relevant documents for
MRR/Recall/Precision). The scales:

==========  ======================================  ==================  ===============
name        raw labels                              gain                positive
==========  ======================================  ==================  ===============
``1-3``     floats 1.00–3.00 (mean of raters,       round half up − 1   gain ≥ 1
            Home Depot)                             (1.5→1, 2.5→2)      (raw ≥ 1.5)
``1-4``     integers 1–4 (median ratings)           raw − 1             gain ≥ 2 (raw ≥ 3)
``esci``    E / S / C / I (Amazon ESCI)             E=3 S=2 C=1 I=0     E only (gain 3)
``wands``   Exact / Partial / Irrelevant (WANDS)    2 / 1 / 0           gain ≥ 1
``0-2``     integers 0, 1, 2                        raw                 gain ≥ 1
``binary``  0 / 1 (also true/false, yes/no)         raw                 gain = 1
``graded``  integers ≥ 0 (BEIR / TREC qrels)        raw                 gain ≥ 1
==========  ======================================  ==================  ===============

The Home Depot rule is the shared evaluation protocol's. For ESCI only Exact
counts as a positive: a Substitute is not what the shopper asked for, so it is
not trained on as a match, though it keeps gain 2 in nDCG. ``--positive-min-gain``
overrides the positive threshold of any scale.

Detection looks at the distinct raw values of the whole column; an explicitly
chosen scale (``--label-scale``) is validated value by value instead, and a
value outside it is reported with its row.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class LabelScale:
    name: str
    description: str
    max_gain: int
    positive_min_gain: int
    _gain: Callable[[str], int | None]

    def gain(self, raw: str) -> int | None:
        """The gain of a raw label, or ``None`` if the label is not on this scale."""
        return self._gain(raw.strip())


def _number(raw: str) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _int_in(lo: int, hi: int, offset: int = 0) -> Callable[[str], int | None]:
    def gain(raw: str) -> int | None:
        value = _number(raw)
        if value is None or not value.is_integer() or not lo <= value <= hi:
            return None
        return int(value) - offset

    return gain


def _float_1_3(raw: str) -> int | None:
    value = _number(raw)
    if value is None or not 1.0 <= value <= 3.0:
        return None
    return int(math.floor(value + 0.5)) - 1  # round half up, never banker's rounding


def _table(mapping: dict[str, int]) -> Callable[[str], int | None]:
    return lambda raw: mapping.get(raw.lower())


def _graded(raw: str) -> int | None:
    value = _number(raw)
    if value is None or not value.is_integer() or value < 0:
        return None
    return int(value)


_BINARY = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "true": 1, "false": 0, "yes": 1, "no": 0}

SCALES: dict[str, LabelScale] = {
    s.name: s
    for s in (
        LabelScale("1-3", "floats 1–3, gain = round-half-up − 1 (Home Depot)", 2, 1, _float_1_3),
        LabelScale("1-4", "integers 1–4, gain = label − 1", 3, 2, _int_in(1, 4, offset=1)),
        LabelScale("esci", "E/S/C/I: E=3 S=2 C=1 I=0 (ESCI)", 3, 3,
                   _table({"e": 3, "exact": 3, "s": 2, "substitute": 2, "c": 1, "complement": 1, "i": 0, "irrelevant": 0})),
        LabelScale("wands", "Exact=2 Partial=1 Irrelevant=0 (WANDS)", 2, 1,
                   _table({"exact": 2, "partial": 1, "irrelevant": 0})),
        LabelScale("0-2", "integers 0–2", 2, 1, _int_in(0, 2)),
        LabelScale("binary", "0/1", 1, 1, _table(_BINARY)),
        LabelScale("graded", "integers ≥ 0 (BEIR/TREC qrels)", 1_000_000, 1, _graded),
    )
}


class ScaleDetectionError(ValueError):
    """No scale fits; ``value`` is a raw label that breaks the best candidate."""

    def __init__(self, message: str, value: str | None = None):
        super().__init__(message)
        self.value = value


NAMED = ("esci", "wands", "binary")
STRAY_SHARE = 0.05  # a value held by fewer rows than this, standing apart from the rest, is a typo, not a scale


def detect_scale(values) -> LabelScale:
    """Choose the scale that fits the raw labels in ``values`` (every row's, so that a rare stray value is
    told from the values the file uses). A value that only a few rows hold and that breaks the scale the
    others fit is reported as the error, never a correct value beside it."""
    from collections import Counter

    counts = Counter(str(v).strip() for v in values)
    total = sum(counts.values())
    distinct = set(counts)
    lowered = {v.lower() for v in distinct}
    numbers = {v: _number(v) for v in distinct}
    non_numeric = sorted(v for v, n in numbers.items() if n is None)
    if non_numeric:
        fits = [(sum(c for v, c in counts.items() if SCALES[name].gain(v) is not None), name) for name in NAMED]
        covered, name = max(fits)
        if covered == total:
            return SCALES[name]
        if covered and name != "binary":
            bad = min((v for v in distinct if SCALES[name].gain(v) is None), key=lambda v: counts[v])
            raise ScaleDetectionError(f"label '{bad}' is not on the {name} scale ({SCALES[name].description}) "
                                      f"that the other labels use", bad)
        raise ScaleDetectionError(f"label '{non_numeric[0]}' is not a number nor a known label name", non_numeric[0])
    nums = [n for n in numbers.values() if n is not None]
    if lowered <= {"0", "1", "0.0", "1.0"}:
        return SCALES["binary"]
    lo, hi = min(nums), max(nums)
    if lo < 0:
        bad = next(v for v, n in numbers.items() if n is not None and n < 0)
        raise ScaleDetectionError(f"label '{bad}' is negative", bad)
    fractional = [v for v, n in numbers.items() if not n.is_integer()]
    if fractional and not (lo >= 1 and hi <= 3):
        if sum(counts[v] for v in fractional) < total / 2:
            bad = min(fractional, key=lambda v: counts[v])
            raise ScaleDetectionError(f"label '{bad}' is fractional, but the other labels are whole numbers", bad)
        bad = min((v for v in distinct if not 1 <= numbers[v] <= 3), key=lambda v: counts[v])
        raise ScaleDetectionError(f"label '{bad}' is outside 1–3, the scale of the other (fractional) labels", bad)
    if fractional:
        return SCALES["1-3"]
    ordered = sorted(set(int(n) for n in nums))
    if len(ordered) >= 3 and ordered[-1] - ordered[-2] > 1:  # 0 1 2 3 ... 7: is the 7 a typo?
        top = next(v for v, n in numbers.items() if n == ordered[-1])
        if counts[top] < STRAY_SHARE * total:
            raise ScaleDetectionError(f"label '{top}' stands apart from the others ({ordered[0]}–{ordered[-2]}) "
                                      f"and only {counts[top]} row(s) hold it", top)
    if hi <= 2 and lo == 0:
        return SCALES["0-2"]
    if lo >= 1 and hi <= 3:
        return SCALES["1-3"]
    if lo >= 1 and hi <= 4:
        return SCALES["1-4"]
    if lo == 0:
        return SCALES["graded"]
    raise ScaleDetectionError(f"integer labels from {lo:g} to {hi:g} fit no known scale")
