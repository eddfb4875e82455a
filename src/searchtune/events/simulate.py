"""Realistic search logs from a labelled set: for tests, and for benchmarks whose truth is known.

Every simulated search:

1. picks a query with Zipf frequencies (``zipf``: the i-th most frequent query is searched ∝ 1/i^zipf; which
   query is frequent is a seeded shuffle);
2. shows the top ``page_size`` of a production-like ranking: BM25's top ``3 × page_size``, perturbed per search
   (rank r gets the key −log r + ``ranking_noise`` · Gumbel noise), as rankings drift between releases,
   A/B tests and personalisation. That drift is also what lets the logs tell position bias from relevance;
3. lets a user click by a standard click model (``click_model``):
   ``pbm``, position-based: each result is examined with probability (1/position)^``position_bias``, and an
   examined one clicked with its attractiveness; ``cascade``: results are read from the top, each clicked with
   its attractiveness, and the first click ends the search;
   attractiveness = ``noise`` + (1 − ``noise``) · (2^gain − 1)/(2^max_gain − 1): unjudged products are
   irrelevant (gain 0), still clicked now and then (``noise``);
4. adds to cart with probability ``cart_rate`` · gain/max_gain after a click, and buys with
   ``purchase_rate`` · gain/max_gain after adding to cart;
5. happens at a uniformly random moment of ``days`` days from ``start``; a click follows its search within 30 s,
   an add-to-cart within 2 minutes, a purchase within 10.

``impressions`` counts products shown (rows of event ``impression``), so a log of N impressions holds N /
``page_size`` searches. The same seed gives the same log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import SearchData
from ..errors import SearchtuneError

logger = logging.getLogger(__name__)


@dataclass
class SimulationConfig:
    impressions: int = 100_000
    seed: int = 42
    ranker: str = "bm25"
    click_model: str = "pbm"
    position_bias: float = 1.0
    noise: float = 0.1
    ranking_noise: float = 0.7
    zipf: float = 1.0
    page_size: int = 10
    cart_rate: float = 0.3
    purchase_rate: float = 0.5
    days: int = 90
    start: str = "2026-01-01"

    def validate(self) -> SimulationConfig:
        if self.ranker != "bm25":
            raise SearchtuneError(f"--ranker {self.ranker}: the simulated production ranker is bm25")
        if self.click_model not in ("pbm", "cascade"):
            raise SearchtuneError(f"--click-model must be pbm or cascade, not '{self.click_model}'")
        for name in ("noise", "cart_rate", "purchase_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise SearchtuneError(f"--{name.replace('_', '-')} must be in [0, 1], got {getattr(self, name)}")
        if self.impressions < self.page_size or self.page_size < 1 or self.days < 1:
            raise SearchtuneError("--impressions must be at least --page-size (at least 1), and --days at least 1")
        for flag, value in (("--examination-decay", self.position_bias), ("--ranking-noise", self.ranking_noise),
                            ("--zipf", self.zipf)):
            if not (np.isfinite(value) and value >= 0):  # nan passes "< 0" unnoticed
                raise SearchtuneError(f"{flag} must be a number of at least 0, got {value}")
        try:
            pd.Timestamp(self.start, tz="UTC")
        except (ValueError, TypeError):
            raise SearchtuneError(f"--start must be a date like 2026-01-01, got '{self.start}'") from None
        return self


def examination(positions: np.ndarray, position_bias: float) -> np.ndarray:
    """The simulated users' examination probability at 1-based ``positions``."""
    return (1.0 / np.asarray(positions, dtype=float)) ** position_bias


def top_gain(data: SearchData) -> int:
    return max(1, int(max((g for v in data.qrels.values() for g in v.values()), default=1)))


def attractiveness(gains: np.ndarray, noise: float, max_gain: int) -> np.ndarray:
    """How likely an examined product is clicked, from its judged gain (unjudged: 0)."""
    return noise + (1 - noise) * (2.0 ** np.asarray(gains, dtype=float) - 1) / (2.0 ** max_gain - 1)


def query_frequencies(n_queries: int, config: SimulationConfig, rng) -> np.ndarray:
    """Zipf weights over the queries, in a seeded order (which query is frequent is a shuffle)."""
    weight = np.zeros(n_queries)
    weight[rng.permutation(n_queries)] = 1.0 / np.arange(1, n_queries + 1) ** config.zipf
    return weight / weight.sum()


def simulate(data: SearchData, qids: list[str], config: SimulationConfig, progress: bool = False) -> pd.DataFrame:
    """A log of ``config.impressions`` impressions (and the clicks, carts and purchases they led to) for the
    labelled queries ``qids`` of ``data``, in the store's columns."""
    from ..evaluation.bm25 import bm25_index

    config.validate()
    qids = [q for q in sorted(qids) if data.qrels.get(q)]
    if not qids:
        raise SearchtuneError("no labelled query to simulate searches for")
    rng = np.random.default_rng(config.seed)
    depth = 3 * config.page_size
    pids = np.array(data.product_ids, dtype=object)
    row_of = {p: i for i, p in enumerate(pids)}
    ranking = bm25_index(data, stem=True).search({q: data.queries[q] for q in qids}, k=depth)
    cand = np.full((len(qids), depth), -1, dtype=np.int64)
    gains = np.zeros((len(qids), depth))
    for i, q in enumerate(qids):
        top = sorted(ranking.get(q, {}).items(), key=lambda kv: -kv[1])[:depth]
        cand[i, :len(top)] = [row_of[p] for p, _ in top]
        judged = data.qrels[q]
        gains[i, :len(top)] = [max(judged.get(p, 0), 0) for p, _ in top]
    max_gain = top_gain(data)
    attract = attractiveness(gains, config.noise, max_gain)

    # 1. which query each search is for
    n = config.impressions // config.page_size
    order = rng.permutation(len(qids))
    weight = 1.0 / np.arange(1, len(qids) + 1) ** config.zipf
    query = order[rng.choice(len(qids), size=n, p=weight / weight.sum())]
    # 2. what it showed: the candidates re-ordered by −log rank + noise, the top page_size kept
    key = -np.log(np.arange(1, depth + 1))[None, :] + config.ranking_noise * rng.gumbel(size=(n, depth))
    key = np.where(cand[query] >= 0, key, -np.inf)
    shown_at = np.argsort(-key, axis=1)[:, :config.page_size]
    shown = np.take_along_axis(cand[query], shown_at, axis=1)
    a = np.take_along_axis(attract[query], shown_at, axis=1)
    g = np.take_along_axis(gains[query], shown_at, axis=1)
    valid = shown >= 0
    positions = np.broadcast_to(np.arange(1, config.page_size + 1), shown.shape)
    # 3. clicks
    wants = rng.random(shown.shape) < a
    if config.click_model == "pbm":
        click = wants & (rng.random(shown.shape) < examination(positions, config.position_bias))
    else:  # cascade: the first attractive result is clicked, nothing below it is read
        first = np.where(wants.any(axis=1), wants.argmax(axis=1), config.page_size)
        click = positions - 1 == first[:, None]
    click &= valid
    # 4. add to cart, purchase
    share = g / max_gain
    cart = click & (rng.random(shown.shape) < config.cart_rate * share)
    buy = cart & (rng.random(shown.shape) < config.purchase_rate * share)
    # 5. when
    start = pd.Timestamp(config.start, tz="UTC").value // 1_000_000
    at = np.sort(start + rng.integers(0, config.days * 86_400_000, size=n))
    frames = []
    search = np.array([f"s{i:08d}" for i in range(n)], dtype=object)
    texts = np.array([data.queries[q] for q in qids], dtype=object)
    for name, mask, delay in (("impression", valid, 0), ("click", click, 30_000), ("add_to_cart", cart, 120_000),
                              ("purchase", buy, 600_000)):
        rows, cols = np.nonzero(mask)
        lag = rng.integers(1, delay, size=len(rows)) if delay else 0
        frames.append(pd.DataFrame({"timestamp": at[rows] + lag, "search_id": search[rows],
                                    "query": texts[query[rows]], "product_id": pids[shown[rows, cols]],
                                    "position": (cols + 1).astype(np.int16), "event": name}))
    log = pd.concat(frames, ignore_index=True).sort_values(["timestamp", "search_id", "position"], kind="stable",
                                                           ignore_index=True)
    logger.info("simulated %s searches of %s queries: %s impressions, %s clicks, %s add-to-carts, %s purchases",
                f"{n:,}", f"{len(np.unique(query)):,}", f"{int(valid.sum()):,}", f"{int(click.sum()):,}",
                f"{int(cart.sum()):,}", f"{int(buy.sum()):,}")
    return log


def clicks_export(log: pd.DataFrame) -> pd.DataFrame:
    """What a shop's plain export of ``log`` holds: one row per click with its query, product, query time and
    click time (ISO 8601); no impressions, positions, events or search ids."""
    start = log.groupby("search_id")["timestamp"].transform("min")
    clicks = log["event"] == "click"
    def iso(ms):
        return pd.to_datetime(ms, unit="ms", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z"

    return pd.DataFrame({"query": log.loc[clicks, "query"].to_numpy(),
                         "product_id": log.loc[clicks, "product_id"].to_numpy(),
                         "query_time": iso(start[clicks]).to_numpy(),
                         "click_time": iso(log.loc[clicks, "timestamp"]).to_numpy()})


def write_log(log: pd.DataFrame, path: str | Path) -> Path:
    """Write a log as its name says: .parquet, .csv or .jsonl, compressed by a .gz/.bz2/.xz/.zst suffix."""
    import os

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffixes = [s.lower() for s in path.suffixes]
    compressed = len(suffixes) > 1 and suffixes[-1] in (".gz", ".bz2", ".xz", ".zst")
    inner = suffixes[-2] if compressed else (suffixes[-1] if suffixes else "")
    out = log
    if inner not in (".parquet", ".pq"):  # text formats get ISO 8601 times
        out = log.assign(timestamp=pd.to_datetime(log["timestamp"], unit="ms", utc=True).dt.strftime(
            "%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z")
    tmp = path.with_name(f".tmp{os.getpid()}-{path.name}")  # keeps the suffixes pandas infers compression from
    try:
        if inner in (".parquet", ".pq"):
            out.to_parquet(tmp, index=False, compression="zstd")
        elif inner in (".csv", ".jsonl", ".ndjson"):
            write = (lambda f: out.to_csv(f, index=False)) if inner == ".csv" else \
                (lambda f: out.to_json(f, orient="records", lines=True))
            if suffixes[-1] == ".zst":  # pandas needs the zstandard package for this; pyarrow has it
                import pyarrow as pa

                with pa.CompressedOutputStream(str(tmp), "zstd") as stream:
                    stream.write(write(None).encode())
            else:
                write(tmp)
        else:
            raise SearchtuneError(f"{path}: write the log as .parquet, .csv or .jsonl (optionally .gz, .zst)")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
