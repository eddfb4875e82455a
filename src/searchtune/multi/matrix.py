"""``searchtune matrix``: every model on every data set's held-out queries, each against its own catalog.

Rows ``bm25`` (stemmed, bm25s) and ``base`` (the untuned ``train.model``) are always there; then each model
given. A cell is test nDCG@10 and MRR@10, the change against that set's BM25 and whether a paired t-test on
per-query nDCG@10 finds it significant (p < 0.05). Each set's BM25 index is built once; each model's
collection per set lives in ``OUT/qdrant`` and is reused by a rerun (same model, same catalog).
The recommendation (:func:`recommend`) reads the finished matrix.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from ..evaluation.bm25 import bm25_index, bm25_run, choose_fields
from ..evaluation.runs import score
from ..evaluation.stats import significance
from ..evaluation.systems import model_run
from ..files import write_json, write_text
from .sets import LoadedSet, load_set
from .spec import MultiSpec

logger = logging.getLogger(__name__)

METRICS = ("ndcg@10", "mrr@10")


def run_matrix(spec: MultiSpec, models: dict[str, str], out: str | Path, *, progress: bool = True,
               sets: list[LoadedSet] | None = None) -> dict:
    """Measure ``bm25``, ``base`` and ``models`` (name → path or short name) on every set; write
    ``OUT/matrix.json`` and ``OUT/matrix.md`` and return the matrix."""
    from ..config import EvalConfig
    from ..index import open_index
    from ..models import trained_config

    out = Path(out)
    sets = sets or [load_set(d) for d in spec.datasets]
    refs = {"base": spec.train.model, **models}
    ev = EvalConfig()
    rows: dict[str, dict[str, dict]] = {name: {} for name in ("bm25", *refs)}
    sizes = {}
    for s in sets:
        qrels = s.data.eval_qrels(s.split.test)
        queries = {q: s.data.queries[q] for q in qrels}
        sizes[s.name] = len(queries)
        logger.info("%s: %s test queries, %s products", s.name, f"{len(queries):,}", f"{len(s.data.products):,}")
        read, _ = choose_fields(s.data, s.split.dev)  # what BM25 reads, chosen on the set's dev queries
        systems = {"bm25": score(bm25_run(bm25_index(read, stem=True), queries, k=100), qrels, ev.k)}
        for name, ref in refs.items():
            max_length = (trained_config(ref) or {}).get("max_seq_length") or spec.train.max_seq_length
            collection = f"{s.name}-{hashlib.sha1(f'{ref}:{max_length}'.encode()).hexdigest()[:10]}"
            with open_index(collection, data_dir=out / "qdrant") as index:
                run = model_run(name, ref, s.data, queries, index, k=100, config=ev, progress=progress,
                                role="base", max_length=max_length)
            systems[name] = score(run, qrels, ev.k)
            logger.info("%s on %s: nDCG@10 %.4f", name, s.name, systems[name].metrics["ndcg@10"])
        sig = significance({n: r.per_query["ndcg@10"] for n, r in systems.items()}, against=["bm25"])["results"]
        ref_ndcg = systems["bm25"].metrics["ndcg@10"]
        for name, system in systems.items():
            cell = {m: round(system.metrics[m], 4) for m in METRICS}
            if name != "bm25":
                res = sig.get(name, {}).get("bm25", {})
                cell["change_vs_bm25"] = round(100 * (cell["ndcg@10"] - ref_ndcg) / ref_ndcg, 1) if ref_ndcg else None
                cell["p_vs_bm25"] = res.get("p")
                cell["significant_vs_bm25"] = bool(res.get("significant"))
            rows[name][s.name] = cell
    matrix = {"datasets": [s.name for s in sets], "eval_only": [s.name for s in sets if s.spec.eval_only],
              "test_queries": sizes, "rows": rows, "models": refs}
    matrix["recommendation"] = recommend(matrix)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "matrix.json", matrix, indent=2)
    write_text(out / "matrix.md", render(matrix))
    return matrix


def render(matrix: dict) -> str:
    sets = matrix["datasets"]
    head = "| model | " + " | ".join(f"{s}{' (eval only)' if s in matrix['eval_only'] else ''} "
                                      f"({matrix['test_queries'][s]:,} q)" for s in sets) + " |"
    lines = ["# Cross-domain matrix", "", "Test nDCG@10 on each data set's held-out queries (its own catalog), the "
             "change vs that set's BM25; † significant (paired t-test, p < 0.05).", "", head,
             "|---|" + "---:|" * len(sets)]
    for name, cells in matrix["rows"].items():
        out = []
        for s in sets:
            c = cells[s]
            change = "" if c.get("change_vs_bm25") is None else \
                f" ({c['change_vs_bm25']:+.1f}%{'†' if c.get('significant_vs_bm25') else ''})"
            out.append(f"{c['ndcg@10']:.4f}{change}")
        lines.append(f"| {name} | " + " | ".join(out) + " |")
    rec = matrix["recommendation"]
    lines += ["", "## What to deploy", ""] + [f"- {line}" for line in rec["lines"]] + [""]
    return "\n".join(lines)


def recommend(matrix: dict) -> dict:
    """Per trained-on set, the model to deploy (the best nDCG@10; BM25 or the untuned model when no tuned one
    beats them significantly); the one model for every set (the best mean change vs BM25 over the trained-on
    sets) with its cost on each; and what tuning does to the eval-only sets against the untuned model."""
    rows, sets, held = matrix["rows"], matrix["datasets"], set(matrix["eval_only"])
    tuned = [n for n in rows if n not in ("bm25", "base")]
    domains = [s for s in sets if s not in held]
    per_set, lines = {}, []
    for s in domains:
        best = max(rows, key=lambda n: rows[n][s]["ndcg@10"])
        cell = rows[best][s]
        if best != "bm25" and not cell.get("significant_vs_bm25"):
            lines.append(f"{s}: BM25 ({rows['bm25'][s]['ndcg@10']:.4f}); the best model, {best} "
                         f"({cell['ndcg@10']:.4f}, {cell['change_vs_bm25']:+.1f}%), is not significantly better")
            best = "bm25"
        elif best == "bm25":
            lines.append(f"{s}: BM25 ({cell['ndcg@10']:.4f}); no model beats it")
        else:
            lines.append(f"{s}: {best} ({cell['ndcg@10']:.4f}, {cell['change_vs_bm25']:+.1f}% vs BM25, significant)")
        per_set[s] = best
    one = None
    if tuned and domains:
        one = max(tuned, key=lambda n: sum(rows[n][s].get("change_vs_bm25") or 0 for s in domains) / len(domains))
        costs = []
        for s in domains:
            top = max(rows[n][s]["ndcg@10"] for n in tuned)
            gap = 100 * (rows[one][s]["ndcg@10"] - top) / top if top else 0.0
            costs.append(f"{s} {rows[one][s]['change_vs_bm25']:+.1f}% vs BM25"
                         + (f", {-gap:.1f}% below the best model there" if gap < -0.05 else ", the best model there"))
        lines.append(f"one model for every catalog: {one} ({'; '.join(costs)})")
    for s in sorted(held):
        base = rows["base"][s]["ndcg@10"]
        for n in tuned:
            change = 100 * (rows[n][s]["ndcg@10"] - base) / base if base else 0.0
            lines.append(f"{s} (never trained on): {n} {change:+.1f}% vs the untuned model"
                         + ("; for catalogs unlike the training data keep the untuned model or BM25" if change < -5
                            else "; within 5% of the untuned model"))
    return {"per_set": per_set, "one_model": one, "lines": lines}
