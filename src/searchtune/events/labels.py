"""Graded labels from search logs, on the scale judged data uses (gain 0 to 3).

For every (query, product) of a period, from its impressions:

- **expected examinations** E = Σ θ(position) over the times it was shown (θ from
  :mod:`searchtune.events.click_model`): a product shown at position 8 ten times was looked at far less
  than ten times;
- **score** u = (click_weight · clicks + cart_weight · add-to-carts + purchase_weight · purchases) / (E +
  prior): clicks over expected clicks, with carts and purchases weighted above clicks and a prior that keeps
  one lucky click from looking certain;
- **gain**: 3 from ``gain_thresholds[1]``, 2 from ``gain_thresholds[0]``, 1 for any other interaction; 0 for a
  product never interacted with that was skipped above a click (``skipped_above``) or examined at least
  ``min_examinations`` times; no label otherwise, or when shown fewer than ``min_impressions`` times.

A log of clicks alone (no impressions, no positions: a shop's plain export) cannot be corrected for position
bias: E is then the number of searches of the query, so u is the share of them that clicked the product, and
no product is a negative (nothing says what was shown and skipped); training takes mined negatives.

Queries are grouped by their normalised text, as judgments are (``searchtune.data.catalog.normalise_query``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..config import EventsConfig
from ..data.catalog import normalise_query
from ..errors import SearchtuneError
from .click_model import PositionBias, fit_pbm, no_bias
from .click_model import ctr_curve as _ctr


@dataclass
class Labels:
    qrels: dict[str, dict[str, int]]  # normalised query → product → gain
    texts: dict[str, str]  # normalised query → the query as first logged
    stats: dict


def impressions(events: pd.DataFrame) -> pd.DataFrame:
    """One row per product shown in a search: query key, product, position, time and what followed
    (clicked, carted, bought: 0/1). An interaction whose impression is not logged stands for one."""
    key = ["search_id", "product_id"]
    shown = events[events["event"] == "impression"].drop_duplicates(key)
    acted = events[events["event"] != "impression"]
    extra = acted.drop_duplicates(key).merge(shown[key], on=key, how="left", indicator=True)
    extra = extra[extra["_merge"] == "left_only"].drop(columns="_merge")
    imp = pd.concat([shown, extra], ignore_index=True)[["timestamp", "search_id", "query", "product_id", "position"]]
    for name, event in (("clicked", "click"), ("carted", "add_to_cart"), ("bought", "purchase")):
        hit = acted[acted["event"] == event][key].drop_duplicates()
        hit[name] = 1
        imp = imp.merge(hit, on=key, how="left")
        imp[name] = imp[name].fillna(0).astype(np.int8)
    # A cart or a purchase implies the click that led to it, logged or not.
    imp["clicked"] = imp[["clicked", "carted", "bought"]].max(axis=1)
    codes, uniques = pd.factorize(imp["query"])
    imp["qkey"] = pd.Series(uniques.map(normalise_query))[codes].to_numpy()
    return imp


UNKNOWN = "unknown: the log has no positions"


def clicks_only(imp: pd.DataFrame) -> bool:
    """A log of clicks alone (no impression, no position: every position is 0)."""
    return bool(len(imp)) and bool((imp["position"] == 0).all())


def position_bias(imp: pd.DataFrame, config: EventsConfig) -> PositionBias:
    """θ by position from one period's impressions, as ``config.position_bias`` asks."""
    if clicks_only(imp):
        return PositionBias(np.ones(config.max_position), UNKNOWN)
    if config.position_bias == "none" or imp.empty:
        return no_bias(config.max_position)
    pos, clicked = imp["position"].to_numpy(dtype=np.int64), imp["clicked"].to_numpy()
    if config.position_bias == "ctr":
        return PositionBias(_ctr(pos, clicked, config.max_position), "ctr")
    pair = pd.factorize(imp["qkey"] + "\x1f" + imp["product_id"])[0]
    return fit_pbm(pair, pos, clicked, max_position=config.max_position)


def derive(imp: pd.DataFrame, bias: PositionBias, config: EventsConfig) -> Labels:
    """Graded gains for every (query, product) of ``imp`` that the rules above label."""
    imp = imp.assign(examined=bias.at(imp["position"].to_numpy()))
    # skipped above: shown above the lowest click of its search, and not clicked itself
    lowest = imp[imp["clicked"] == 1].groupby("search_id")["position"].max()
    below = imp["search_id"].map(lowest)
    imp["skipped"] = ((imp["clicked"] == 0) & below.notna() & (imp["position"] < below)).astype(np.int8)
    agg = imp.groupby(["qkey", "product_id"], sort=False).agg(
        shown=("position", "size"), examined=("examined", "sum"), clicks=("clicked", "sum"),
        carts=("carted", "sum"), purchases=("bought", "sum"), skipped=("skipped", "sum")).reset_index()
    if clicks_only(imp):  # no impressions: every search of the query stands for one look at each product
        searches = imp.groupby("qkey")["search_id"].nunique()
        agg["examined"] = agg["qkey"].map(searches).to_numpy(dtype=float)
        agg["shown"] = agg["examined"]
    weighted = (config.click_weight * agg["clicks"] + config.cart_weight * agg["carts"]
                + config.purchase_weight * agg["purchases"])
    score = weighted / (agg["examined"] + config.prior)
    t2, t3 = config.gain_thresholds
    gain = np.where(score >= t3, 3, np.where(score >= t2, 2, 1))
    negative = (agg["examined"] >= config.min_examinations) | ((agg["skipped"] > 0) & config.skipped_above)
    gain = np.where(agg["clicks"] > 0, gain, np.where(negative, 0, -1))
    gain = np.where(agg["shown"] >= config.min_impressions, gain, -1)
    agg["gain"] = gain
    labelled = agg[agg["gain"] >= 0]
    qrels: dict[str, dict[str, int]] = {}
    for q, p, g in zip(labelled["qkey"], labelled["product_id"], labelled["gain"]):
        qrels.setdefault(q, {})[p] = int(g)
    texts = dict(zip(imp["qkey"], imp["query"]))
    by_gain = labelled["gain"].value_counts()
    stats = {"impressions": len(imp), "searches": int(imp["search_id"].nunique()), "clicks": int(agg["clicks"].sum()),
             "add_to_carts": int(agg["carts"].sum()), "purchases": int(agg["purchases"].sum()),
             "pairs": len(agg), "labelled_pairs": len(labelled),
             "by_gain": {int(g): int(by_gain.get(g, 0)) for g in range(4)},
             "queries_with_a_positive": sum(1 for v in qrels.values() if any(g >= 1 for g in v.values()))}
    return Labels(qrels, {q: texts[q] for q in qrels}, stats)


@dataclass
class TimeSplit:
    """The periods: searches before ``dev_from`` train, up to ``test_from`` choose, the newest test (ms)."""

    dev_from: int
    test_from: int
    first: int
    last: int

    def part(self, timestamps: np.ndarray) -> np.ndarray:
        return np.where(timestamps >= self.test_from, 2, np.where(timestamps >= self.dev_from, 1, 0))

    def to_dict(self) -> dict:
        iso = lambda ms: pd.Timestamp(int(ms), unit="ms", tz="UTC").isoformat()  # noqa: E731
        return {"first": iso(self.first), "dev_from": iso(self.dev_from), "test_from": iso(self.test_from),
                "last": iso(self.last)}


MIN_SEARCHES = 20  # fewer cannot give training, dev and test periods a search each


def time_split(events: pd.DataFrame, config: EventsConfig) -> TimeSplit:
    """Split the searches by time: the oldest train, then ``dev_fraction`` of them, then the newest
    ``test_fraction`` (a search belongs to the period of its first event)."""
    starts = np.sort(events.groupby("search_id")["timestamp"].min().to_numpy())
    n = len(starts)
    if n < MIN_SEARCHES:
        raise SearchtuneError(f"the log holds {n:,} search{'es' if n != 1 else ''}; a split by time into training, dev and test needs "
                              f"at least {MIN_SEARCHES} (and thousands to learn much): import more of the log")
    test_from = starts[min(n - 1, int(n * (1 - config.test_fraction)))]
    dev_from = starts[min(n - 1, int(n * (1 - config.test_fraction - config.dev_fraction)))]
    return TimeSplit(int(dev_from), int(test_from), int(starts[0]), int(starts[-1]))
