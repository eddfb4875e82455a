"""``report.json`` from a run's :class:`~.results.Results` (the table's figures, intervals, paired tests, every
step's record) and both report files written; :mod:`.markdown` renders ``report.md``."""

from __future__ import annotations

import platform

from ..data import SearchData
from ..files import write_json, write_text
from ..rundir import RunDir
from .markdown import change, render_markdown
from .results import Results
from .runs import SystemRun
from .stats import confidence_interval, significance


def source_summary(source: dict) -> dict:
    """What the report keeps of how the data was read: files (format, encoding), columns, warnings."""
    return {"files": source.get("files", []), "columns": source.get("columns", {}), "how": source.get("how", {}),
            "attribute_columns": len(source.get("attributes", [])), "ignored_columns": len(source.get("ignored", [])),
            "warnings": source.get("warnings", []), "language": source.get("language")}


def build_examples(data: SearchData, qrels, base: SystemRun, tuned: SystemRun, n: int, metric: str = "ndcg@10"):
    """The test queries where tuning helped most and hurt most, with both top-3 lists."""
    deltas = sorted(((tuned.per_query[metric].get(q, 0.0) - base.per_query[metric].get(q, 0.0), q) for q in qrels),
                    key=lambda x: (x[0], x[1]))
    worst = [q for d, q in deltas[: n // 2] if d < 0]
    best = [q for d, q in reversed(deltas[-(n - n // 2):]) if d > 0]
    titles = dict(zip(data.products["product_id"], data.products["title"]))

    def top3(system: SystemRun, qid: str):
        ranked = sorted(system.run.get(qid, {}).items(), key=lambda kv: -kv[1])[:3]
        return [{"product_id": p, "title": titles.get(p, p), "score": round(s, 3),
                 "gain": data.qrels.get(qid, {}).get(p)} for p, s in ranked]

    out = []
    for qid in best + worst:
        out.append({
            "query": data.queries[qid],
            "ndcg@10_base": round(base.per_query[metric].get(qid, 0.0), 3),
            "ndcg@10_finetuned": round(tuned.per_query[metric].get(qid, 0.0), 3),
            "base": top3(base, qid),
            "finetuned": top3(tuned, qid),
        })
    return out


def reads(config: dict, bm25_fields: dict | None = None) -> dict:
    """What each system reads of a product, for the report (BM25 and the models read different budgets)."""
    data, train = config.get("data") or {}, config.get("train") or {}
    cut = ", ".join(f"{what} cut at {data[key]} characters" for what, key in
                    (("description", "description_chars"), ("attributes", "attribute_chars")) if data.get(key, 0) > 0)
    tokens = f", then its first {train['max_seq_length']} tokens" if train.get("max_seq_length") else ""
    bm25 = "every field of a product whole (title, brand, description, bullets, category, attributes)"
    if bm25_fields:
        figures = ", ".join(f"{v:.4f} {n}" for n, v in bm25_fields["dev_ndcg@10"].items())
        if bm25_fields["fields"] != "every field":
            bm25 = "every field of a product whole but the attributes (title, brand, description, bullets, category)"
        bm25 += f", chosen on {bm25_fields['dev_queries']} dev queries (nDCG@10 {figures})"
    return {"bm25": bm25, "models": f"the product text ({cut or 'every field whole'}){tokens}"}


def machine() -> str:
    import os

    from ..precision import cpu_name

    return (f"{cpu_name()}, {os.cpu_count()} CPU cores, {platform.system()} {platform.machine()}, "
            f"Python {platform.python_version()}")


def build_report(results: Results) -> dict:
    """``report.json``: the test table (with BM25-relative changes, 95% intervals and paired tests), dev
    metrics, and every step's record."""
    r = results
    systems = r.systems
    metrics = {name: {k: round(v, 4) for k, v in s.metrics.items()} for name, s in systems.items()}
    ref = metrics.get("bm25")
    changes = {}
    if ref:
        changes = {name: {k: round(change(v, ref[k]), 2) for k, v in m.items() if ref.get(k)} for name, m in metrics.items()
                   if name != "bm25"}
    per_query = {name: s.per_query["ndcg@10"] for name, s in systems.items() if s.per_query.get("ndcg@10")}
    intervals = {name: confidence_interval(v.values()) for name, v in per_query.items()}
    sig = r.significance
    if sig is None and len(per_query) > 1:  # every report: each system against BM25 and the untuned model
        sig = significance(per_query, against=[n for n in ("bm25", "base") if n in per_query])
    timings = dict(r.timings)
    if r.training:
        timings["training"] = r.training
    timings["systems"] = {n: s.timings for n, s in systems.items()}
    return {
        "metrics": metrics,
        "ndcg@10_95ci": intervals,
        "change_vs_bm25_percent": changes,
        "dev_metrics": r.dev,
        "protocol": {
            "queries": "held-out test queries that have at least one positive judgment",
            "corpus": "the full catalog",
            "ndcg": "linear gain (ranx ndcg, Jarvelin & Kekalainen)",
            "relevant": "gain >= the positive threshold of the label scale",
        },
        "split": r.split,
        "reads": reads(r.config or {}, r.bm25_fields),
        "counts": r.counts,
        "source": r.source,
        "config": r.config,
        "timings": timings,
        "examples": r.examples,
        "mining": r.mining,
        "synthetic_queries": r.synthetic,
        "significance": sig,
        "fusion": r.fusion,
        "two_stage": r.two_stage,
        "reranker_training": r.reranker_training,
        "latency": r.latency,
        "recommendation": r.recommendation,
        "system": r.system,
        "kinds": r.kinds,
        "what_changed": r.changes,
        "segments": {name: {k: v for k, v in row.items() if k != "query_ids"} for name, row in r.segments.items()}
        if r.segments else None,
        "events": r.events,
        "judged_metrics": {n: {k: round(v, 4) for k, v in m.items()} for n, m in r.judged.items()} or None,
        "machine": machine(),
        "command": r.command,
    }


def write_report(run: RunDir, results: Results | None = None) -> dict:
    """``report.md`` and ``report.json`` of a run, from ``results`` or else the run's saved ``results.json``."""
    report = build_report(results or Results.load(run.results))
    write_json(run.report_json, report, indent=2)
    write_text(run.report_md, render_markdown(report))
    return report


