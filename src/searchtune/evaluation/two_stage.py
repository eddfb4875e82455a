"""The last measuring steps: the hybrid first stage, the reranker over the first stages, and the system to deploy.

Each step takes a :class:`~.bench.Bench` and what earlier steps returned, and returns its own result:
:func:`hybrid` (the tuned model + BM25 fused in Qdrant, the fusion chosen on dev), :func:`rerank` (K and weight
per first stage on dev, test read once for the two-stage system dev prefers, ``reranked``), :func:`choose`
(the system to deploy, :mod:`.deploy`, with each stage timed one query at a time). The rules are in
:mod:`.stages`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..config import RerankConfig
from ..index import collection as col
from ..progress import duration
from ..rerank.model import PairScores, load_reranker, pairs_of, rerank_run, top
from ..system import Reranker, System
from . import stages
from .bench import Bench, Measured
from .bm25 import bm25_index
from .deploy import recommend
from .runs import SystemRun, hits_to_run
from .systems import run_systems

logger = logging.getLogger(__name__)

SCORES_FILE = "scores.jsonl"  # RUN/reranker/scores.jsonl: every (query, product) pair the reranker scored


@dataclass
class FirstStages:
    """BM25, the tuned model and their hybrid, searched in the tuned model's collection (models loaded once)."""

    bench: Bench
    tuned: str
    collection: str = "finetuned"
    kind: str | None = None
    fusion: dict = field(default_factory=lambda: {"method": "rrf", "weights": None})
    loaded: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.models = col.Models.single(self.tuned, "tuned", self.bench.max_length, kind=self.kind)
        dense = self.models.dense_tuned is not None
        self.tuned_system = "dense-tuned" if dense else "sparse-tuned"
        self.hybrid_system = "hybrid-dense-bm25" if dense else "hybrid-tuned-bm25"

    def run(self, queries: dict[str, str], k: int, fusion: dict | None = None) -> SystemRun:
        """The hybrid's ranking of ``queries``."""
        fusion = fusion or self.fusion
        with self.bench.open(self.collection) as index:
            return run_systems(index, queries, self.models, [self.hybrid_system], k=k, fusion=fusion["method"],
                               weights=fusion["weights"], config=self.bench.config, loaded=self.loaded)[self.hybrid_system]

    def one_query(self, index, system: str, k: int):
        """One query's first stage, for timing: ``fn(text) -> [product ids]``."""
        if system == "bm25":
            bm25 = bm25_index(self.bench.data, stem=True)
            return lambda text: top(bm25.search({"q": text}, k=k).get("q", {}), k)
        using = self.tuned_system if system == "finetuned" else self.hybrid_system
        return lambda text: [h.product_id for h in col.search(
            index, self.models, [text], using, k=k, fusion=self.fusion["method"], weights=self.fusion["weights"],
            loaded=self.loaded)[0]]

    def system(self, name: str, reranker: Reranker | None = None, label: str = "") -> System:
        """First stage ``name`` (bm25, finetuned or hybrid) as a :class:`System` one can run."""
        vectors = {"bm25": ["bm25"], "finetuned": col.SYSTEM_VECTORS[self.tuned_system],
                   "hybrid": col.SYSTEM_VECTORS[self.hybrid_system]}[name]
        models = {v: m for v, m in self.models.named().items() if v in vectors}
        index = self.bench.index_config
        data_dir = None if index.qdrant_url else str(Path(index.data_dir or self.bench.run.qdrant).resolve())
        hybrid = name == "hybrid"
        return System(vectors=tuple(vectors), models=models, collection=self.bench.collection(self.collection),
                      data_dir=data_dir, fusion=self.fusion["method"] if hybrid else "rrf",
                      weights=self.fusion["weights"] if hybrid else None, max_length=self.bench.max_length,
                      reranker=reranker, label=label)


def hybrid(first: FirstStages) -> tuple[Measured, dict]:
    """The tuned model + BM25 fused in Qdrant, the fusion chosen on dev: (system ``hybrid``, the fusion with every
    option tried). ``first.fusion`` is set to the choice."""
    bench = first.bench
    t = time.perf_counter()
    dev_queries, dev_qrels = bench.queries("dev")
    tried = []
    if dev_queries:
        qids = list(dev_queries)
        texts = [dev_queries[q] for q in qids]
        with bench.open(first.collection) as index:
            vectors, _ = col.query_vectors(index, first.models, texts, col.SYSTEM_VECTORS[first.hybrid_system],
                                           loaded=first.loaded)

            def search(method, weights):
                return hits_to_run(qids, col.search(index, first.models, texts, first.hybrid_system, k=bench.k,
                                                    fusion=method, weights=weights, vectors=vectors))

            best, tried = stages.choose_fusion(search, dev_qrels)
        first.fusion = {"method": best["fusion"], "weights": best["weights"]}
    measured = bench.measure("hybrid", lambda queries: first.run(queries, bench.k),
                             source=f"{first.tuned} {first.hybrid_system} {first.fusion} k={bench.k} "
                                    f"max_length={bench.max_length}")
    f = first.fusion
    logger.info("hybrid (%s + BM25, %s%s, chosen on dev): test nDCG@10 %.4f (%s)", first.tuned_system, f["method"],
                f" weights {f['weights']}" if f["weights"] else "", measured.test.metrics["ndcg@10"],
                duration(time.perf_counter() - t))
    return measured, {**f, "rrf_k": 60, "chosen_on": "dev", "tried": tried}


def reranker_candidates(bench: Bench, first: FirstStages | None, k: int) -> tuple[dict[str, list[str]], str]:
    """The top ``k`` of every training query with a relevant product, from the hybrid (BM25 without a tuned
    model): the reranker's mined negatives come from these."""
    queries = {q: bench.data.queries[q] for q in bench.split.train if bench.data.positives(q)}
    if first is None:
        mined, source = bm25_index(bench.data, stem=True).search(queries, k=k), "bm25"
    else:
        mined, source = first.run(queries, k).run, "hybrid"
    return {q: top(r, k) for q, r in mined.items()}, source


@dataclass
class TwoStage:
    """What :func:`rerank` measured: the ``reranked`` system, the report's section, and per-query dev nDCG@10
    of every first stage with and without the reranker (the deploy choice reads them)."""

    reranked: Measured
    section: dict
    dev_per_query: dict[str, dict[str, float]]
    latency: dict


def rerank(first: FirstStages, reranker: str | Path, cfg: RerankConfig, measured: dict[str, Measured]) -> TwoStage:
    """K and weight per first stage (``measured``: bm25, finetuned, hybrid) on dev, test for the two-stage system
    dev prefers, and the per-stage latency."""
    bench = first.bench
    t = time.perf_counter()
    model = load_reranker(reranker, max_length=cfg.max_length)
    own = Path(reranker).resolve() == bench.run.reranker.resolve()
    scorer = PairScores(model, bench.data.queries, bench.data.texts,
                        path=bench.run.reranker / SCORES_FILE if own else None, batch_size=cfg.batch_size_score,
                        progress=bench.progress)
    dev_queries, dev_qrels = bench.queries("dev")
    sample = stages.sample_queries(dev_qrels, cfg.dev_queries, cfg.seed)
    qrels = {q: dev_qrels[q] for q in sample}
    dev_runs = {n: {q: r for q, r in measured[n].dev.run.items() if q in qrels} for n in stages.FIRST_STAGES}
    scorer.score(stages.rerank_pairs(dev_runs, max(cfg.candidates)), "reranking dev")
    choices, dev = {}, {}
    for name, run in dev_runs.items():
        best, grid = stages.choose_rerank(run, scorer.scores, qrels, cfg.candidates, cfg.mix_weights)
        choices[name] = {**best, "grid": grid}
        dev[name] = stages.per_query(qrels, run)
        dev[f"{name}+rerank"] = stages.per_query(qrels, rerank_run(run, scorer.scores, k=best["k"],
                                                                   weight=best["weight"]))
    lat = latency(first, model, choices, list(dev_queries.values())[:cfg.latency_queries], cfg.batch_size_score)
    p50 = {n: v["total"]["p50_ms"] for n, v in lat.items()}
    reranked = {n: v for n, v in dev.items() if n.endswith("+rerank")}
    chosen = recommend(reranked, p50, {}, {})["system"].removesuffix("+rerank")
    k, weight = choices[chosen]["k"], choices[chosen]["weight"]
    first_run = measured[chosen].test

    def make(queries):
        run = {q: first_run.run[q] for q in queries if q in first_run.run}
        scorer.score(pairs_of(run, k), "reranking test")
        return SystemRun("reranked", rerank_run(run, scorer.scores, k=k, weight=weight))

    test = bench.rank("reranked", "test", make, source=f"{reranker} on {chosen} k={k} weight={weight}")
    test.timings = {"first_stage": chosen, "k": k, "weight": weight, "latency": lat.get(f"{chosen}+rerank")}
    dev_measured = SystemRun("reranked", {}, metrics={"ndcg@10": choices[chosen]["ndcg@10"]})
    logger.info("reranked (%s, top %d, first-stage weight %.2f, chosen on dev): test nDCG@10 %.4f (%s)", chosen,
                k, weight, test.metrics["ndcg@10"], duration(time.perf_counter() - t))
    section = {"reranker": str(reranker), "first_stage": chosen, "k": k, "weight": weight,
               "dev_queries": len(qrels), "choices": choices, "latency": lat,
               "dev": {n: round(sum(v.values()) / max(1, len(v)), 4) for n, v in dev.items()}}
    return TwoStage(Measured(test, dev_measured), section, dev, lat)


def latency(first: FirstStages, model, choices: dict, queries: list[str], batch_size: int = 64) -> dict:
    """Per system, p50/p95 ms of one query at a time: the first stage, the reranker on its top K, and both."""
    bench = first.bench
    out = {}
    texts = bench.data.texts
    with bench.open(first.collection) as index:
        for name in stages.FIRST_STAGES:
            k = choices[name]["k"] if choices else bench.k
            search = first.one_query(index, name, max(k, 10))
            times: dict[str, list[float]] = {"first_stage": [], "rerank": [], "total": []}
            for i, text in enumerate(queries):
                t0 = time.perf_counter()
                ids = search(text)
                t1 = time.perf_counter()
                if model is not None:
                    model.predict([(text, texts[pid]) for pid in ids[:k]], show_progress_bar=False,
                                  batch_size=batch_size)
                t2 = time.perf_counter()
                if i:  # the first call warms up
                    times["first_stage"].append(t1 - t0)
                    times["rerank"].append(t2 - t1)
                    times["total"].append(t2 - t0)
            if not times["total"]:
                continue
            out[name] = {"first_stage": stages.percentiles(times["first_stage"]),
                         "total": stages.percentiles(times["first_stage"])}
            if model is not None:
                out[f"{name}+rerank"] = {"first_stage": out[name]["first_stage"],
                                         "rerank": stages.percentiles(times["rerank"]),
                                         "total": stages.percentiles(times["total"]), "k": k}
    return out


@dataclass
class Choice:
    """The system to deploy: the report's ``recommendation`` and ``latency``, and the :class:`System` to run."""

    recommendation: dict
    latency: dict
    system: System | None


def choose(first: FirstStages, measured: dict[str, Measured], two: TwoStage | None, labels: dict[str, str],
           latency_queries: int = 20) -> Choice:
    """The system to deploy among the first stages (and, with a reranker, the two-stage system dev preferred),
    by dev (:func:`.deploy.recommend`); test figures are shown, not used."""
    bench = first.bench
    if two:
        lat = two.latency
        dev = {n: v for n, v in two.dev_per_query.items()
               if not n.endswith("+rerank") or n == two.section["first_stage"] + "+rerank"}
    else:
        dev = {n: measured[n].dev.per_query["ndcg@10"] for n in stages.FIRST_STAGES
               if n in measured and measured[n].dev is not None}
        queries = list(bench.queries("dev")[0].values())[:latency_queries]
        lat = latency(first, None, {}, queries) if dev else {}
    if not dev:
        return Choice({}, {}, None)
    test = {n: measured[n].test.metrics for n in stages.FIRST_STAGES if n in measured}
    if two:
        test[two.section["first_stage"] + "+rerank"] = two.reranked.test.metrics
    labels = {**labels, **{f"{n}+rerank": f"{labels.get(n, n)} + reranker" for n in stages.FIRST_STAGES}}
    p50 = {n: v["total"]["p50_ms"] for n, v in lat.items()}
    out = recommend(dev, p50, test, labels)
    out["latency"] = lat.get(out["system"])
    name = out["system"]
    rr = Reranker(str(Path(two.section["reranker"]).resolve()), two.section["k"], two.section["weight"]) \
        if name.endswith("+rerank") else None
    system = first.system(name.removesuffix("+rerank"), rr, label=out["label"])
    logger.info("deploy: %s — %s", out["label"], out["why"])
    return Choice(out, lat, system)
