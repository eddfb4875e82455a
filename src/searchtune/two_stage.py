"""The pipeline's last steps: the hybrid first stage, the reranker, and the system to deploy.

:class:`TwoStage` works on a :class:`~searchtune.pipeline.Pipeline` that has evaluated its tuned model: it
adds the hybrid of that model and BM25 (fusion chosen on dev), trains the reranker on the training queries
with negatives mined by the hybrid (``RUN/reranker``), chooses K and the mixing weight per first stage on
dev, reads test once for the two-stage system dev prefers (``reranked``), times every stage one query at a
time, and names the system to deploy (:func:`searchtune.rerank.stages.recommend`). The rules are in
:mod:`searchtune.rerank.stages`; this module runs them on a run directory (cached for ``--resume``).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from .errors import SearchtuneError
from .evaluate import SystemRun, hits_to_run, run_systems
from .files import write_json
from .index import collection as col
from .progress import duration
from .rerank import stages
from .rerank.model import (
    CHOICE_FILE,
    RERANKER_DIR,
    PairScores,
    load_reranker,
    pairs_of,
    rerank_run,
    top,
)

logger = logging.getLogger(__name__)


def run_stages(pipeline, tuned: str, collection: str, reranker: str | None = None) -> None:
    """After the tuned model: the hybrid first stage, with ``rerank.enabled`` (or a trained ``reranker``) the
    second stage, and the system to deploy; kept on ``pipeline`` for its report."""
    stage = TwoStage(pipeline, tuned, collection)
    stage.hybrid()
    if reranker or pipeline.config.rerank.enabled:
        if not pipeline.split_.dev:
            raise SearchtuneError("the reranker's K and weight are chosen on the dev split, which is empty; "
                                  "give a split with dev queries (or a dev fraction above 0)")
        pipeline.two_stage = stage.rerank(reranker or stage.train_reranker())
    pipeline.recommendation = stage.recommend(pipeline.two_stage)


class TwoStage:
    """The steps below on one :class:`~searchtune.pipeline.Pipeline` (passed in; this module does not import it)."""

    def __init__(self, pipeline, tuned: str | None, collection: str = "finetuned") -> None:
        """``tuned``: the tuned model searched in ``collection`` (None: only BM25, to mine a reranker's negatives)."""
        self.p, self.tuned, self.collection = pipeline, tuned, collection
        self.models = col.Models.single(tuned, "tuned", pipeline.max_length) if tuned else None
        dense = self.models is not None and self.models.dense_tuned
        self.tuned_system = "dense-tuned" if dense else "sparse-tuned"
        self.hybrid_system = "hybrid-dense-bm25" if dense else "hybrid-tuned-bm25"
        self.loaded: dict = {}  # the tuned model, loaded once for every search below
        self.fusion = {"method": "rrf", "weights": None}
        self.dev_per_query: dict[str, dict[str, float]] = {}  # system → query → dev nDCG@10 (rerank)

    # -- first stages ---------------------------------------------------
    def hybrid(self) -> SystemRun:
        """The tuned model + BM25 fused in Qdrant, the fusion chosen on dev; system ``hybrid``."""
        p, k = self.p, max(self.p.config.evaluate.k)
        t = time.perf_counter()
        dev_queries, dev_qrels = p._queries("dev")
        with p._index(self.collection) as index:
            tried = []
            if dev_queries:
                qids = list(dev_queries)
                texts = [dev_queries[q] for q in qids]
                vectors, _ = col.query_vectors(index, self.models, texts, col.SYSTEM_VECTORS[self.hybrid_system],
                                               loaded=self.loaded)

                def search(method, weights):
                    return hits_to_run(qids, col.search(index, self.models, texts, self.hybrid_system, k=k,
                                                        fusion=method, weights=weights, vectors=vectors))

                best, tried = stages.choose_fusion(search, dev_qrels)
                self.fusion = {"method": best["fusion"], "weights": best["weights"]}

            def make(queries):
                return run_systems(index, queries, self.models, [self.hybrid_system], k=k,
                                   fusion=self.fusion["method"], weights=self.fusion["weights"],
                                   config=p.config.evaluate, loaded=self.loaded)[self.hybrid_system]

            system = p._both_parts("hybrid", make, source=f"{self.tuned} {self.hybrid_system} {self.fusion} k={k} "
                                                          f"max_length={p.max_length}")
        p.fusion = {**self.fusion, "rrf_k": 60, "chosen_on": "dev", "tried": tried}
        p._timed("hybrid", t)
        logger.info("hybrid (%s + BM25, %s%s, chosen on dev): test nDCG@10 %.4f (%s)", self.tuned_system,
                    self.fusion["method"], f" weights {self.fusion['weights']}" if self.fusion["weights"] else "",
                    system.metrics["ndcg@10"], duration(time.perf_counter() - t))
        return system

    def _first_stage_search(self, index, system: str, k: int):
        """One query's first stage, for timing: ``fn(text) -> [product ids]``."""
        if system == "bm25":
            from .evaluate import bm25_index

            bm25 = bm25_index(self.p.data, stem=True)
            return lambda text: top(bm25.search({"q": text}, k=k).get("q", {}), k)
        using = self.tuned_system if system == "finetuned" else self.hybrid_system
        return lambda text: [h.product_id for h in col.search(
            index, self.models, [text], using, k=k, fusion=self.fusion["method"], weights=self.fusion["weights"],
            loaded=self.loaded)[0]]

    # -- the reranker ------------------------------------------------------
    def train_reranker(self) -> Path:
        """``RUN/reranker``: trained on the training queries, negatives mined by the hybrid (reused on resume)."""
        from .rerank.train import train_reranker

        p, cfg = self.p, self.p.config.rerank
        model_dir = p.out / RERANKER_DIR
        stats_file = model_dir / "training_stats.json"
        if p.resume and stats_file.exists():
            p.reranker_training = json.loads(stats_file.read_text())
            return model_dir
        t = time.perf_counter()
        train_queries = {q: p.data.queries[q] for q in p.split_.train if p.data.positives(q)}
        if self.tuned is None:  # no tuned model: BM25 mines
            from .evaluate import bm25_index

            mined, source = bm25_index(p.data, stem=True).search(train_queries, k=cfg.mine_top_k), "bm25"
        else:
            with p._index(self.collection) as index:
                mined = run_systems(index, train_queries, self.models, [self.hybrid_system], k=cfg.mine_top_k,
                                    fusion=self.fusion["method"], weights=self.fusion["weights"],
                                    config=p.config.evaluate, loaded=self.loaded)[self.hybrid_system].run
            source = "hybrid"
        candidates = {q: top(r, cfg.mine_top_k) for q, r in mined.items()}
        result = train_reranker(p.data, p.split_, cfg, p.out, candidates=candidates, candidates_from=source,
                                resume=p.resume, progress=p.progress, precision=p.config.train.precision)
        (model_dir / "scores.jsonl").unlink(missing_ok=True)  # scores of an earlier reranker are not this one's
        p.reranker_training = result.stats
        p._timed("reranker_training", t)
        return model_dir

    def rerank(self, reranker: str | Path) -> dict:
        """K and weight per first stage on dev, test for the two-stage system dev prefers (``reranked``), and
        the per-stage latency; returns the report's ``two_stage`` section."""
        p, cfg = self.p, self.p.config.rerank
        t = time.perf_counter()
        model = load_reranker(reranker, max_length=cfg.max_length)
        score_file = Path(reranker) / "scores.jsonl" if Path(reranker).resolve().parent == p.out.resolve() else None
        scorer = PairScores(model, p.data.queries, p.data.texts, path=score_file, batch_size=cfg.batch_size_score,
                            progress=p.progress)
        dev_queries, dev_qrels = p._queries("dev")
        sample = stages.sample_queries(dev_qrels, cfg.dev_queries, cfg.seed)
        qrels = {q: dev_qrels[q] for q in sample}
        dev_runs = {n: {q: r for q, r in SystemRun.load(p.out / "runs" / f"{n}.dev.json").run.items() if q in qrels}
                    for n in stages.FIRST_STAGES}
        scorer.score(stages.rerank_pairs(dev_runs, max(cfg.candidates)), "reranking dev")
        choices, dev = {}, {}
        for name, run in dev_runs.items():
            best, grid = stages.choose_rerank(run, scorer.scores, qrels, cfg.candidates, cfg.mix_weights)
            choices[name] = {**best, "grid": grid}
            dev[name] = stages.per_query(qrels, run)
            dev[f"{name}+rerank"] = stages.per_query(qrels, rerank_run(run, scorer.scores, k=best["k"],
                                                                       weight=best["weight"]))
        self.dev_per_query = dev
        latency = self.latency(model, choices, list(dev_queries.values())[:cfg.latency_queries])
        p50 = {n: v["total"]["p50_ms"] for n, v in latency.items()}
        reranked = {n: v for n, v in dev.items() if n.endswith("+rerank")}
        chosen = stages.recommend(reranked, p50, {}, {})["system"].removesuffix("+rerank")
        k, weight = choices[chosen]["k"], choices[chosen]["weight"]
        first = p.systems[chosen]

        def make(queries):
            run = {q: first.run[q] for q in queries if q in first.run}
            scorer.score(pairs_of(run, k), "reranking test")
            return SystemRun("reranked", rerank_run(run, scorer.scores, k=k, weight=weight))

        system = p._system("reranked", "test", make, source=f"{reranker} on {chosen} k={k} weight={weight}")
        if score_file is not None:  # `searchtune search --rerank` and the studio start from the run's choice
            write_json(Path(reranker) / CHOICE_FILE, {"first_stage": chosen, "k": k, "weight": weight,
                                                      "fusion": self.fusion, "chosen_on": "dev"}, indent=1)
        system.timings = {"first_stage": chosen, "k": k, "weight": weight, "latency": latency.get(f"{chosen}+rerank")}
        p.systems["reranked"] = system
        p.dev["reranked"] = {"ndcg@10": choices[chosen]["ndcg@10"]}
        p._timed("rerank", t)
        logger.info("reranked (%s, top %d, first-stage weight %.2f, chosen on dev): test nDCG@10 %.4f (%s)", chosen,
                    k, weight, system.metrics["ndcg@10"], duration(time.perf_counter() - t))
        return {"reranker": str(reranker), "first_stage": chosen, "k": k, "weight": weight,
                "dev_queries": len(qrels), "choices": choices, "latency": latency,
                "dev": {n: round(sum(v.values()) / max(1, len(v)), 4) for n, v in dev.items()}}

    # -- latency and the recommendation ------------------------------------
    def latency(self, model, choices: dict, queries: list[str]) -> dict:
        """Per system, p50/p95 ms of one query at a time: the first stage, the reranker on its top K, and both."""
        p = self.p
        out = {}
        with p._index(self.collection) as index:
            for name in stages.FIRST_STAGES:
                k = choices[name]["k"] if choices else max(p.config.evaluate.k)
                first = self._first_stage_search(index, name, max(k, 10))
                times: dict[str, list[float]] = {"first_stage": [], "rerank": [], "total": []}
                texts = p.data.texts
                for i, text in enumerate(queries):
                    t0 = time.perf_counter()
                    ids = first(text)
                    t1 = time.perf_counter()
                    if model is not None:
                        model.predict([(text, texts[pid]) for pid in ids[:k]], show_progress_bar=False,
                                      batch_size=p.config.rerank.batch_size_score)
                    t2 = time.perf_counter()
                    if i:  # the first call warms up
                        times["first_stage"].append(t1 - t0)
                        times["rerank"].append(t2 - t1)
                        times["total"].append(t2 - t0)
                if len(times["total"]) < 1:
                    continue
                out[name] = {"first_stage": stages.percentiles(times["first_stage"]),
                             "total": stages.percentiles(times["first_stage"])}
                if model is not None:
                    out[f"{name}+rerank"] = {"first_stage": out[name]["first_stage"],
                                             "rerank": stages.percentiles(times["rerank"]),
                                             "total": stages.percentiles(times["total"]), "k": k}
        return out

    def recommend(self, two_stage: dict | None) -> dict:
        """The system to deploy among the first stages (and, with a reranker, each with it), by dev."""
        from .report import labels_for

        p = self.p
        if two_stage:
            dev, latency = self.dev_per_query, two_stage["latency"]
        else:
            queries, qrels = p._queries("dev")
            dev = {n: stages.per_query(qrels, SystemRun.load(p.out / "runs" / f"{n}.dev.json").run)
                   for n in stages.FIRST_STAGES if n in p.dev}
            latency = self.latency(None, {}, list(queries.values())[:p.config.rerank.latency_queries]) if dev else {}
        if not dev:
            return {}
        chosen_two = two_stage["first_stage"] + "+rerank" if two_stage else None
        test = {n: p.systems[n].metrics for n in stages.FIRST_STAGES if n in p.systems}
        if chosen_two:
            test[chosen_two] = p.systems["reranked"].metrics
            # only the two-stage system dev prefers was read on test; the others compete on dev alone
            dev = {n: v for n, v in dev.items() if not n.endswith("+rerank") or n == chosen_two}
        labels = labels_for({"config": p.config.to_dict()}, short=True)
        labels.update({f"{n}+rerank": f"{labels.get(n, n)} + reranker" for n in stages.FIRST_STAGES})
        p.latency = latency
        p50 = {n: v["total"]["p50_ms"] for n, v in latency.items()}
        out = stages.recommend(dev, p50, test, labels)
        out["latency"] = latency.get(out["system"])
        logger.info("deploy: %s (%s)", out["label"], out["why"])
        return out
