"""Which of two models is better on the logged traffic: team-draft interleaving, replayed through the
click model fitted on the same logs.

For every logged search, the two models' top ``page_size`` for its query are interleaved by team draft
(Radlinski, Kurup & Joachims, 2008: the team with fewer picks, a coin flip on a tie, adds its best result not
yet shown); a simulated user then clicks position k with probability θ_k · α, θ the log's position bias and α
the product's attractiveness for that query from the log (clicks over expected examinations, smoothed
toward the log's mean attractiveness, which an unlogged product also gets). The team with more clicks wins
the search. The preference is (wins A − wins B) / searches, with a 95% bootstrap interval over searches;
a model is called better only when the interval excludes 0.

Why interleaving and not a counterfactual (inverse-propensity) estimate: a new model's top 10 is mostly
products the old ranker rarely showed, where propensity weights explode; interleaving compares the two
lists on the same simulated user, which is what makes it far more sensitive than comparing two absolute
numbers (Chapelle et al., *Large-scale validation of interleaved search evaluation*, 2012). Its limit is
the same as every replay's: products never shown for a query are only as attractive as the average one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import EventsConfig
from .labels import impressions, position_bias


def team_draft(a: list[str], b: list[str], length: int, rng: np.random.Generator) -> tuple[list[str], list[int]]:
    """Interleave two rankings: the shown list and each position's team (0: ``a``, 1: ``b``)."""
    shown, teams, seen = [], [], set()
    picks = [0, 0]
    heads = [0, 0]
    lists = (a, b)
    while len(shown) < length:
        team = int(rng.random() < 0.5) if picks[0] == picks[1] else int(picks[0] > picks[1])
        for t in (team, 1 - team):  # the other team adds when this one has nothing new left
            lst = lists[t]
            while heads[t] < len(lst) and lst[heads[t]] in seen:
                heads[t] += 1
            if heads[t] < len(lst):
                shown.append(lst[heads[t]])
                teams.append(t)
                seen.add(lst[heads[t]])
                picks[t] += 1
                break
        else:
            break
    return shown, teams


def attractiveness(imp: pd.DataFrame, theta) -> tuple[dict[tuple[str, str], float], float]:
    """α per (query key, product) from the log, smoothed toward the log's mean; the mean itself."""
    examined = theta.at(imp["position"].to_numpy())
    agg = imp.assign(examined=examined).groupby(["qkey", "product_id"], sort=False).agg(
        clicks=("clicked", "sum"), examined=("examined", "sum"))
    mean = float(agg["clicks"].sum() / max(agg["examined"].sum(), 1e-9))
    alpha = ((agg["clicks"] + mean) / (agg["examined"] + 1.0)).clip(0, 1)
    return dict(zip(agg.index, alpha.to_numpy())), min(mean, 1.0)


MIN_DECIDED = 30  # searches with a winner before any verdict (the bootstrap needs a sample to resample)


def interleave(events: pd.DataFrame, rankings: dict[str, dict[str, list[str]]], config: EventsConfig, *,
               page_size: int = 10, seed: int = 42, bootstrap: int = 2000) -> dict:
    """Compare the two systems of ``rankings`` (name → query key → ranked product ids) on every logged
    search; returns counts, the preference for the first system, its 95% interval and the verdict."""
    (name_a, run_a), (name_b, run_b) = rankings.items()
    imp = impressions(events)
    theta = position_bias(imp, config)
    alpha, mean = attractiveness(imp, theta)
    searches = imp.drop_duplicates("search_id")["qkey"].to_numpy()
    rng = np.random.default_rng(seed)
    outcome = np.zeros(len(searches), dtype=np.int8)  # +1: a wins, -1: b wins, 0: tie
    clicks = np.zeros(2, dtype=np.int64)
    for i, q in enumerate(searches):
        shown, teams = team_draft(run_a.get(q, [])[:page_size], run_b.get(q, [])[:page_size], page_size, rng)
        if not shown:
            continue
        p = theta.at(np.arange(1, len(shown) + 1)) * np.array([alpha.get((q, pid), mean) for pid in shown])
        clicked = rng.random(len(shown)) < p
        got = np.bincount(np.asarray(teams)[clicked], minlength=2)
        clicks += got
        outcome[i] = np.sign(got[0] - got[1])
    n = len(outcome)
    samples = rng.integers(0, n, size=(bootstrap, n)) if n else np.zeros((bootstrap, 0), dtype=np.int64)
    boot = outcome[samples].mean(axis=1) if n else np.zeros(bootstrap)
    lo, hi = (float(x) for x in np.percentile(boot, [2.5, 97.5]))
    pref = float(outcome.mean()) if n else 0.0
    decided = int((outcome != 0).sum())
    better = None if decided < MIN_DECIDED else name_a if lo > 0 else name_b if hi < 0 else None
    wins = {name_a: int((outcome > 0).sum()), name_b: int((outcome < 0).sum()), "ties": int((outcome == 0).sum())}
    if decided < MIN_DECIDED:  # a bootstrap over a handful of searches gives an "interval" that means nothing
        why = (f"only {decided:,} of {n:,} replayed searches had a winner; at least {MIN_DECIDED} are needed to "
               "tell two models apart: import more of the log")
    elif better:
        why = (f"{better} wins {max(wins[name_a], wins[name_b]):,} of {n:,} replayed searches to "
               f"{min(wins[name_a], wins[name_b]):,} ({wins['ties']:,} ties); the 95% interval of the preference "
               "excludes 0")
    else:
        why = (f"the 95% interval of the preference [{lo:+.3f}, {hi:+.3f}] includes 0: no difference the logged "
               "traffic can show")
    return {"method": "team-draft interleaving replayed through the PBM fitted on the log", "searches": n,
            "wins": wins, "clicks": {name_a: int(clicks[0]), name_b: int(clicks[1])},
            "preference": round(pref, 4), "ci95": [round(lo, 4), round(hi, 4)], "better": better, "why": why,
            "position_bias": theta.to_dict(), "mean_attractiveness": round(mean, 4)}
