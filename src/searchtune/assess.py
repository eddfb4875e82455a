"""Should this catalog be fine-tuned? What its labelled queries allow, measured before any training.

:func:`assess` reads the data, splits it as a run would, and measures in minutes what the decision needs:

- **counts and sufficiency**: queries with a relevant product on each side of the split, judged products per
  query, the label distribution;
- **where the models start**: BM25 (reading what it would read in a run) and the untuned model on the dev
  queries, the untuned model through a real Qdrant Edge collection of the whole catalog;
- **time on this machine**: indexing from the speed the untuned model's collection was just built at;
  training from the rows a run would train on, at the speed the short run below trained at (without it, a
  quarter of the indexing speed: training costs about four document encodings a row, 72 rows/s against 311
  docs/s on Home Depot titles, BENCHMARKS.md "Speed").

With several raters' grades (``raters``: a file with one column per rater, named like ``agent_1_rating``,
``rater2`` or ``annotator_a``): how often they agree (:func:`agreement`), the ceiling any system is measured
against. The gain to expect comes from a short training run on part of the queries (:mod:`searchtune.probe`),
unless ``probe=False``. Then a recommendation with its reasons, by the rules of :func:`recommend`.
"""

from __future__ import annotations

import itertools
import re
import statistics
import tempfile
import time
from pathlib import Path

from .config import Config
from .errors import SearchtuneError

MIN_TRAINING = 100  # real training queries with a relevant product below which a run adds synthetic ones
MIN_DEV = 50  # dev queries below which dev decides only large differences (the deploy rule says the same)
TRAINING_SPEED = 0.25  # training rows/s as a share of documents/s encoded (72 / 311 measured on Home Depot)


RATER = re.compile(r"(rater|agent|annotator|judge|assessor)", re.IGNORECASE)


def agreement(path: str | Path) -> dict:
    """How often several raters agree on a (query, product): a file with one numeric column per rater."""
    import pandas as pd

    from .data import read_table

    table = read_table(path)
    columns = [c for c in table.frame.columns if RATER.search(str(c)) and not re.search("final", str(c), re.IGNORECASE)]
    if len(columns) < 2:
        raise table.error(f"found {len(columns)} rater column(s); agreement needs two or more",
                          hint="name them like agent_1_rating, rater2 or annotator_a")
    grades = table.frame[columns].apply(pd.to_numeric, errors="coerce")
    rated = grades[grades.notna().sum(axis=1) >= 2]
    pairs = [(a, b) for a, b in itertools.combinations(columns, 2)]
    both = [rated[[a, b]].dropna() for a, b in pairs]
    n = sum(len(x) for x in both)
    exact = sum(int((x.iloc[:, 0] == x.iloc[:, 1]).sum()) for x in both)
    near = sum(int(((x.iloc[:, 0] - x.iloc[:, 1]).abs() <= 1).sum()) for x in both)
    return {"file": str(path), "raters": columns, "pairs_rated_twice": len(rated),
            "exact": round(exact / n, 4) if n else None, "within_one_grade": round(near / n, 4) if n else None,
            "all_agree": round(float((rated.nunique(axis=1) == 1).mean()), 4) if len(rated) else None}


def assess(config: Config, *, progress: bool = True, raters: str | Path | None = None, probe: bool = True) -> dict:
    """The counts, the dev figures of BM25 and the untuned model, time estimates and a recommendation."""
    from .data import load_data, split_for
    from .evaluation.bm25 import bm25_index, choose_fields
    from .evaluation.metrics import evaluate_run
    from .evaluation.runs import hits_to_run
    from .index import EdgeIndex
    from .index import collection as col
    from .train.trainer import base_model

    data = load_data(config.data)
    if not data.queries:
        raise SearchtuneError("assess needs labelled queries (--queries, or --data with query and label columns); "
                              "with a catalog alone a run trains on synthetic queries (see docs/synthetic-queries.md)")
    split = split_for(config.data, data.queries)
    with_positive = {part: [q for q in getattr(split, part) if data.positives(q)] for part in ("train", "dev", "test")}
    gains = [g for judged in data.qrels.values() for g in judged.values()]
    counts = {"products": len(data.products), "queries": len(data.queries),
              "judgments": len(gains), **{f"{p}_queries": len(v) for p, v in with_positive.items()},
              "judged_per_query": round(statistics.median(len(v) for v in data.qrels.values()), 1),
              "gains": {int(g): gains.count(g) for g in sorted(set(gains))}}
    dev = with_positive["dev"] or with_positive["test"][:MIN_DEV]  # a split without dev: part of test, said
    qrels = data.eval_qrels(dev)
    queries = {q: data.queries[q] for q in qrels}
    read, fields = choose_fields(data, split.dev)
    bm25_run = bm25_index(read, stem=True).search(queries, k=100)
    if fields and with_positive["dev"]:  # the choice measured BM25 on these very queries already
        bm25 = fields["dev_ndcg@10"][fields["fields"]]
    else:
        bm25 = evaluate_run(qrels, bm25_run, ks=(10,))["ndcg@10"]
    base = base_model(config.train)
    models = col.Models.single(base, "base", config.train.max_seq_length, kind=config.train.kind)
    with tempfile.TemporaryDirectory() as tmp, EdgeIndex("assess", tmp) as index:
        t = time.perf_counter()
        col.build(index, data, models, batch_size=config.evaluate.encode_batch_size,
                  precision=config.evaluate.precision, progress=progress)
        index_s = time.perf_counter() - t
        system = next(iter(models.named())).replace("_", "-")
        hits = col.search(index, models, list(queries.values()), system, k=100)
    untuned_run = hits_to_run(list(queries), hits)
    untuned = evaluate_run(qrels, untuned_run, ks=(10,))["ndcg@10"]
    docs_per_s = len(data.products) / index_s
    rows = int(sum(len(data.positives(q)) for q in with_positive["train"]) * config.train.epochs)
    measured = {"dev_queries": len(qrels), "dev_from": "dev" if with_positive["dev"] else "test (no dev split)",
                "bm25": round(bm25, 4), "untuned": round(untuned, 4), "bm25_reads": (fields or {}).get("fields"),
                "index_seconds": round(index_s, 1), "documents_per_second": round(docs_per_s, 1),
                "training_rows": rows, "training_seconds": round(rows / (docs_per_s * TRAINING_SPEED), 1),
                "base_model": base}
    if probe and with_positive["train"]:
        from .probe import probe as short_run

        short = short_run(data, split, config, list(qrels), [bm25_run, untuned_run], progress=progress)
        measured["probe"] = short
        if short["rows"] and short["train_seconds"]:  # measured rows and speed beat the rule of thumb
            rows = round(short["rows"] * short["of_training_queries"] / short["training_queries"] * config.train.epochs)
            measured["training_rows"] = rows
            measured["training_seconds"] = round(rows * short["train_seconds"] / short["rows"], 1)
            measured["training_speed_from"] = "the short run"
    out = {"counts": counts, "measured": measured, **recommend(counts, measured)}
    if raters:
        out["agreement"] = agreement(raters)
    return out


def recommend(counts: dict, measured: dict) -> dict:
    """What to do, and why: each rule that applies adds a reason; the first action is the recommendation."""
    actions, reasons = [], []
    train, dev = counts["train_queries"], measured["dev_queries"]
    gap = (measured["untuned"] - measured["bm25"]) / measured["bm25"] if measured["bm25"] else 0.0
    if train == 0:
        actions.append("add synthetic queries")
        reasons.append("no training query has a relevant product: a run trains on synthetic queries only")
    elif train < MIN_TRAINING:
        actions.append("add synthetic queries")
        reasons.append(f"{train} real training queries with a relevant product, fewer than {MIN_TRAINING}: a run "
                       "adds synthetic ones from the catalog (--augment-below), or label more")
    else:
        actions.append("fine-tune")
        reasons.append(f"{train:,} training queries with a relevant product: enough to fine-tune on")
    if dev < MIN_DEV:
        actions.append("label more queries")
        reasons.append(f"{dev} dev queries decide only large differences; {MIN_DEV} or more choose surely")
    if gap < -0.15:
        actions.append("keep BM25 and try the hybrid")
        reasons.append(f"the untuned model is {-gap:.0%} below BM25 on dev: tuning has far to go, and the hybrid "
                       "with BM25 usually keeps BM25's strengths (Icecat: the tuned model stayed 17% behind)")
    else:
        reasons.append(f"the untuned model starts {gap:+.0%} against BM25 on dev: fine-tuning usually adds "
                       "6-25% here (BENCHMARKS.md)")
    short = measured.get("probe")
    if short and short["gain_percent"] is not None:
        part = ("all" if short["training_queries"] == short["of_training_queries"]
                else f"{short['training_queries']:,} of")
        said = (f"a short run (one epoch on {part} {short['of_training_queries']:,} training queries, "
                f"{short['train_seconds']:,.0f} s) moved dev nDCG@10 from {short['untuned']:.4f} to "
                f"{short['probe']:.4f} ({short['gain_percent']:+.1f}%) on {short['dev_queries']} queries, "
                f"reranking BM25's and the untuned model's top {short['pool']}")
        if short["gain_percent"] <= 0:
            reasons.append(f"{said}: these labels taught the model nothing quickly; check them, or keep BM25")
            if "keep BM25 and try the hybrid" not in actions:
                actions.append("keep BM25 and try the hybrid")
        else:
            behind = measured["bm25"] - short["probe"]
            reasons.append(f"{said}; a full run trains on every query for longer and usually gains more"
                           + (f", but it starts {behind / measured['bm25']:.0%} below BM25's {measured['bm25']:.4f}"
                              if behind > 0.01 * measured["bm25"] else ""))
    if measured["training_seconds"] > 3600:
        reasons.append(f"training one epoch takes about {measured['training_seconds'] / 3600:.1f} h on this "
                       "machine: train on part of the queries first, or on a GPU")
    return {"recommendation": actions[0], "also": actions[1:], "reasons": reasons}
