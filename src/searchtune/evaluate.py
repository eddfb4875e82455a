"""Evaluate systems — BM25 baselines, and models searched through Qdrant — on held-out queries.

A system's ranking is a :class:`SystemRun` (ranx-style ``{qid: {product_id: score}}`` plus metrics and
timings); every model system is a search of a collection built by :mod:`searchtune.index.collection`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .bm25 import BM25Baseline
from .config import EvalConfig
from .data import SearchData
from .errors import SearchtuneError
from .files import read_json, write_json
from .index import Hit, Index
from .index import collection as col
from .metrics import evaluate_run


@dataclass
class SystemRun:
    """One system's ranking of the evaluation queries, with its metrics and timings."""

    name: str
    run: dict[str, dict[str, float]]
    metrics: dict[str, float] = field(default_factory=dict)
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    source: str = ""  # what produced the run (model and catalog); a cached run is reused only if it matches

    def save(self, path: Path) -> None:
        write_json(path, {"name": self.name, "source": self.source, "run": self.run, "timings": self.timings})

    @classmethod
    def load(cls, path: Path) -> SystemRun | None:
        """A saved ranking, or None when the file is missing or unreadable (then it is made again)."""
        raw = read_json(path, "saved ranking")
        if not isinstance(raw, dict) or not isinstance(raw.get("run"), dict):
            return None
        return cls(raw.get("name", path.stem), raw["run"], timings=raw.get("timings", {}), source=raw.get("source", ""))


def hits_to_run(qids: list[str], hits: list[list[Hit]]) -> dict[str, dict[str, float]]:
    return {q: {h.product_id: h.score for h in hs} for q, hs in zip(qids, hits)}


def bm25_index(data: SearchData, *, stem: bool) -> BM25Baseline:
    return BM25Baseline(stem=stem).index(data.product_ids, data.products["text"].tolist())


def bm25_run(bm25: BM25Baseline, queries: dict[str, str], *, k: int) -> SystemRun:
    t0 = time.perf_counter()
    run = bm25.search(queries, k=k)
    seconds = time.perf_counter() - t0
    return SystemRun(bm25.name, run, timings={"search_seconds": round(seconds, 3),
                                              "queries_per_second": round(len(queries) / seconds, 1) if seconds else None})


def run_systems(index: Index, queries: dict[str, str], models: col.Models, systems: list[str] | None = None, *,
                k: int = 100, fusion: str = "rrf", weights: list[float] | None = None, prefetch_limit: int = 100,
                config: EvalConfig | None = None, loaded: dict | None = None) -> dict[str, SystemRun]:
    """Each system's ranking of ``queries`` (default: every system the collection allows) from a collection
    :func:`collection.build` made; queries are encoded once per vector, whatever the systems that use it."""
    config = config or EvalConfig()
    systems = systems or col.available_systems(models, bm25="bm25" in index.layout())
    unknown = [s for s in systems if s not in col.SYSTEM_VECTORS]
    if unknown:
        raise SearchtuneError(f"unknown system(s) {', '.join(unknown)}; known: {', '.join(col.SYSTEM_VECTORS)}")
    qids = list(queries)
    needed = list(dict.fromkeys(v for s in systems for v in col.SYSTEM_VECTORS[s]))
    vectors, encode_s = col.query_vectors(index, models, [queries[q] for q in qids], needed,
                                          batch_size=config.search_batch_size, precision=config.precision,
                                          loaded=loaded)
    out = {}
    for system in systems:
        using = col.SYSTEM_VECTORS[system]
        t = time.perf_counter()
        hits = col.search(index, models, [queries[q] for q in qids], system, k=k, fusion=fusion, weights=weights,
                          prefetch_limit=prefetch_limit, vectors=vectors)
        seconds = time.perf_counter() - t
        enc = sum(encode_s[u] for u in using)
        out[system] = SystemRun(system, hits_to_run(qids, hits), timings={
            "queries": len(qids), "search_seconds": round(seconds, 3), "encode_seconds": round(enc, 3),
            "queries_per_second": round(len(qids) / (seconds + enc), 1) if seconds + enc else None,
            "fusion": fusion if len(using) > 1 else None})
    return out


def model_run(name: str, model_ref: str, data: SearchData, queries: dict[str, str], index: Index, *, k: int,
              config: EvalConfig, progress: bool, model=None, role: str = "base",
              max_length: int | None = None) -> SystemRun:
    """Index the catalog with one model in ``index`` (reused when it holds exactly that) and rank ``queries``;
    ``max_length``: tokens per text (default: the model's own). A tuned model's collection holds BM25 vectors
    too, so it also serves the hybrid of the two (:mod:`searchtune.two_stage`)."""
    models = col.Models.single(model_ref, role, max_length)
    (vector,) = models.named()
    loaded = {vector: model} if model is not None else None
    stats = col.build(index, data, models, bm25=role == "tuned", batch_size=config.encode_batch_size,
                      precision=config.precision, progress=progress, loaded=loaded)
    system = vector.replace("_", "-")
    run = run_systems(index, queries, models, [system], k=k, config=config, loaded=loaded)[system]
    run.name = name
    run.timings = {"index": stats, "search": run.timings}
    return run


def score(system: SystemRun, qrels: dict[str, dict[str, int]], ks) -> SystemRun:
    system.metrics, system.per_query = evaluate_run(qrels, system.run, ks, per_query=True)
    return system


def significance(qrels: dict[str, dict[str, int]], systems: dict[str, SystemRun], *, against: list[str],
                 metric: str = "ndcg@10", max_p: float = 0.05, test: str = "student") -> dict:
    """Paired test (ranx ``compare``; Student's t by default) of every system against each of ``against``.

    Returns ``{"results": {system: {reference: {"p": p, "significant": bool, "delta": mean difference}}}, ...}``.
    """
    from ranx import Qrels, Run, compare

    names = [n for n in systems if systems[n].run]
    runs = [Run({q: dict(systems[n].run.get(q, {})) or {"__no_result__": 0.0} for q in qrels}, name=n) for n in names]
    report = compare(Qrels(qrels), runs, metrics=[metric], max_p=max_p, stat_test=test, make_comparable=True)
    out: dict[str, dict] = {}
    for a in names:
        for b in against:
            if b not in names or a == b:
                continue
            cmp = report.comparisons[a, b][metric]
            p = float(cmp["p_value"] if isinstance(cmp, dict) else cmp)
            delta = float(np.mean(list(runs[names.index(a)].scores[metric].values()))
                          - np.mean(list(runs[names.index(b)].scores[metric].values())))
            out.setdefault(a, {})[b] = {"p": p, "significant": p < max_p, "delta": round(delta, 4)}
    return {"metric": metric, "test": test, "max_p": max_p, "results": out}


def confidence_interval(values, level: float = 0.95, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """A percentile bootstrap interval of the mean of per-query values (ranx gives p-values, not intervals;
    the bootstrap needs no normality, which a bounded metric on a few dozen queries lacks)."""
    x = np.asarray(list(values), dtype=float)
    if len(x) < 2:
        return (float(x.mean()) if len(x) else float("nan"),) * 2
    means = np.random.default_rng(seed).choice(x, size=(resamples, len(x)), replace=True).mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return round(float(lo), 4), round(float(hi), 4)


def compare_systems(p, models: col.Models, *, systems: list[str] | None = None, fusion: str = "rrf",
                    weights: list[float] | None = None) -> dict[str, SystemRun]:
    """Every system the models allow (:mod:`searchtune.index.collection`) on a pipeline's test queries (``p``:
    a :class:`~searchtune.pipeline.Pipeline`) from one collection (``all``), plus paired significance tests
    against BM25 and against the best single system; added to ``p.systems``."""
    import dataclasses

    from .errors import SearchtuneError

    t = time.perf_counter()
    queries, qrels = p._queries("test")
    ev = p.config.evaluate
    models = dataclasses.replace(models, max_length=models.max_length or p.max_length)
    available = col.available_systems(models, bm25=True)
    wanted = systems or available
    missing = [s for s in wanted if s in col.SYSTEM_VECTORS and s not in available]
    if missing:
        raise SearchtuneError(f"system(s) {', '.join(missing)} need a model that was not given")
    with p._index("all") as index:
        stats = col.build(index, p.data, models, bm25=True, batch_size=ev.encode_batch_size,
                          precision=ev.precision, progress=p.progress)
        runs = run_systems(index, queries, models, wanted, k=max(ev.k), fusion=fusion, weights=weights, config=ev)
    rename = {"sparse-base": "base", "sparse-tuned": "finetuned"}
    for name, run in runs.items():
        run.name = rename.get(name, name)
        run.timings["index"] = stats
        p.systems[run.name] = score(run, qrels, ev.k)
    singles = [n for n in p.systems if n in ("bm25", "bm25-qdrant", "base", "finetuned") or
               len(col.SYSTEM_VECTORS.get(n, [])) == 1]
    best = max(singles, key=lambda n: p.systems[n].metrics.get("ndcg@10", 0))
    p.significance = significance(qrels, p.systems, against=sorted({"bm25", "base", best} & set(p.systems)))
    p.significance["best_single"] = best
    p.fusion = {"method": fusion, "weights": weights, "rrf_k": 60}
    p._timed("compare", t)
    return p.systems
