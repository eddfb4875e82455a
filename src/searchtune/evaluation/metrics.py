"""Retrieval metrics through ranx.

nDCG uses ranx's ``ndcg`` — Järvelin & Kekäläinen's *linear* gain
(DCG = Σ gain_i / log2(i + 1)) over the graded gains; MRR, Recall and
Precision count a product as relevant when its gain is positive. Runs and qrels
are ``{qid: {product_id: score}}`` dictionaries.
"""

from __future__ import annotations


def metric_names(ks) -> list[str]:
    ks = sorted(set(int(k) for k in ks))
    names = []
    for k in ks:
        names += [f"ndcg@{k}", f"mrr@{k}", f"recall@{k}", f"precision@{k}"]
    return names


def evaluate_run(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]], ks=(10, 100),
                 per_query: bool = False):
    """Mean metrics over the queries of ``qrels`` (a query missing from ``run`` scores 0).

    Returns ``{metric: value}``; with ``per_query=True`` also ``{metric: {qid: value}}``.
    """
    from ranx import Qrels, Run, evaluate

    names = metric_names(ks)
    full_run = {q: dict(run.get(q, {})) for q in qrels}
    # ranx refuses queries with an empty ranking; a sentinel document that is never relevant scores 0.
    for docs in full_run.values():
        if not docs:
            docs["__no_result__"] = 0.0
    qr, rn = Qrels(qrels), Run(full_run)
    means = evaluate(qr, rn, names, make_comparable=True)
    means = {k: float(v) for k, v in means.items()}
    if not per_query:
        return means
    scores = {m: {q: float(v) for q, v in rn.scores[m].items()} for m in names}
    return means, scores
