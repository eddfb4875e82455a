"""Measure systems: BM25 baselines, and models searched through Qdrant, on a :class:`~.bench.Bench`.

Every model system is a search of a collection built by :mod:`searchtune.index.collection`
(:func:`run_systems`); each step here returns what it measured (:class:`~.bench.Measured` per system).
"""

from __future__ import annotations

import dataclasses
import logging
import time

from ..config import EvalConfig
from ..data import SearchData
from ..errors import SearchtuneError
from ..index import Index
from ..index import collection as col
from ..progress import duration
from .bench import Bench, Measured
from .bm25 import bm25_index, bm25_run
from .runs import SystemRun, hits_to_run, score
from .stats import significance

logger = logging.getLogger(__name__)


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
              max_length: int | None = None, kind: str | None = None, processes: int = 1) -> SystemRun:
    """Index the catalog with one model in ``index`` (reused when it holds exactly that) and rank ``queries``;
    ``max_length``: tokens per text (default: the model's own). A tuned model's collection holds BM25 vectors
    too, so it also serves the hybrid of the two (:mod:`.two_stage`)."""
    models = col.Models.single(model_ref, role, max_length, kind=kind)
    (vector,) = models.named()
    loaded = {vector: model} if model is not None else None
    stats = col.build(index, data, models, bm25=role == "tuned", batch_size=config.encode_batch_size,
                      precision=config.precision, progress=progress, loaded=loaded, processes=processes)
    system = vector.replace("_", "-")
    run = run_systems(index, queries, models, [system], k=k, config=config, loaded=loaded)[system]
    run.name = name
    run.timings = {"index": stats, "search": run.timings}
    return run


def baselines(bench: Bench) -> dict[str, Measured]:
    """BM25 with and without stemming (bm25s), the reference of every report."""
    t = time.perf_counter()
    out = {}
    for stem, name in ((True, "bm25"), (False, "bm25-unstemmed")):
        built = {}  # one BM25 index per variant, built only if a part is not cached

        def make(queries, stem=stem, built=built):
            if "bm25" not in built:
                built["bm25"] = bm25_index(bench.data, stem=stem)
            return bm25_run(built["bm25"], queries, k=bench.k)

        out[name] = bench.measure(name, make, source=f"{name} k={bench.k}")
    logger.info("BM25: test nDCG@10 %.4f stemmed, %.4f unstemmed (%s)", out["bm25"].test.metrics["ndcg@10"],
                out["bm25-unstemmed"].test.metrics["ndcg@10"], duration(time.perf_counter() - t))
    return out


def evaluate_model(bench: Bench, name: str, model_ref: str, *, collection: str | None = None, role: str = "tuned",
                   kind: str | None = None) -> Measured:
    """Index the catalog with one model (in collection ``collection``, default ``name``) and measure it;
    ``kind`` for a model that does not say whether it is sparse or dense (:func:`searchtune.models.model_kind`)."""
    from ..models import load_encoder, model_kind

    t = time.perf_counter()
    kind = model_kind(model_ref, declared=kind)
    loaded = {}

    def make(queries):
        if "model" not in loaded:  # loaded once, for whichever of test and dev is not cached
            loaded["model"] = load_encoder(model_ref, kind=kind)
        with bench.open(collection or name) as index:
            return model_run(name, model_ref, bench.data, queries, index, k=bench.k, config=bench.config,
                             progress=bench.progress, model=loaded["model"], role=role, max_length=bench.max_length,
                             kind=kind, processes=bench.index_config.encode_processes)

    measured = bench.measure(name, make, source=f"{model_ref} k={bench.k} max_length={bench.max_length}")
    logger.info("%s: test nDCG@10 %.4f (%s)", name, measured.test.metrics.get("ndcg@10", float("nan")),
                duration(time.perf_counter() - t))
    return measured


def compare_systems(bench: Bench, models: col.Models, *, systems: list[str] | None = None, fusion: str = "rrf",
                    weights: list[float] | None = None) -> dict[str, SystemRun]:
    """Every system the models allow (:mod:`searchtune.index.collection`) on the test queries, from one
    collection (``all``): ``{system: scored run}`` (``sparse-base``/``sparse-tuned`` named ``base``/``finetuned``)."""
    queries, qrels = bench.queries("test")
    ev = bench.config
    models = dataclasses.replace(models, max_length=models.max_length or bench.max_length)
    available = col.available_systems(models, bm25=True)
    wanted = systems or available
    missing = [s for s in wanted if s in col.SYSTEM_VECTORS and s not in available]
    if missing:
        raise SearchtuneError(f"system(s) {', '.join(missing)} need a model that was not given")
    with bench.open("all") as index:
        stats = col.build(index, bench.data, models, bm25=True, batch_size=ev.encode_batch_size,
                          precision=ev.precision, progress=bench.progress,
                          processes=bench.index_config.encode_processes)
        runs = run_systems(index, queries, models, wanted, k=bench.k, fusion=fusion, weights=weights, config=ev)
    rename = {"sparse-base": "base", "sparse-tuned": "finetuned"}
    out = {}
    for name, run in runs.items():
        run.name = rename.get(name, name)
        run.timings["index"] = stats
        out[run.name] = score(run, qrels, ev.k)
    return out


def best_single(systems: dict[str, SystemRun]) -> str:
    """The single-list system (no fusion) with the best test nDCG@10."""
    singles = [n for n in systems if n in ("bm25", "bm25-qdrant", "base", "finetuned") or
               len(col.SYSTEM_VECTORS.get(n, [])) == 1]
    return max(singles, key=lambda n: systems[n].metrics.get("ndcg@10", 0))


def against_references(systems: dict[str, SystemRun], extra: tuple[str, ...] = ()) -> dict:
    """Each system's paired test against BM25 and the untuned model (and ``extra``) on the test queries."""
    per_query = {n: s.per_query["ndcg@10"] for n, s in systems.items() if s.per_query.get("ndcg@10")}
    return significance(per_query, against=sorted({"bm25", "base", *extra} & set(per_query)))


class DevScorer:
    """The mining rounds' :class:`~searchtune.train.rounds.Evaluator` on a bench: each model is indexed in the
    run's collection ``round-N`` and scored on the dev queries."""

    def __init__(self, bench: Bench, kind: str | None = None) -> None:
        if not bench.split.dev:
            raise SearchtuneError("mining rounds choose the best round on the dev split, which is empty; "
                                  "give a split with dev queries (or a dev fraction above 0)")
        self.bench, self.kind = bench, kind
        self.queries, self.qrels = bench.queries("dev")

    def score(self, model_ref: str, collection: str) -> dict[str, float]:
        b = self.bench
        with b.open(collection) as index:
            system = model_run(collection, model_ref, b.data, self.queries, index, k=b.k, config=b.config,
                               progress=b.progress, role="tuned", max_length=b.max_length, kind=self.kind,
                               processes=b.index_config.encode_processes)
        return score(system, self.qrels, b.config.k).metrics

    def open(self, collection: str) -> Index:
        return self.bench.open(collection)


def measure_system(bench: Bench, system, name: str = "system") -> Measured:
    """A :class:`~searchtune.system.System` on the bench's queries as it runs: through the same
    :class:`~searchtune.system.Searcher` that `search` and `serve` use (the collection must hold the bench's
    catalog). Rankings are scored by rank: the first product highest."""
    import json

    from ..system import Searcher

    opened: dict = {}

    def make(queries):
        if "searcher" not in opened:  # loaded once, for whichever of test and dev is not cached
            opened["searcher"] = Searcher(system, bench.index_config)
            stored = opened["searcher"].index.metadata().get("fingerprint") or {}
            if stored.get("catalog") != bench.data.fingerprint:
                raise SearchtuneError(
                    f"collection '{system.collection}' does not hold this catalog; index it with the system's models "
                    f"first (`searchtune index --model MODEL --collection {system.collection}`)")
        qids = list(queries)
        t = time.perf_counter()
        ranked = opened["searcher"].search_many([queries[q] for q in qids], [bench.k] * len(qids))
        seconds = time.perf_counter() - t
        run = {q: {r["hit"].product_id: float(len(rs) - i) for i, r in enumerate(rs)} for q, rs in zip(qids, ranked)}
        return SystemRun(name, run, timings={"queries": len(qids), "seconds": round(seconds, 3)})

    try:
        return bench.measure(name, make, source=json.dumps(system.to_dict(), sort_keys=True))
    finally:
        if "searcher" in opened:
            opened["searcher"].close()
