"""Position bias: the position-based click model (PBM), fitted on the logs themselves.

In the PBM a product shown at position k is clicked when it is examined (probability θ_k, the position's
bias) and found attractive (α for that query and product): P(click) = θ_k · α. Expectation-maximisation
(Chuklin, Markov & de Rijke, *Click Models for Web Search*, 2015, ch. 4) fits both from the impressions:
a click means examined and attractive; a skip is split between "not examined" and "not attractive" in
proportion to the current estimates. Only a product seen at several positions for one query tells θ
apart from α, so a log whose ranking never changes leaves θ unidentified (the fit then falls back to the
raw click-through curve; see :func:`fit_pbm`). θ is reported relative to position 1 (θ_1 = 1): the
PBM cannot tell a uniformly lower examination from uniformly lower attractiveness.

Written here because no maintained Python package fits click models on pandas frames (PyClick is
Python 2-era and per-session; this is the same EM on aggregated counts, vectorised with numpy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class PositionBias:
    """Examination probability by position (index 0 = position 1), relative to the top."""

    theta: np.ndarray
    method: str  # "pbm-em", "ctr" (the raw click-through curve) or "none"
    iterations: int = 0
    identified_pairs: int = 0  # (query, product) pairs seen at two positions or more: what θ is learned from

    def at(self, positions: np.ndarray) -> np.ndarray:
        """θ for 1-based positions; positions past the fitted ones take the last value."""
        idx = np.clip(np.asarray(positions, dtype=np.int64) - 1, 0, len(self.theta) - 1)
        return self.theta[idx]

    def to_dict(self) -> dict:
        return {"method": self.method, "theta": [round(float(x), 4) for x in self.theta],
                "iterations": self.iterations, "identified_pairs": self.identified_pairs}


def ctr_curve(pos: np.ndarray, clicks: np.ndarray, max_position: int) -> np.ndarray:
    """Clicks over impressions by position, relative to position 1 (biased by the ranking's quality too)."""
    pos = np.minimum(pos, max_position)
    shown = np.bincount(pos - 1, minlength=max_position).astype(float)
    clicked = np.bincount(pos - 1, weights=clicks, minlength=max_position)
    ctr = np.where(shown > 0, clicked / np.maximum(shown, 1), np.nan)
    ctr = pd.Series(ctr).ffill().fillna(1.0).to_numpy()
    top = ctr[0] if ctr[0] > 0 else 1.0
    return np.clip(np.maximum.accumulate((ctr / top)[::-1])[::-1], 1e-3, 1.0)  # never rising with depth


def fit_pbm(pair: np.ndarray, pos: np.ndarray, clicked: np.ndarray, *, max_position: int = 20,
            iterations: int = 50, tol: float = 1e-6) -> PositionBias:
    """θ by EM from one row per impression: ``pair`` (an int id of the query and product), ``pos``
    (1-based) and ``clicked`` (0/1). Positions past ``max_position`` share its θ."""
    pos = np.minimum(np.asarray(pos, dtype=np.int64), max_position)
    clicked = np.asarray(clicked, dtype=float)
    groups = pd.DataFrame({"pair": pair, "pos": pos, "c": clicked}).groupby(["pair", "pos"], sort=False)["c"]
    agg = groups.agg(["size", "sum"]).reset_index()
    g_pair = pd.factorize(agg["pair"])[0]
    g_pos = agg["pos"].to_numpy() - 1
    n, c = agg["size"].to_numpy(dtype=float), agg["sum"].to_numpy(dtype=float)
    positions_per_pair = np.bincount(g_pair)
    identified = int((positions_per_pair >= 2).sum())
    if identified == 0:
        return PositionBias(ctr_curve(pos, clicked, max_position), "ctr")
    n_pairs = g_pair.max() + 1
    theta = np.full(max_position, 0.5)
    alpha = np.full(n_pairs, 0.5)
    shown_at = np.bincount(g_pos, weights=n, minlength=max_position)
    shown_pair = np.bincount(g_pair, weights=n, minlength=n_pairs)
    done = 0
    for done in range(1, iterations + 1):
        t, a = theta[g_pos], alpha[g_pair]
        denom = np.maximum(1.0 - t * a, 1e-12)
        skips = n - c
        examined = c + skips * t * (1.0 - a) / denom
        attractive = c + skips * (1.0 - t) * a / denom
        new_theta = np.bincount(g_pos, weights=examined, minlength=max_position) / np.maximum(shown_at, 1e-12)
        new_theta = np.where(shown_at > 0, new_theta, np.nan)
        alpha = np.clip(np.bincount(g_pair, weights=attractive, minlength=n_pairs) / shown_pair, 1e-6, 1 - 1e-6)
        new_theta = pd.Series(new_theta).ffill().fillna(0.5).clip(1e-6, 1 - 1e-6).to_numpy()
        change = float(np.max(np.abs(new_theta - theta)))
        theta = new_theta
        if change < tol:
            break
    return PositionBias(np.clip(theta / theta[0], 1e-3, 1.0), "pbm-em", done, identified)


def no_bias(max_position: int = 20) -> PositionBias:
    return PositionBias(np.ones(max_position), "none")
