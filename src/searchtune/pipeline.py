"""The pipeline: load → split → baselines → train → index → evaluate → report.

Each step is a method that can be called alone and leaves its artifact in the
run directory; with ``resume=True`` a step whose artifact exists is not redone,
and training continues from its last checkpoint. Layout of ``RUN/``::

    config.yaml        the resolved Config (no secrets)
    split.json         the query split that was used
    model/             the fine-tuned SparseEncoder (+ searchtune_config.yaml, training stats)
    checkpoints/       trainer checkpoints (resume)
    rounds/            with mined negatives: every round's mined file, model and dev metrics
                       (see searchtune.mining); the best round's model is copied to model/
    qdrant/            Qdrant Edge collections (base, finetuned) unless --qdrant-url
    runs/              each system's ranking of the test and dev queries (JSON)
    report.md, report.json
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from pathlib import Path

from .config import Config
from .data import SearchData, Split, load_data, load_split_file, split_queries
from .errors import SearchtuneError
from .evaluate import SystemRun, bm25_index, bm25_run, model_run, score
from .index import open_index
from .mining import install_best, train_with_mining
from .report import build_examples, write_report
from .training import base_model, train_sparse


def _load_any(model_ref: str):
    from .models import load_dense_encoder, load_sparse_encoder, model_kind

    return load_dense_encoder(model_ref) if model_kind(model_ref) == "dense" else load_sparse_encoder(model_ref)

logger = logging.getLogger(__name__)


class Pipeline:
    """Run the whole job, or one step at a time, for one run directory."""

    def __init__(self, config: Config, out_dir: str | Path, *, resume: bool = False, progress: bool = True,
                 command: str | None = None, llm_api_key: str | None = None) -> None:
        self.config = config
        self.llm_api_key = llm_api_key  # never written to disk
        self.out = Path(out_dir)
        self.resume = resume
        self.progress = progress
        self.command = command
        self.data: SearchData | None = None
        self.split_: Split | None = None
        self.systems: dict[str, SystemRun] = {}
        self.dev: dict[str, dict[str, float]] = {}
        self.timings: dict[str, float] = {}
        self.significance: dict | None = None
        self.fusion: dict | None = None
        self._catalog: str | None = None
        self.synthetic_records: list | None = None  # synthetic queries (searchtune.synthetic), when used
        self.synthetic_stats: dict | None = None
        self._prepare_dir()

    def _prepare_dir(self) -> None:
        if self.out.exists() and any(self.out.iterdir()) and not self.resume:
            if (self.out / "config.yaml").exists():
                raise SearchtuneError(f"{self.out} already holds a run; pass --resume to continue it, "
                                      "or choose a new --out")
        self.out.mkdir(parents=True, exist_ok=True)
        self.config.save(self.out / "config.yaml")

    def _timed(self, step: str, started: float) -> None:
        self.timings[f"{step}_seconds"] = round(time.perf_counter() - started, 2)

    # -- steps ---------------------------------------------------------
    def load(self) -> SearchData:
        t = time.perf_counter()
        self.data = load_data(self.config.data)
        self._timed("load", t)
        g = self.config.generate
        if not self.data.queries or g.queries_file or g.llm:
            self.synthetic_records = self._synthetic_queries()
        return self.data

    def _synthetic_queries(self) -> list:
        """The synthetic queries: from ``generate.queries_file``, from this run's earlier generation (resume),
        or generated now (LLM if ``generate.llm``, else offline) into ``RUN/synthetic/queries.jsonl``."""
        from .synthetic import generate, read_queries, write_queries

        g = self.config.generate
        t = time.perf_counter()
        path = Path(g.queries_file) if g.queries_file else self.out / "synthetic" / "queries.jsonl"
        stats_path = path.with_name(path.stem + ".stats.json")
        if g.queries_file or (self.resume and path.exists()):
            records = read_queries(path)
            self.synthetic_stats = json.loads(stats_path.read_text()) if stats_path.exists() else {
                "source": "file", "queries": len(records)}
            self.synthetic_stats["file"] = str(path)
        else:
            logger.info("no labelled queries%s: generating %d per product with %s", "" if not self.data.queries else
                        " used for training", g.per_product, g.llm or "the offline generator (weaker than an LLM)")
            records, self.synthetic_stats = generate(
                self.data.products, llm=g.llm, per_product=g.per_product, max_products=g.max_products, seed=g.seed,
                concurrency=g.concurrency, timeout=g.timeout, max_retries=g.max_retries,
                parse_retries=g.parse_retries, threads=g.threads, base_url=g.base_url, api_key=self.llm_api_key,
                cache_path=g.cache,
                price_input=g.price_input, price_output=g.price_output, progress=self.progress)
            write_queries(path, records, self.synthetic_stats)
            self.synthetic_stats["file"] = str(path)
        self._timed("synthetic_queries", t)
        return records

    def split(self) -> Split:
        """The held-out split. With synthetic queries it is recomputed (deterministic) rather than read back,
        because the synthetic queries are added to the data as the split is made."""
        from .synthetic.dataset import catalog_only, train_on_synthetic

        data = self.data or self.load()
        path = self.out / "split.json"
        g, d = self.config.generate, self.config.data
        synthetic = self.synthetic_records is not None
        if synthetic and not data.queries:  # catalog only: split by product
            self.split_ = catalog_only(data, self.synthetic_records, dev_fraction=g.dev_fraction,
                                       test_fraction=g.test_fraction, seed=g.seed)
            self.synthetic_stats["evaluation"] = "synthetic queries written for held-out products"
        else:
            if self.resume and path.exists() and not synthetic:
                self.split_ = Split.load(path)
            elif d.split:
                self.split_ = load_split_file(d.split, data.queries)
            else:
                self.split_ = split_queries(list(data.queries), dev_fraction=d.dev_fraction,
                                            test_fraction=d.test_fraction, seed=d.split_seed)
            if synthetic:  # real queries too: train on synthetic ones, evaluate on the real held-out ones
                self.split_ = train_on_synthetic(data, self.split_, self.synthetic_records)
                self.synthetic_stats["evaluation"] = "real held-out queries"
        if not self.split_.test:
            raise SearchtuneError("the test split is empty: too few queries, or a split file without test queries")
        self.split_.save(path)
        return self.split_

    def _queries(self, part: str) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
        split = self.split_ or self.split()
        qrels = self.data.eval_qrels(getattr(split, part))
        return {q: self.data.queries[q] for q in qrels}, qrels

    def _system(self, name: str, part: str, make, source: str) -> SystemRun:
        path = self.out / "runs" / f"{name}.{part}.json"
        queries, qrels = self._queries(part)
        source = f"{source} catalog={self._catalog_key()} queries={len(queries)}"
        cached = SystemRun.load(path) if self.resume and path.exists() else None
        if cached is not None and cached.source == source:
            system = cached
        else:
            system = make(queries)
            system.source = source
            path.parent.mkdir(exist_ok=True)
            system.save(path)
        return score(system, qrels, self.config.evaluate.k)

    def baselines(self) -> dict[str, SystemRun]:
        t = time.perf_counter()
        k = max(self.config.evaluate.k)
        if self.config.evaluate.bm25:
            for stem, name in ((True, "bm25"), (False, "bm25-unstemmed")):
                built = {}  # one BM25 index per variant, built only if a part is not cached

                def make(queries, stem=stem, built=built):
                    if "bm25" not in built:
                        built["bm25"] = bm25_index(self.data, stem=stem)
                    return bm25_run(built["bm25"], queries, k=k)

                self.systems[name] = self._system(name, "test", make, source=f"{name} k={k}")
                if self.split_.dev:
                    self.dev[name] = self._system(name, "dev", make, source=f"{name} k={k}").metrics
        self._timed("bm25", t)
        return self.systems

    def train(self) -> Path:
        split = self.split_ or self.split()
        model_dir = self.out / "model"
        if self.resume and (model_dir / "training_stats.json").exists():
            logger.info("training already finished in %s; not training again", model_dir)
            return model_dir
        t = time.perf_counter()
        if self.config.mine.source in ("judged", "none"):
            cfg = dataclasses.replace(self.config.train,
                                      judged_negatives=self.config.train.judged_negatives
                                      and self.config.mine.source == "judged")
            path = train_sparse(self.data, split, cfg, self.out, resume=self.resume, progress=self.progress)
        else:
            summary = train_with_mining(self.data, split, self.config.train, self.config.mine, self.out,
                                        dev_eval=self.dev_eval, resume=self.resume, progress=self.progress)
            path = install_best(summary, self.out)
        self._timed("train", t)
        return path

    def dev_eval(self, model_ref: str, collection: str):
        """Index the catalog with ``model_ref`` in ``collection`` and score the dev queries: (metrics, index)."""
        split = self.split_ or self.split()
        if not split.dev:
            raise SearchtuneError("mining rounds choose the best round on the dev split, which is empty; "
                                  "give a split with dev queries (or --dev-fraction above 0)")
        queries, qrels = self._queries("dev")
        index = open_index(self._collection(collection), self.config.index, data_dir=self.out / "qdrant")
        system = model_run(collection, model_ref, self.data, queries, index, k=max(self.config.evaluate.k),
                           config=self.config.evaluate, progress=self.progress, catalog_key=self._catalog_key(),
                           model=_load_any(model_ref))
        return score(system, qrels, self.config.evaluate.k).metrics, index

    def _collection(self, name: str) -> str:
        return name if not self.config.index.qdrant_url else f"{self.out.name}-{name}"

    def _catalog_key(self) -> str:
        if self._catalog is None:
            ids = "\n".join(self.data.products["product_id"]) + "\n".join(self.data.products["text"])
            self._catalog = hashlib.sha1(ids.encode()).hexdigest()[:16]
        return self._catalog

    def evaluate_model(self, name: str, model_ref: str, collection: str | None = None) -> SystemRun:
        """Index the catalog with one model (in collection ``name``) and score it on test and dev."""
        t = time.perf_counter()
        k = max(self.config.evaluate.k)
        data_dir = self.out / "qdrant"
        collection = self._collection(collection or name)
        model = None

        def make(queries):
            nonlocal model
            model = model or _load_any(model_ref)
            with open_index(collection, self.config.index, data_dir=data_dir) as index:
                return model_run(name, model_ref, self.data, queries, index, k=k, config=self.config.evaluate,
                                 progress=self.progress, catalog_key=self._catalog_key(), model=model)

        self.systems[name] = self._system(name, "test", make, source=f"{model_ref} k={k}")
        if self.split_.dev:
            self.dev[name] = self._system(name, "dev", make, source=f"{model_ref} k={k}").metrics
        self._timed(f"index_and_search_{name}", t)
        return self.systems[name]

    def compare(self, models, *, systems: list[str] | None = None, fusion: str = "rrf",
                weights: list[float] | None = None) -> dict[str, SystemRun]:
        """Every system of :mod:`searchtune.systems` on the test queries from one collection (``all``),
        plus paired significance tests against BM25 and against the best single system."""
        from .systems import SYSTEM_VECTORS, build_collection, run_systems, significance

        t = time.perf_counter()
        queries, qrels = self._queries("test")
        k = max(self.config.evaluate.k)
        ev = self.config.evaluate
        with open_index(self._collection("all"), self.config.index, data_dir=self.out / "qdrant") as index:
            stats = build_collection(index, self.data, models, batch_size=ev.encode_batch_size, precision=ev.precision,
                                     progress=self.progress, catalog_key=self._catalog_key())
            runs = run_systems(index, self.data, queries, models, k=k, systems=systems, fusion=fusion, weights=weights,
                               batch_size=ev.search_batch_size, precision=ev.precision)
        rename = {"sparse-base": "base", "sparse-tuned": "finetuned"}
        for name, run in runs.items():
            run.name = rename.get(name, name)
            run.timings["index"] = stats
            self.systems[run.name] = score(run, qrels, self.config.evaluate.k)
        singles = [n for n in self.systems if n in ("bm25", "bm25-qdrant", "base", "finetuned") or
                   (n in SYSTEM_VECTORS and len(SYSTEM_VECTORS[n]) == 1)]
        best = max(singles, key=lambda n: self.systems[n].metrics.get("ndcg@10", 0))
        self.significance = significance(qrels, self.systems, against=sorted({"bm25", best}))
        self.significance["best_single"] = best
        self.fusion = {"method": fusion, "weights": weights, "rrf_k": 60}
        self._timed("compare", t)
        return self.systems

    def matryoshka(self, model_ref: str, dims: list[int], prefix: str = "dense-tuned") -> dict[str, SystemRun]:
        """The dense model at each Matryoshka size on the test queries: systems ``<prefix>@<dim>``."""
        from .dense import matryoshka_runs
        from .models import load_dense_encoder

        t = time.perf_counter()
        queries, qrels = self._queries("test")
        ev = self.config.evaluate
        model = load_dense_encoder(model_ref)
        runs, timings = matryoshka_runs(model, self.data, queries, sorted(dims, reverse=True), k=max(ev.k),
                                        batch_size=ev.encode_batch_size, precision=ev.precision,
                                        progress=self.progress, docs=self._indexed_dense(model_ref, model))
        out = {}
        for dim, run in runs.items():
            name = f"{prefix}@{dim}"
            out[name] = self.systems[name] = score(
                SystemRun(name, run, timings={"exact_search": True, **timings}, source=f"{model_ref} dim={dim}"),
                qrels, ev.k)
        self._timed("matryoshka", t)
        return out

    def _indexed_dense(self, model_ref: str, model):
        """The catalog's vectors for a dense model from the collection `evaluate_model` indexed it in, if any
        (so the Matryoshka evaluation does not encode the catalog a second time)."""
        from .dense import _dim

        for collection in ("finetuned", "base"):
            with open_index(self._collection(collection), self.config.index, data_dir=self.out / "qdrant") as index:
                if not index.exists():
                    continue
                meta = index.metadata()
                signature = {"models": {"dense_base": model_ref}, "catalog": self._catalog_key()}
                if meta.get("complete") and meta.get("signature") == signature:
                    return index.vectors(self.data.product_ids, _dim(model), name="dense_base")
        return None

    def mining_summary(self) -> dict | None:
        path = self.out / "rounds" / "rounds.json"
        return json.loads(path.read_text()) if path.exists() else None

    def report(self) -> dict:
        split = self.split_
        _, test_qrels = self._queries("test")
        examples = []
        if "base" in self.systems and "finetuned" in self.systems:
            examples = build_examples(self.data, test_qrels, self.systems["base"], self.systems["finetuned"],
                                      self.config.evaluate.examples)
        timings = dict(self.timings)
        stats_path = self.out / "model" / "training_stats.json"
        if stats_path.exists():
            timings["training"] = json.loads(stats_path.read_text())
        timings["systems"] = {n: s.timings for n, s in self.systems.items()}
        sizes = {"source": split.source, "train": len(split.train), "dev": len(split.dev), "test": len(split.test),
                 "test_evaluated": len(test_qrels)}
        return write_report(self.out, systems=self.systems, dev=self.dev, examples=examples,
                            config=self.config.to_dict(), counts=self.data.counts, split_sizes=sizes,
                            timings=timings, command=self.command, mining=self._mining_for_report(),
                            significance=self.significance, fusion=self.fusion, synthetic=self.synthetic_stats)

    def _mining_for_report(self) -> dict | None:
        from .mining import examples, read_mined

        summary = self.mining_summary()
        if not summary:
            return None
        last = max((r["round"] for r in summary["rounds"] if r["round"] > 0), default=None)
        mined = self.out / "rounds" / f"round-{last}" / "negatives.jsonl"
        summary = dict(summary)
        summary["examples"] = examples(read_mined(mined), 5) if last and mined.exists() else []
        return summary

    # -- the whole job ---------------------------------------------------
    def run(self, *, train: bool = True, model: str | None = None) -> dict:
        """Every step; ``train=False`` evaluates ``model`` (or nothing but the baselines) instead of training."""
        t = time.perf_counter()
        self.load()
        self.split()
        self.baselines()
        self.evaluate_model("base", base_model(self.config.train))
        tuned = str(self.train()) if train else model
        if tuned:
            rounds = self.mining_summary()
            if rounds and train:  # the best round is indexed already: search that collection
                self.evaluate_model("finetuned", rounds["best_model"], collection=f"round-{rounds['best_round']}")
            else:
                self.evaluate_model("finetuned", tuned)
            dims = self.config.train.matryoshka_dims
            if dims and self.config.train.kind == "dense":
                self.matryoshka(tuned, dims)
        self._timed("total", t)
        return self.report()

