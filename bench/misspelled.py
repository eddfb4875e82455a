"""Home Depot: how models do on the dev queries with a word no product title holds (mostly misspellings), and
how much a catalog-vocabulary spelling corrector would give each system. Dev only; test is never read.

Usage: .venv/bin/python bench/misspelled.py MODEL [MODEL ...]

A query is "misspelled" when one of its words (lower-cased runs of letters and digits) occurs in no title.
The corrector is a measurement, not a searchtune feature: each such word of four or more letters becomes the
most frequent title word one edit away, else two title words it splits into (each in >= 5 titles), else the
most frequent title word two edits away. Every system (stemmed BM25 and each model) is scored on the original
and on the corrected dev queries, with the full catalog searched as in the benchmark (bench/hd.py).
"""
from __future__ import annotations

import collections
import re
import sys
from pathlib import Path

import hd

from searchtune.evaluation.bm25 import BM25Baseline
from searchtune.evaluation.metrics import evaluate_run

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def edits1(w: str) -> set[str]:
    sp = [(w[:i], w[i:]) for i in range(len(w) + 1)]
    return ({a + b[1:] for a, b in sp if b} | {a + b[1] + b[0] + b[2:] for a, b in sp if len(b) > 1}
            | {a + c + b[1:] for a, b in sp if b for c in LETTERS} | {a + c + b for a, b in sp for c in LETTERS})


def corrector(vocab: collections.Counter):
    def fix(w: str) -> str:
        if vocab[w] or not w.isalpha() or len(w) < 4:
            return w
        near = [e for e in edits1(w) if vocab[e]]
        if near:
            return max(near, key=vocab.__getitem__)
        splits = [(w[:i], w[i:]) for i in range(2, len(w) - 1) if vocab[w[:i]] >= 5 and vocab[w[i:]] >= 5]
        if splits:
            return " ".join(max(splits, key=lambda p: min(vocab[p[0]], vocab[p[1]])))
        far = {e2 for e in edits1(w) for e2 in edits1(e) if vocab[e2]}
        return max(far, key=vocab.__getitem__) if far else w
    return lambda q: " ".join(fix(w) for w in q.lower().split())


def segments(qrels, run, misspelled):
    out = {}
    for name, sub in (("all", set(qrels)), ("misspelled", misspelled), ("rest", set(qrels) - misspelled)):
        out[name] = round(evaluate_run({q: qrels[q] for q in sub}, {q: run.get(q, {}) for q in sub},
                                       ks=(10,))["ndcg@10"], 4)
    return out


def main(models: list[str]) -> None:
    d, s = hd.load()
    titles = list(d.products["text"])
    vocab = collections.Counter(w for t in titles for w in words(t))
    qrels = d.eval_qrels(s.dev)
    original = {q: d.queries[q] for q in qrels}
    misspelled = {q for q, t in original.items() if any(vocab[w] == 0 for w in words(t))}
    fix = corrector(vocab)
    corrected = {q: fix(t) for q, t in original.items()}
    changed = sum(corrected[q] != t.lower() for q, t in original.items())
    print(f"dev queries {len(qrels)}; with a word in no title {len(misspelled)}; changed by the corrector {changed}")
    bm25 = BM25Baseline().index(list(d.products["product_id"]), titles)
    for name, queries in (("original", original), ("corrected", corrected)):
        print(f"bm25 (stemmed), {name}:", segments(qrels, bm25.search(queries, k=100), misspelled))
    for m in models:
        for name, queries in (("original", original), ("corrected", corrected)):
            d.queries.update(queries)
            _, system = hd.score_model(d, s, m, "dev", Path("runs/misspelled-qdrant"))
            print(f"{m}, {name}:", segments(qrels, system.run, misspelled), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
