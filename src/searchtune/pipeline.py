"""The pipeline: load → split → baselines → train → evaluate → hybrid → rerank → choose → report.

Every step is a function that takes what it needs and returns a value (:mod:`.prepare` for the data,
:mod:`.train` for training, :mod:`.evaluation` for measuring); :meth:`Pipeline.run` only calls them in
order and merges what they return into :class:`~searchtune.evaluation.results.Results`, saved as
``RUN/results.json``, from which the report is written. Files are for the user and for ``resume=True``:
a step whose artifact exists is not redone, and training continues from its last checkpoint. The layout of
``RUN/`` is :class:`~searchtune.rundir.RunDir`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from . import prepare
from .config import Config, config_changes
from .data import SearchData, Split
from .distributed import is_main
from .errors import SearchtuneError
from .evaluation.bench import Bench, Measured
from .evaluation.markdown import labels_for
from .evaluation.report import build_examples, source_summary, write_report
from .evaluation.results import Results
from .evaluation.systems import DevScorer, baselines, evaluate_model
from .models import model_kind, trained_config
from .rundir import RunDir, trained_stats
from .train.negatives import load_pools
from .train.rounds import MiningResult, install_best, train_with_mining
from .train.trainer import base_model, train

logger = logging.getLogger(__name__)


@dataclass
class Trained:
    """What the training step returns: the chosen model, the trainer's stats and, with mining, the rounds."""

    model: Path
    stats: dict | None
    mining: MiningResult | None = None

    @property
    def collection(self) -> str:
        """The collection the chosen model is indexed in already (a round's), else ``finetuned``."""
        return f"round-{self.mining.best_round}" if self.mining else "finetuned"

    @property
    def searched(self) -> str:
        """The model searched in :attr:`collection` (the chosen round's folder with mining)."""
        return self.mining.best_model if self.mining else str(self.model)


def train_step(data: SearchData, split: Split, config: Config, run: RunDir, bench: Bench, *, resume: bool = False,
               progress: bool = True) -> Trained:
    """Fine-tune on the training queries (in rounds with mined negatives when ``mine.source`` is model or bm25);
    the chosen model is ``RUN/model``. A finished training is read back on resume."""
    import json

    rounds_file = run.rounds / "rounds.json"
    if resume and trained_stats(run.model) is not None:
        logger.info("training already finished in %s; not training again", run.model)
        mining = MiningResult.from_dict(json.loads(rounds_file.read_text())) if rounds_file.exists() else None
        return Trained(run.model, trained_stats(run.model), mining)
    cfg, mine = config.train, config.mine
    if mine.source in ("judged", "none"):
        cfg = dataclasses.replace(cfg, judged_negatives=cfg.judged_negatives and mine.source == "judged")
        pool = load_pools(cfg.negatives_file) if cfg.negatives_file else None
        result = train(data, split, cfg, run.root, resume=resume, progress=progress, negatives=pool,
                       negatives_per_row=mine.negatives_per_row)
        return Trained(result.model_dir, result.stats)
    mining = train_with_mining(data, split, cfg, mine, run.root, evaluator=DevScorer(bench, cfg.kind),
                               resume=resume, progress=progress)
    return Trained(install_best(mining, run.root), mining.chosen_training(), mining)


class Pipeline:
    """The whole job for one run directory; :meth:`run` sequences the steps."""

    def __init__(self, config: Config, out_dir: str | Path, *, resume: bool = False, progress: bool = True,
                 command: str | None = None, llm_api_key: str | None = None, check_config: bool = True) -> None:
        self.config = config.validate()
        self.run_dir = RunDir(out_dir)
        self.resume, self.progress, self.command = resume, progress, command
        self.llm_api_key = llm_api_key  # never written to disk
        # Every model is evaluated at the length the tuned one is trained with, the untuned one too: the
        # comparison then measures the tuning, not how much more of each product one model reads.
        self.max_length = config.train.max_seq_length
        self.check_config = check_config
        self._claim(check_config)

    def _claim(self, check_config: bool) -> None:
        """Own the run directory; refuse to resume it with other settings (``check_config=False``: evaluate an
        earlier run with other models, `searchtune evaluate`)."""
        run = self.run_dir
        if not is_main():  # distributed training: rank 0 owns the run directory
            self.lock = None
            return
        held = run.holds_results()
        self.lock = run.claim(resume=self.resume)
        if self.resume and check_config and held and run.config.exists():
            changed = config_changes(Config.load(run.config), self.config)
            if changed:
                self.lock.release()
                raise SearchtuneError(f"--resume continues the run as it was set up, but these settings differ: "
                                      f"{'; '.join(changed)}. Leave them out, or start a new run with another --out")
        self.config.save(run.config)

    # -- the steps, with this run's settings ----------------------------------
    def load(self) -> SearchData:
        """The data, the same as the run began with on resume (``check_config=False``, `evaluate`: any data)."""
        data = prepare.load(self.config)
        if self.check_config:
            prepare.same_data(data, self.run_dir, resume=self.resume or not is_main())
        return data

    def split(self, data: SearchData | None = None, *, augment: bool = False) -> prepare.Prepared:
        """The split (and synthetic queries); ranks other than 0 read back what rank 0 wrote."""
        return prepare.split(data or self.load(), self.config, self.run_dir, augment=augment,
                             resume=self.resume or not is_main(), progress=self.progress, api_key=self.llm_api_key)

    def bench(self, prepared: prepare.Prepared, max_length: int | None = None) -> Bench:
        return Bench(prepared.data, prepared.split, self.run_dir, self.config.evaluate, self.config.index,
                     max_length=max_length or self.max_length, resume=self.resume, progress=self.progress)

    def train(self, prepared: prepare.Prepared) -> Trained:
        prepare.check_trainable(prepared.data, prepared.split, from_logs=bool(self.config.events.log))
        return train_step(prepared.data, prepared.split, self.config, self.run_dir, self.bench(prepared),
                          resume=self.resume, progress=self.progress)

    def results(self, prepared: prepare.Prepared) -> Results:
        """An empty record of this run, with what the data steps found."""
        return Results(config=self.config.to_dict(), command=self.command, counts=prepared.data.counts,
                       source=source_summary(prepared.data.source), split=prepared.sizes,
                       synthetic=prepared.synthetic, events=prepared.events, bm25_fields=prepared.bm25_fields)

    # -- the whole job -----------------------------------------------------
    def run(self, *, train: bool = True, model: str | None = None, reranker: str | None = None,
            matryoshka: list[int] | None = None) -> dict:
        """Every step; ``train=False`` evaluates ``model`` (or nothing but the baselines) instead of training;
        ``reranker``: a trained reranker to evaluate on top of every first stage; ``matryoshka``: the sizes to
        cut a dense tuned model to (default: those it was trained with). Returns the report."""
        t0 = time.perf_counter()
        timings: dict[str, float] = {}

        @contextlib.contextmanager
        def timed(step):
            t = time.perf_counter()
            yield
            timings[f"{step}_seconds"] = round(time.perf_counter() - t, 2)

        cfg = self.config
        max_length = self.max_length
        if not train and model:  # an earlier run's model is compared at the length it was trained with
            max_length = (trained_config(model) or {}).get("max_seq_length") or max_length
        with timed("load"):
            data = self.load()
        with timed("split"):
            prepared = self.split(data, augment=train)
        if train:
            prepare.check_trainable(prepared.data, prepared.split, from_logs=bool(cfg.events.log))
        results = self.results(prepared)
        bench = self.bench(prepared, max_length)
        measured: dict[str, Measured] = {}  # every system so far: test, dev and judged rankings
        if cfg.evaluate.bm25:
            with timed("bm25"):
                measured.update(baselines(bench))
        base = base_model(cfg.train)
        results.kinds["base"] = model_kind(base, declared=cfg.train.kind)
        with timed("index_and_search_base"):
            measured["base"] = evaluate_model(bench, "base", base, role="base", kind=cfg.train.kind)
        trained = None
        if train:
            with timed("train"):
                trained = self.train(prepared)
            results.training = trained.stats
            results.mining = trained.mining.to_dict() if trained.mining else None
        elif model:
            results.training = trained_stats(model)  # a model trained by an earlier run: its stats in the report
        tuned = trained.searched if trained else model
        if tuned:
            results.kinds["finetuned"] = model_kind(tuned, declared=cfg.train.kind)
            collection = trained.collection if trained else "finetuned"
            with timed("index_and_search_finetuned"):
                measured["finetuned"] = evaluate_model(bench, "finetuned", tuned, collection=collection,
                                                       kind=cfg.train.kind)
            self._stages(bench, results, measured, tuned, collection, reranker, timed)
            dims = matryoshka or (cfg.train.matryoshka_dims if cfg.train.kind == "dense" else None)
            if dims:
                from .evaluation.matryoshka import evaluate_sizes

                with timed("matryoshka"):
                    measured.update({n: Measured(s) for n, s in evaluate_sizes(bench, tuned, dims).items()})
        for name, m in measured.items():
            results.add(name, m)
        results.segments = test_segments(prepared.data, bench, results)
        if tuned and results.kinds.get("finetuned") == "sparse" and results.kinds.get("base") == "sparse":
            from .explain import what_changed

            with timed("what_changed"):
                brands = prepared.data.products["brand"].tolist() if "brand" in prepared.data.products else []
                results.changes = what_changed(prepared.data.products["text"].tolist(), brands, base, str(tuned),
                                               max_length=bench.max_length)
        if "base" in results.systems and "finetuned" in results.systems:
            _, qrels = bench.queries("test")
            results.examples = build_examples(prepared.data, qrels, results.systems["base"],
                                              results.systems["finetuned"], cfg.evaluate.examples)
        timings["total_seconds"] = round(time.perf_counter() - t0, 2)
        results.timings = timings
        results.save(self.run_dir.results)
        return write_report(self.run_dir, results)

    def _stages(self, bench: Bench, results: Results, measured: dict[str, Measured], tuned: str, collection: str,
                reranker: str | None, timed) -> None:
        """After the tuned model: the hybrid (added to ``measured``), the reranker (``rerank.enabled`` or a trained
        ``reranker``), and the system to deploy, saved as ``RUN/system.json``."""
        from .evaluation.two_stage import FirstStages, choose, hybrid, rerank

        cfg = self.config
        first = FirstStages(bench, tuned, collection, kind=cfg.train.kind)
        with timed("hybrid"):
            measured["hybrid"], results.fusion = hybrid(first)
        two = None
        if reranker or cfg.rerank.enabled:
            if not bench.split.dev:
                raise SearchtuneError("the reranker's K and weight are chosen on the dev split, which is empty; "
                                      "give a split with dev queries (or a dev fraction above 0)")
            if not reranker:
                with timed("reranker_training"):
                    reranker, results.reranker_training = self.train_reranker(bench, first)
            with timed("rerank"):
                two = rerank(first, reranker, cfg.rerank, measured)
            measured["reranked"] = two.reranked
            results.two_stage = two.section
        labels = labels_for({"config": cfg.to_dict(), "kinds": results.kinds}, short=True)
        choice = choose(first, measured, two, labels, cfg.rerank.latency_queries)
        results.recommendation, results.latency = choice.recommendation or None, choice.latency or None
        if choice.system:
            choice.system.save(self.run_dir.system)
            results.system = choice.system.to_dict()

    def train_reranker(self, bench: Bench, first=None) -> tuple[Path, dict]:
        """``RUN/reranker``: trained on the training queries, negatives mined by the hybrid of ``first`` (BM25
        without one); a finished one is read back on resume."""
        from .evaluation.two_stage import SCORES_FILE, reranker_candidates
        from .rerank.train import train_reranker

        run, cfg = self.run_dir, self.config.rerank
        if self.resume and trained_stats(run.reranker) is not None:
            return run.reranker, trained_stats(run.reranker)
        candidates, source = reranker_candidates(bench, first, cfg.mine_top_k)
        result = train_reranker(bench.data, bench.split, cfg, run.root, candidates=candidates, candidates_from=source,
                                resume=self.resume, progress=self.progress, precision=self.config.train.precision)
        (run.reranker / SCORES_FILE).unlink(missing_ok=True)  # scores of an earlier reranker are not this one's
        return run.reranker, result.stats


def test_segments(data: SearchData, bench: Bench, results: Results) -> dict:
    """Every system's nDCG@10 on segments of the test queries (:mod:`.evaluation.segments`)."""
    from .data import full_texts
    from .evaluation.segments import MISMATCH, segment_queries, segment_table, unit_mismatch

    queries, _ = bench.queries("test")
    brands = data.products["brand"].tolist() if "brand" in data.products else []
    per_query = {n: s.per_query["ndcg@10"] for n, s in results.systems.items() if s.per_query.get("ndcg@10")}
    searched = data.source.get("searches_per_query")  # from search logs: how often each query was searched
    frequency = ({q: searched.get(q, 0) for q in queries} if searched else
                 {q: len(data.qrels.get(q, {})) for q in queries})  # else judged products: a proxy
    table = segment_table(segment_queries(queries, full_texts(data.products), brands, frequency), per_query)
    runs = {n: s.run for n, s in results.systems.items() if s.run}
    mismatch = unit_mismatch(queries, runs, data.texts)
    return {**table, **({MISMATCH: mismatch} if mismatch["queries"] else {})}
