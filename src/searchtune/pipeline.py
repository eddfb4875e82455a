"""The pipeline: load → synthetic queries → split → baselines → train → index → evaluate → report.

Each step is a method that can be called alone and returns its result, which the pipeline also keeps in
memory for the next steps. Files are written for the user and for ``resume=True``, where a step whose
artifact exists is not redone and training continues from its last checkpoint. Layout of ``RUN/``::

    config.yaml        the resolved Config (no secrets)
    synthetic/         generated queries (when the data has none, or with --llm)
    split.json         the query split that was used
    model/             the fine-tuned model (+ searchtune_config.yaml, training stats)
    checkpoints/       trainer checkpoints (resume)
    train_log.jsonl    the trainer's log (loss, learning rate), read by the studio
    rounds/            with mined negatives: every round's negatives, model and dev metrics
                       (searchtune.train.rounds); the chosen model is copied to model/
    qdrant/            Qdrant Edge collections (base, finetuned, round-N) unless --qdrant-url
    runs/              each system's ranking of the test and dev queries (JSON)
    report.md, report.json
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import logging
import time
from pathlib import Path

from .config import Config, config_changes
from .data import SearchData, Split, load_data, load_split_file, split_queries
from .data.preview import preview, summary_lines
from .errors import SearchtuneError
from .evaluate import (
    SystemRun,
    bm25_index,
    bm25_run,
    model_run,
    score,
    significance,
)
from .files import RunLock
from .index import Index, open_index
from .models import load_encoder, trained_config
from .progress import duration
from .report import build_examples, source_summary, write_report
from .train.negatives import load_pools
from .train.rounds import MiningResult, install_best, train_with_mining
from .train.trainer import base_model, train

logger = logging.getLogger(__name__)


class Pipeline:
    """Run the whole job, or one step at a time, for one run directory."""

    def __init__(self, config: Config, out_dir: str | Path, *, resume: bool = False, progress: bool = True,
                 command: str | None = None, llm_api_key: str | None = None, check_config: bool = True) -> None:
        self.config = config.validate()
        self.check_config = check_config  # False: evaluate an earlier run with other models (searchtune evaluate)
        self.llm_api_key = llm_api_key  # never written to disk
        self.out = Path(out_dir)
        self.resume = resume
        self.progress = progress
        self.command = command
        self.data: SearchData | None = None
        self.split_: Split | None = None
        self.synthetic_records: list | None = None  # synthetic queries (searchtune.synthetic), when used
        self.synthetic_stats: dict | None = None
        self.training: dict | None = None  # the trainer's stats
        self.mining: MiningResult | None = None
        self.systems: dict[str, SystemRun] = {}
        self.dev: dict[str, dict[str, float]] = {}
        self.timings: dict[str, float] = {}
        self.significance: dict | None = None
        self.fusion: dict | None = None
        self.reranker_training: dict | None = None
        self.two_stage: dict | None = None  # the reranker's choices on dev and the per-stage latency
        self.recommendation: dict | None = None  # the system to deploy
        self.latency: dict | None = None  # per system, p50/p95 ms of each stage for one query
        self.events: dict | None = None  # with --events: counts, position bias, labels per period
        self.judged: dict[str, dict[str, float]] = {}  # with --events and judgments: metrics on the judged test
        # Every model is evaluated at the length the tuned one is trained with, the untuned one too: the
        # comparison then measures the tuning, not how much more of each product one model reads.
        self.max_length = config.train.max_seq_length
        self._prepare_dir()

    def _prepare_dir(self) -> None:
        """Own the run directory (``RUN/.lock``); refuse to overwrite a run, or to resume it with other settings.
        A directory holding only the config of a run that stopped before its first result is reused."""
        held = [p.name for p in self.out.iterdir() if p.name not in ("config.yaml", ".lock", "studio-config.yaml")] \
            if self.out.is_dir() else []
        if held and not self.resume:
            raise SearchtuneError(f"{self.out} already holds a run; pass --resume to continue it, or choose a new --out")
        self.out.mkdir(parents=True, exist_ok=True)
        self.lock = RunLock(self.out).acquire()
        atexit.register(self.lock.release)
        saved = self.out / "config.yaml"
        if self.resume and self.check_config and held and saved.exists():
            changed = config_changes(Config.load(saved), self.config)
            if changed:
                self.lock.release()
                raise SearchtuneError(f"--resume continues the run as it was set up, but these settings differ: "
                                      f"{'; '.join(changed)}. Leave them out, or start a new run with another --out")
        self.config.save(saved)

    def _timed(self, step: str, started: float) -> None:
        self.timings[f"{step}_seconds"] = round(time.perf_counter() - started, 2)

    # -- data ------------------------------------------------------------
    def load(self) -> SearchData:
        t = time.perf_counter()
        self.data = load_data(self.config.data)
        self._timed("load", t)
        for line in summary_lines(preview(self.data)):
            logger.info("%s", line)
        logger.info("loaded in %s (`searchtune inspect` shows more)", duration(time.perf_counter() - t))
        return self.data

    def synthetic(self, augment: bool = False) -> list | None:
        """Synthetic training queries when the data has none, with ``generate.llm``/``queries_file``, or with
        ``augment`` (too few real training queries): read from ``generate.queries_file``, from this run's earlier
        generation (resume), or generated now (an LLM, else the offline generator) into
        ``RUN/synthetic/queries.jsonl``. None when not used."""
        from .synthetic import generate, read_queries, write_queries

        data = self.data or self.load()
        g = self.config.generate
        if self.config.events.log or (data.queries and not (g.queries_file or g.llm or augment)):
            return None
        t = time.perf_counter()
        path = Path(g.queries_file) if g.queries_file else self.out / "synthetic" / "queries.jsonl"
        stats_path = path.with_name(path.stem + ".stats.json")
        if g.queries_file or (self.resume and path.exists()):
            records = read_queries(path)
            stats = json.loads(stats_path.read_text()) if stats_path.exists() else {"source": "file",
                                                                                     "queries": len(records)}
        else:
            why = "no labelled queries" if not data.queries else "too few real training queries" if augment else \
                "synthetic queries asked for"
            max_products = g.max_products or (g.augment_products if augment else None)
            logger.info("%s: generating %d queries per product for %s products with %s", why, g.per_product,
                        f"{min(max_products or len(data.products), len(data.products)):,}",
                        g.llm or "the offline generator (weaker than an LLM)")
            records, stats = generate(
                data.products, llm=g.llm, per_product=g.per_product, max_products=max_products, seed=g.seed,
                concurrency=g.concurrency, timeout=g.timeout, max_retries=g.max_retries, parse_retries=g.parse_retries,
                threads=g.threads, base_url=g.base_url, api_key=self.llm_api_key, cache_path=g.cache,
                price_input=g.price_input, price_output=g.price_output, progress=self.progress)
            write_queries(path, records, stats)
        self.synthetic_records, self.synthetic_stats = records, {**stats, "file": str(path)}
        self._timed("synthetic_queries", t)
        return records

    def split(self, augment: bool = False) -> Split:
        """The held-out split (``RUN/split.json``). With synthetic queries the data grows by them: the split
        step then replaces ``self.data`` with the new data (the loaded data is not changed). With ``augment``
        (a run that trains) and fewer real training queries than ``generate.augment_below``, synthetic ones are
        added to the training side."""
        from .synthetic.dataset import PREFIX, catalog_only, train_on_synthetic

        data = self.data or self.load()
        path = self.out / "split.json"
        if self.config.events.log:  # labels from search logs, split by time (searchtune.events.dataset)
            from .events.dataset import from_config

            self.data, self.split_, self.events = from_config(data, self.config, self.out / "events")
            self.split_.save(path)
            return self.split_
        records = self.synthetic_records if self.synthetic_records is not None else self.synthetic()
        g, d = self.config.generate, self.config.data
        if records is not None and not data.queries:  # catalog only: split by product
            data, split = catalog_only(data, records, dev_fraction=g.dev_fraction, test_fraction=g.test_fraction,
                                       seed=g.seed)
            self.synthetic_stats["evaluation"] = "synthetic queries written for held-out products"
        else:
            if self.resume and path.exists() and records is None:
                saved = Split.load(path)  # the real queries' split; added synthetic ones are added again below
                split = Split([q for q in saved.train if not q.startswith(PREFIX)], saved.dev, saved.test,
                              saved.source.split("; train = ")[0])
            elif d.split:
                split = load_split_file(d.split, data.queries)
            else:
                split = split_queries(list(data.queries), dev_fraction=d.dev_fraction, test_fraction=d.test_fraction,
                                      seed=d.split_seed)
            real = sum(1 for q in split.train if data.positives(q))
            added = augment and records is None and real < g.augment_below
            if added:
                logger.info("the split leaves %d real training queries with a relevant product (%d dev, %d test), "
                            "fewer than %d (--augment-below): adding synthetic training queries", real,
                            len(split.dev), len(split.test), g.augment_below)
                records = self.synthetic(augment=True)
            if records is not None:  # real queries too: train on synthetic ones, evaluate on the real held-out ones
                data, split = train_on_synthetic(data, split, records, keep_real=added)
                self.synthetic_stats["evaluation"] = "real held-out queries"
                self.synthetic_stats["added_to_real"] = added
        if not split.test:
            raise SearchtuneError(
                f"the split leaves no test query ({len(data.queries)} queries: {len(split.train)} training, "
                f"{len(split.dev)} dev, 0 test), so nothing can be compared honestly. Add judged queries (a few "
                "dozen at least), raise --test-fraction, or give a split file with test queries")
        split.save(path)
        self.data, self.split_ = data, split
        logger.info("split: %s training, %s dev, %s test queries", f"{len(split.train):,}", f"{len(split.dev):,}",
                    f"{len(split.test):,}")
        return split

    def check_trainable(self) -> None:
        """Before any long step: training needs a training query with a relevant product."""
        split = self.split_ or self.split()
        if not any(self.data.positives(q) for q in split.train):
            raise SearchtuneError(
                f"nothing to train on: the split leaves no training query with a relevant product "
                f"({len(split.train)} training, {len(split.dev)} dev, {len(split.test)} test queries of "
                f"{len(self.data.queries)}). Add judged queries, lower --dev-fraction/--test-fraction, or let "
                "synthetic queries fill the training side (--augment-below above 0, or --llm)")

    def _queries(self, part: str) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
        split = self.split_ or self.split()
        qrels = self.data.eval_qrels(getattr(split, part))
        return {q: self.data.queries[q] for q in qrels}, qrels

    # -- systems -----------------------------------------------------------
    def _system(self, name: str, part: str, make, source: str) -> SystemRun:
        """One system on the test or dev queries: a ranking from ``RUN/runs`` on resume when it was made from
        the same model, catalog and queries, else ``make(queries)``."""
        path = self.out / "runs" / f"{name}.{part}.json"
        queries, qrels = self._queries(part)
        source = f"{source} catalog={self.data.fingerprint} queries={len(queries)}"
        cached = SystemRun.load(path) if self.resume and path.exists() else None
        if cached is not None and cached.source == source:
            system = cached
        else:
            system = make(queries)
            system.source = source
            path.parent.mkdir(exist_ok=True)
            system.save(path)
        return score(system, qrels, self.config.evaluate.k)

    def _both_parts(self, name: str, make, source: str) -> SystemRun:
        self.systems[name] = self._system(name, "test", make, source)
        if self.split_.dev:
            self.dev[name] = self._system(name, "dev", make, source).metrics
        if self.split_.judged_test:
            self.judged[name] = self._system(name, "judged_test", make, source).metrics
        return self.systems[name]

    def baselines(self) -> dict[str, SystemRun]:
        """BM25 with and without stemming (bm25s), the reference of every report."""
        t = time.perf_counter()
        k = max(self.config.evaluate.k)
        self.split_ or self.split()
        if self.config.evaluate.bm25:
            for stem, name in ((True, "bm25"), (False, "bm25-unstemmed")):
                built = {}  # one BM25 index per variant, built only if a part is not cached

                def make(queries, stem=stem, built=built):
                    if "bm25" not in built:
                        built["bm25"] = bm25_index(self.data, stem=stem)
                    return bm25_run(built["bm25"], queries, k=k)

                self._both_parts(name, make, source=f"{name} k={k}")
            logger.info("BM25: test nDCG@10 %.4f stemmed, %.4f unstemmed (%s)", self.systems["bm25"].metrics["ndcg@10"],
                        self.systems["bm25-unstemmed"].metrics["ndcg@10"], duration(time.perf_counter() - t))
        self._timed("bm25", t)
        return self.systems

    def _index(self, collection: str) -> Index:
        name = collection if not self.config.index.qdrant_url else f"{self.out.name}-{collection}"
        return open_index(name, self.config.index, data_dir=self.config.index.data_dir or self.out / "qdrant")

    def evaluate_model(self, name: str, model_ref: str, collection: str | None = None) -> SystemRun:
        """Index the catalog with one model (in collection ``name``) and score it on test and dev."""
        t = time.perf_counter()
        k = max(self.config.evaluate.k)
        role = "base" if name == "base" else "tuned"
        loaded = {}

        def make(queries):
            if "model" not in loaded:  # loaded once, for whichever of test and dev is not cached
                loaded["model"] = load_encoder(model_ref)
            with self._index(collection or name) as index:
                return model_run(name, model_ref, self.data, queries, index, k=k, config=self.config.evaluate,
                                 progress=self.progress, model=loaded["model"], role=role, max_length=self.max_length)

        self.split_ or self.split()
        system = self._both_parts(name, make, source=f"{model_ref} k={k} max_length={self.max_length}")
        self._timed(f"index_and_search_{name}", t)
        logger.info("%s: test nDCG@10 %.4f (%s)", name, system.metrics.get("ndcg@10", float("nan")),
                    duration(time.perf_counter() - t))
        return system

    def train(self) -> Path:
        """Fine-tune on the training queries (in rounds with mined negatives when ``mine.source`` is model or
        bm25); the chosen model is ``RUN/model``."""
        split = self.split_ or self.split()
        model_dir = self.out / "model"
        stats_file = model_dir / "training_stats.json"
        rounds_file = self.out / "rounds" / "rounds.json"
        if self.resume and stats_file.exists():
            logger.info("training already finished in %s; not training again", model_dir)
            self.training = json.loads(stats_file.read_text())
            if rounds_file.exists():
                self.mining = MiningResult.from_dict(json.loads(rounds_file.read_text()))
            return model_dir
        t = time.perf_counter()
        cfg, mine = self.config.train, self.config.mine
        if mine.source in ("judged", "none"):
            cfg = dataclasses.replace(cfg, judged_negatives=cfg.judged_negatives and mine.source == "judged")
            pool = load_pools(cfg.negatives_file) if cfg.negatives_file else None
            result = train(self.data, split, cfg, self.out, resume=self.resume, progress=self.progress,
                           negatives=pool, negatives_per_row=mine.negatives_per_row)
            self.training, path = result.stats, result.model_dir
        else:
            self.mining = train_with_mining(self.data, split, cfg, mine, self.out, evaluator=DevEvaluator(self),
                                            resume=self.resume, progress=self.progress)
            path = install_best(self.mining, self.out)
            self.training = self.mining.chosen_training()
        self._timed("train", t)
        return path

    def report(self) -> dict:
        split = self.split_
        _, test_qrels = self._queries("test")
        if self.significance is None and len(self.systems) > 1:  # every report: each system against BM25, untuned
            self.significance = significance(test_qrels, self.systems,
                                             against=[n for n in ("bm25", "base") if n in self.systems])
        examples = []
        if "base" in self.systems and "finetuned" in self.systems:
            examples = build_examples(self.data, test_qrels, self.systems["base"], self.systems["finetuned"],
                                      self.config.evaluate.examples)
        timings = dict(self.timings)
        if self.training:
            timings["training"] = self.training
        timings["systems"] = {n: s.timings for n, s in self.systems.items()}
        sizes = {"source": split.source, "train": len(split.train), "dev": len(split.dev), "test": len(split.test),
                 "test_evaluated": len(test_qrels)}
        return write_report(self.out, systems=self.systems, dev=self.dev, examples=examples,
                            config=self.config.to_dict(), counts=self.data.counts, split_sizes=sizes,
                            source=source_summary(self.data.source),
                            timings=timings, command=self.command,
                            mining=self.mining.to_dict() if self.mining else None,
                            significance=self.significance, fusion=self.fusion, synthetic=self.synthetic_stats,
                            two_stage=self.two_stage, recommendation=self.recommendation,
                            reranker_training=self.reranker_training, latency=self.latency,
                            events=self.events, judged=self.judged)

    # -- the whole job ---------------------------------------------------
    def run(self, *, train: bool = True, model: str | None = None, reranker: str | None = None) -> dict:
        """Every step; ``train=False`` evaluates ``model`` (or nothing but the baselines) instead of training;
        ``reranker``: a trained reranker to evaluate on top of every first stage."""
        t = time.perf_counter()
        if not train and model:  # an earlier run's model is compared at the length it was trained with
            self.max_length = (trained_config(model) or {}).get("max_seq_length") or self.max_length
        self.load()
        self.synthetic()
        self.split(augment=train)
        if train:
            self.check_trainable()
        self.baselines()
        self.evaluate_model("base", base_model(self.config.train))
        tuned = str(self.train()) if train else model
        if not train and tuned and (Path(tuned) / "training_stats.json").is_file():
            # a model trained by an earlier run: its stats go into the report
            self.training = json.loads((Path(tuned) / "training_stats.json").read_text())
        if tuned:
            collection = "finetuned"
            if self.mining is not None and train:  # the chosen round is indexed already: search that collection
                tuned, collection = self.mining.best_model, f"round-{self.mining.best_round}"
            self.evaluate_model("finetuned", tuned, collection=collection)
            from .two_stage import run_stages

            run_stages(self, tuned, collection, reranker)
            dims = self.config.train.matryoshka_dims
            if dims and self.config.train.kind == "dense":
                from .matryoshka import evaluate_sizes

                evaluate_sizes(self, tuned, dims)
        self._timed("total", t)
        return self.report()


class DevEvaluator:
    """The rounds' :class:`~searchtune.train.rounds.Evaluator` for a pipeline: each model is indexed in the run's
    collection ``round-N`` and scored on the dev queries."""

    def __init__(self, pipeline: Pipeline) -> None:
        if not pipeline.split_.dev:
            raise SearchtuneError("mining rounds choose the best round on the dev split, which is empty; "
                                  "give a split with dev queries (or a dev fraction above 0)")
        self.pipeline = pipeline
        self.queries, self.qrels = pipeline._queries("dev")

    def score(self, model_ref: str, collection: str) -> dict[str, float]:
        p, ev = self.pipeline, self.pipeline.config.evaluate
        with p._index(collection) as index:
            system = model_run(collection, model_ref, p.data, self.queries, index, k=max(ev.k), config=ev,
                               progress=p.progress, role="tuned", max_length=p.max_length)
        return score(system, self.qrels, ev.k).metrics

    def open(self, collection: str) -> Index:
        return self.pipeline._index(collection)
