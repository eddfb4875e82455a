"""``report.md``: the report as a person reads it — system labels, the comparison table with its marks, the
verdict, and a section per step — rendered from ``report.json`` (:mod:`.report`)."""

from __future__ import annotations

import json

SYSTEM_LABELS = {
    "bm25": "BM25 (stemmed, stop words)",
    "bm25-unstemmed": "BM25 (unstemmed)",
    "base": "SPLADE untuned",
    "bm25-qdrant": "BM25 in Qdrant (IDF modifier)",
    "dense-base": "dense untuned",
    "dense-tuned": "dense tuned",
    "hybrid-base": "hybrid untuned (SPLADE + dense)",
    "hybrid-tuned": "hybrid tuned SPLADE + untuned dense",
    "hybrid-tuned-both": "hybrid tuned SPLADE + tuned dense",
    "hybrid-tuned-bm25": "hybrid tuned SPLADE + BM25",
    "finetuned": "SPLADE fine-tuned",
    "hybrid": "hybrid: fine-tuned SPLADE + BM25 (fused in Qdrant)",
    "reranked": "two-stage: first stage + reranker",
}
SHORT_LABELS = {"bm25": "BM25", "bm25-unstemmed": "BM25 unstemmed", "base": "SPLADE untuned",
                "finetuned": "SPLADE tuned", "bm25-qdrant": "BM25 in Qdrant", "dense-base": "dense untuned",
                "dense-tuned": "dense tuned", "hybrid-base": "hybrid untuned", "hybrid-tuned": "hybrid tuned SPLADE",
                "hybrid-tuned-both": "hybrid both tuned", "hybrid-tuned-bm25": "hybrid SPLADE + BM25",
                "hybrid": "hybrid tuned + BM25", "reranked": "two-stage"}


def labels_for(report: dict, short: bool = False) -> dict[str, str]:
    """System labels; ``base``/``finetuned`` name the kind of model each is (``report["kinds"]``, read from the
    models; a report without it: the run's ``train.kind``)."""
    labels = dict(SHORT_LABELS if short else SYSTEM_LABELS)
    train = (report.get("config") or {}).get("train") or {}
    kinds = report.get("kinds") or {}
    if kinds.get("base", train.get("kind")) == "dense":
        labels["base"] = "dense untuned"
    if kinds.get("finetuned", train.get("kind")) == "dense":
        labels["finetuned"] = "dense tuned" if short else "dense fine-tuned"
        labels["hybrid"] = "hybrid: fine-tuned dense + BM25 (fused in Qdrant)" if not short else labels["hybrid"]
    elif train.get("inference_free"):
        labels["finetuned"] += " (inference-free)"
    if report.get("system"):  # `searchtune evaluate --system`: the system measured as it runs
        labels["system"] = f"system: {report['system'].get('label') or ' + '.join(report['system']['vectors'])}"
    two = report.get("two_stage")
    if two:
        labels["reranked"] = f"{labels.get(two['first_stage'], two['first_stage'])} + reranker (top {two['k']})"
    return labels


def change(value: float, reference: float) -> float | None:
    return None if not reference else 100.0 * (value - reference) / reference


MARKS = {"bm25": "†", "base": "‡"}  # differs significantly from BM25 / from the untuned model; § the best single


def marks(significance: dict | None, name: str) -> str:
    if not significance:
        return ""
    res = significance["results"].get(name, {})
    out = "".join(m for ref, m in MARKS.items() if res.get(ref, {}).get("significant"))
    best = significance.get("best_single")
    if best and best not in MARKS and res.get(best, {}).get("significant"):
        out += "§"
    return out


def comparison_table(metrics: dict[str, dict[str, float]], changes: dict[str, dict[str, float]],
                     significance: dict | None = None, labels: dict[str, str] | None = None,
                     intervals: dict[str, tuple[float, float]] | None = None) -> str:
    labels = labels or SYSTEM_LABELS
    intervals = intervals or {}
    names = list(metrics)
    cols = list(next(iter(metrics.values())).keys())
    first = ["ndcg@10", "mrr@10", "recall@10", "recall@100", "precision@10"]
    order = [c for c in first if c in cols] + [c for c in cols if c not in first]
    head = ("| system | " + " | ".join(order) + " | nDCG@10 95% CI | nDCG@10 vs BM25 |\n|---|"
            + "---:|" * (len(order) + 2) + "\n")
    lines = []
    for name in names:
        delta = changes.get(name, {}).get("ndcg@10")
        ci = intervals.get(name)
        lines.append(f"| {labels.get(name, name)}{marks(significance, name)} | "
                     + " | ".join(f"{metrics[name].get(c, float('nan')):.4f}" for c in order)
                     + f" | {'—' if ci is None else f'{ci[0]:.3f}–{ci[1]:.3f}'}"
                     + f" | {'—' if delta is None else f'{delta:+.1f}%'} |")
    return head + "\n".join(lines) + "\n"


def verdict(report: dict) -> str | None:
    """One line: the tuned model against BM25 and the untuned model, and whether each difference is beyond
    noise (the paired test) or within it."""
    sig, metrics = report.get("significance"), report["metrics"]
    tuned = "finetuned" if "finetuned" in metrics else None
    if not sig or tuned is None:
        return None
    parts = []
    for ref, label in (("bm25", "BM25"), ("base", "the untuned model")):
        res = sig["results"].get(tuned, {}).get(ref)
        if res is None:
            continue
        diff = metrics[tuned]["ndcg@10"] - metrics[ref]["ndcg@10"]
        word = "significant" if res["significant"] else "within noise"
        parts.append(f"{diff:+.4f} nDCG@10 vs {label} ({word}, p={res['p']:.3g})")
    n = report["split"].get("test_evaluated")
    return f"tuned: {'; '.join(parts)} on {n} test queries" if parts else None


def render_markdown(report: dict) -> str:
    out = ["# searchtune report", ""]
    split = report["split"]
    out.append(f"Evaluated on {split.get('test_evaluated', '?')} held-out test queries (of {split.get('test', '?')} "
               f"in the test split; those without a relevant product are left out), searching the full catalog of "
               f"{report['counts'].get('products', '?')} products. nDCG uses linear gain."
               + ("" if (report.get("events") or {}).get("heldout_queries_trained") else
                  " No test or dev query was trained on."))
    if report.get("events"):
        out += events_lines(report)
    syn = report.get("synthetic_queries")
    if syn:
        weak = " (the offline generator: built from the catalog's own fields, a weaker source than an LLM)" \
            if syn.get("source") == "offline" else ""
        if syn.get("added_to_real"):
            counts = report["counts"]
            out += ["", f"**Trained on {counts.get('real_training_queries', '?')} real queries plus "
                    f"{counts.get('synthetic_queries', '?')} synthetic ones** from `{syn.get('source')}`{weak}, added "
                    "because the split left too few real training queries (`--augment-below`); evaluated on "
                    f"{syn.get('evaluation', '?')} only."]
        else:
            out += ["", f"**Trained on synthetic queries** from `{syn.get('source')}`{weak}; evaluated on "
                    f"{syn.get('evaluation', '?')}."]
        if syn.get("evaluation", "").startswith("synthetic"):
            out.append("The test queries are synthetic too (written for products held out of training, one "
                       "relevant product each): compare systems with each other, not with numbers on real queries.")
    out += ["", "## Comparison (test queries)", "",
            comparison_table(report["metrics"], report["change_vs_bm25_percent"], report.get("significance"),
                             labels_for(report), report.get("ndcg@10_95ci"))]
    if report.get("significance"):
        sig = report["significance"]
        best = sig.get("best_single")
        out += [f"95% CI: percentile bootstrap over the test queries. Significance: paired {sig['test']} t-test "
                f"on per-query {sig['metric']}, p < {sig['max_p']}: † differs significantly from BM25, "
                "‡ from the untuned model" + (f", § from the best single system ({best})"
                                               if best and best not in MARKS else "") + "."]
        line = verdict(report)
        out += [f"**{line[:1].upper()}{line[1:]}.**" if line else "", ""]
    if report.get("reads"):
        out += [f"What each system reads: BM25 (and the BM25 side of a hybrid) {report['reads']['bm25']}; the "
                f"models {report['reads']['models']}.", ""]
    if report.get("segments"):
        out += segments_section(report)
    if report.get("what_changed"):
        out += changes_section(report["what_changed"])
    if report.get("recommendation"):
        out += recommendation_section(report)
    if (report.get("fusion") or {}).get("chosen_on"):
        f = report["fusion"]
        tried = ", ".join(f"{t['fusion'].upper()}{' ' + str(t['weights']) if t['weights'] else ''} {t['ndcg@10']:.4f}"
                          for t in f.get("tried", []))
        out += [f"The hybrid fuses the fine-tuned model's list and BM25's inside Qdrant with {f['method'].upper()}"
                + (f" (weights {f['weights']}: fine-tuned, BM25)" if f.get("weights") else "")
                + f", chosen on dev nDCG@10 among: {tried}.", ""]
    elif report.get("fusion"):
        f = report["fusion"]
        out += [f"Hybrid systems fuse inside Qdrant with {f['method'].upper()}"
                + (f" (k={f['rrf_k']}, weights {f['weights']})" if f["method"] == "rrf" else "")
                + ": hybrid-base = untuned SPLADE + untuned dense, hybrid-tuned = tuned SPLADE + untuned dense, "
                  "hybrid-tuned-both = tuned SPLADE + tuned dense, hybrid-tuned-bm25 = tuned SPLADE + BM25.", ""]
    if report.get("dev_metrics"):
        out += ["## Dev queries (used for choices, not for the headline)", ""]
        out += [f"- {labels_for(report).get(n, n)}: nDCG@10 {m.get('ndcg@10', 0):.4f}" for n, m in report["dev_metrics"].items()]
        out.append("")
    if report["examples"]:
        out += ["## Per-query examples", "", "Queries where fine-tuning changed nDCG@10 the most, both ways. "
                "`gain` is the judged gain (blank: not judged).", ""]
        for ex in report["examples"]:
            out.append(f"### “{ex['query']}” — nDCG@10 {ex['ndcg@10_base']:.3f} → {ex['ndcg@10_finetuned']:.3f}")
            out.append("")
            out.append("| # | untuned | score | gain | fine-tuned | score | gain |\n|---|---|---:|---:|---|---:|---:|")
            for i in range(3):
                b = ex["base"][i] if i < len(ex["base"]) else None
                t = ex["finetuned"][i] if i < len(ex["finetuned"]) else None

                def cell(h):
                    if h is None:
                        return " | | "
                    g = "" if h["gain"] is None else h["gain"]
                    return f"{h['title'][:70]} | {h['score']:.2f} | {g}"

                out.append(f"| {i + 1} | {cell(b)} | {cell(t)} |")
            out.append("")
    if report.get("mining"):
        out += mining_section(report["mining"])
    if report.get("events"):
        out += ["## Search logs", "", "```json", json.dumps({k: v for k, v in report["events"].items()
                                                           if k != "imports"}, indent=1), "```", ""]
    if syn:
        out += ["## Synthetic queries", "", "```json", json.dumps(syn, indent=1), "```", ""]
    out += ["## Data", ""]
    src = report.get("source") or {}
    for f in src.get("files", []):
        out.append(f"- read `{f['file']}`: {f['format']}, encoding {f.get('encoding') or '(binary)'}, {f['rows']:,} rows"
                   + (f" ({f['encoding_note']})" if f.get("encoding_note") else ""))
    if src.get("columns"):
        out.append("- columns: " + ", ".join(f"{role} = `{col}` ({src['how'].get(role, 'name')})"
                                              for role, col in src["columns"].items())
                   + (f", {src['attribute_columns']} attribute columns" if src.get("attribute_columns") else "")
                   + (f"; {src['ignored_columns']} columns not used" if src.get("ignored_columns") else ""))
    out += [f"- warning: {w}" for w in src.get("warnings", [])]
    out += [f"- {k.replace('_', ' ')}: {v}" for k, v in report["counts"].items()]
    out += [f"- split ({split.get('source')}): train {split.get('train')}, dev {split.get('dev')}, test {split.get('test')}", ""]
    out += ["## Timings", "", "```json", json.dumps(report["timings"], indent=1), "```", ""]
    out += ["## Config", "", "```json", json.dumps(report["config"], indent=1), "```", ""]
    out += [f"Machine: {report['machine']}", ""]
    if report.get("command"):
        out += [f"Command: `{report['command']}`", ""]
    return "\n".join(out)


def events_lines(report: dict) -> list[str]:
    """With ``--events``: what the labels came from, what the test is, and the judged queries' table."""
    ev, labels = report["events"], report["events"]["labels"]
    theta = " ".join(f"{x:.2f}" for x in ev["position_bias"]["theta"][:10])
    out = ["", f"**Trained on labels from search logs**: {ev['searches']:,} searches, {ev['clicks']:,} clicks, "
           f"{ev['add_to_carts']:,} add-to-carts and {ev['purchases']:,} purchases, split by time. Training: the "
           f"searches before {ev['periods']['dev_from'][:10]} ({labels['train']['labelled_pairs']:,} labelled "
           f"pairs of {ev['train_queries']:,} queries); test: the searches from {ev['periods']['test_from'][:10]} on, "
           f"their labels from their own clicks. Position bias ({ev['position_bias']['method']}), examination by "
           f"position relative to the top: {theta}. Choices (dev) on "
           f"{'the judged dev queries' if ev['dev_from'] == 'judgments' else 'the period before the test'}."]
    if ev["position_bias"]["method"].startswith("unknown"):
        out.append("**The log has clicks only** (no impressions, no positions): position bias could not be "
                   "corrected (a product's label is the share of its query's searches that clicked it), and no "
                   "product is labelled a negative, so training takes mined negatives.")
    if ev.get("heldout_queries_trained"):
        out.append(f"**{ev['heldout_queries_trained']:,} training queries were searched again in the dev or test "
                   "period and trained on anyway (`--train-on-heldout-queries`)**: the test is not fully held out.")
    judged = report.get("judged_metrics")
    if judged:
        ref = judged.get("bm25", {}).get("ndcg@10")
        out += ["", f"On the {ev['judged_test_queries']:,} human-judged test queries:", "",
                "| system | nDCG@10 | vs BM25 |", "|---|---:|---:|"]
        for n, m in judged.items():
            delta = "—" if not ref or n == "bm25" else f"{change(m['ndcg@10'], ref):+.1f}%"
            out.append(f"| {labels_for(report).get(n, n)} | {m['ndcg@10']:.4f} | {delta} |")
    return out


def mining_section(mining: dict) -> list[str]:
    """Rounds table (dev metric, timings) and a few mined examples."""
    metric = mining.get("metric", "ndcg@10")
    out = ["## Hard-negative rounds", "",
           f"Negatives from `{mining['source']}`; best round {mining['best_round']} on dev {metric} "
           f"({mining['stopped']}). Only training queries were mined.", "",
           f"| round | negatives | dev {metric} | mining s | search q/s | training s | index + dev s |",
           "|---:|---|---:|---:|---:|---:|---:|"]
    for r in mining["rounds"]:
        m, t = r.get("mining") or {}, r.get("timings") or {}
        out.append(f"| {r['round']} | {r['source']} | {r['dev'].get(metric, float('nan')):.4f} | "
                   f"{m.get('seconds', '—')} | {m.get('search_queries_per_second', '—')} | "
                   f"{t.get('train_seconds', '—')} | {t.get('index_and_dev_seconds', '—')} |")
    out.append("")
    soup = mining.get("soup")
    if soup:
        out += [f"Greedy soup (weights averaged, an ingredient kept only if dev {metric} rose): "
                f"{len(soup['ingredients'])} ingredient(s), dev {metric} {soup['score']:.4f}"
                f"{' - used as the fine-tuned model' if mining['best_model'] == soup['model'] else ' - no soup beat the best single model'}.",
                "", f"| added | dev {metric} | kept |", "|---|---:|---|"]
        out += [f"| {t['added']} | {t['score']:.4f} | {'yes' if t['kept'] else 'no'} |" for t in soup["tried"]]
        out.append("")
    if mining.get("examples"):
        out += ["Mined examples (last round; rank among non-positive results, `judged` = labelled gain 0):", "",
                "| query | positive | negatives (rank) |", "|---|---|---|"]
        for ex in mining["examples"]:
            negs = "; ".join(f"{n['text'][:60]} ({n['rank'] if n['rank'] is not None else n['source']})"
                             for n in ex["negatives"])
            out.append(f"| {ex['query']} | {ex['positive'][:60]} | {negs} |")
        out.append("")
    return out


def recommendation_section(report: dict) -> list[str]:
    """The system to deploy, the reranker's choices on dev, and the per-stage latency."""
    rec, labels = report["recommendation"], labels_for(report)
    test = rec.get("test") or {}
    out = ["## The system to deploy", "",
           f"**{rec['label']}**: {rec['why']}."
           + (f" Test nDCG@10 {test['ndcg@10']:.4f}." if "ndcg@10" in test else ""), ""]
    if rec.get("test_disagrees"):
        out += [rec["test_disagrees"], ""]
    if rec.get("rule"):
        out += [f"The rule: {rec['rule']} (`searchtune.evaluation.deploy`).", ""]
    two = report.get("two_stage")
    if two:
        out += [f"Reranker `{two['reranker']}`: K (first-stage products rescored) and the weight of the first "
                f"stage's score chosen per first stage on {two['dev_queries']} dev queries; test read only for the "
                f"one dev prefers ({labels.get(two['first_stage'], two['first_stage'])}).", "",
                "| first stage | dev nDCG@10 | + reranker | K | weight |", "|---|---:|---:|---:|---:|"]
        for name, c in two["choices"].items():
            out.append(f"| {labels.get(name, name)} | {two['dev'][name]:.4f} | {c['ndcg@10']:.4f} | {c['k']} | "
                       f"{c['weight']:.2f} |")
        out.append("")
    latency = report.get("latency") or {}
    if latency:
        out += ["Latency, one query at a time on this machine (ms, p50 / p95):", "",
                "| system | first stage | reranker | total |", "|---|---:|---:|---:|"]
        for name, v in latency.items():
            label = labels.get(name) or f"{labels.get(name.removesuffix('+rerank'), name)} + reranker (top {v.get('k')})"
            cells = [f"{v[s]['p50_ms']:.1f} / {v[s]['p95_ms']:.1f}" if s in v else "—"
                     for s in ("first_stage", "rerank", "total")]
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        out.append("")
    return out


def segments_section(report: dict) -> list[str]:
    """nDCG@10 per segment of the test queries, every system, and where the tuned model loses to BM25."""
    from .segments import MISMATCH, losses

    labels = labels_for(report)
    table = {k: v for k, v in report["segments"].items() if k != MISMATCH}
    mismatch = report["segments"].get(MISMATCH)
    systems = [n for n in report["metrics"] if n in next(iter(table.values()))["systems"]]
    out = ["## Segments (test queries)", "",
           "A query is in every segment whose rule it meets (`searchtune.evaluation.segments`); head, torso and tail "
           "are the thirds of the queries by "
           + ("how often they were searched in the log" if report.get("events") else "how many products are judged "
              "for them (a query searched often gets more judgments)")
           + ". nDCG@10; † differs significantly from BM25 (paired t-test).", "",
           "| segment | queries | " + " | ".join(labels.get(n, n) for n in systems) + " |",
           "|---|---:|" + "---:|" * len(systems)]
    for name, row in table.items():
        cells = [f"{row['systems'][n]['ndcg@10']:.4f}{'†' if row['systems'][n].get('significant_vs_bm25') else ''}"
                 for n in systems]
        out.append(f"| {name} | {row['queries']} | " + " | ".join(cells) + " |")
    lost = losses(table)
    out += ["", "Where the tuned model is below BM25: " + ("; ".join(lost) if lost else "no segment") + ".", ""]
    if mismatch:
        rates = ", ".join(f"{labels.get(n, n)} {c['rate']:.1%} of {c['checked']}"
                          for n, c in mismatch["systems"].items() if c["rate"] is not None)
        out += [f"Attribute mismatch ({mismatch['queries']} queries name a quantity with a unit, like 256gb or 18v; "
                f"of their top-10 products that state that unit, the share that state another number): {rates}.", ""]
    return out


def changes_section(changes: dict) -> list[str]:
    """What fine-tuning changed in how the catalog is read: shares of weight by kind of term, and the terms."""
    models = changes["models"]
    kinds = [k for k in models["untuned"] if k != "terms per product"]
    out = ["## What fine-tuning changed in the catalog", "",
           f"Over {changes['products']} sampled products, the share of the documents' term weight on each kind of "
           "term (`searchtune.explain.what_changed`; generic words: in more than a fifth of the products; "
           "expansion terms: not among the product's own tokens).", "",
           "| | " + " | ".join(kinds) + " | terms per product |", "|---|" + "---:|" * (len(kinds) + 1)]
    for label in ("untuned", "tuned"):
        m = models[label]
        out.append(f"| {label} | " + " | ".join(f"{m[k]:.1%}" for k in kinds) + f" | {m['terms per product']} |")
    out += ["", "Gained weight: " + ", ".join(t["term"] for t in changes["gained"]) + ".",
            "Lost weight: " + ", ".join(t["term"] for t in changes["lost"]) + ".", ""]
    return out
