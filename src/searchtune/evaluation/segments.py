"""Segments of the test queries, and every system's nDCG@10 on each: where tuning helps and where it loses.

A query is in every segment whose rule it meets (so segments overlap):

- **length**: one word, two or three, four or more;
- **model code or SKU**: a token of 4+ characters with both letters and digits (``dcd771c2``, ``006r90321``);
- **numbers and units**: a token with a digit (``20v``, ``50``, ``1/2``);
- **brand**: a brand of the catalog's brand column, as whole words;
- **a word no product holds**: a word of 3+ letters in no product's text (misspellings, words the catalog does
  not use).

Per segment and system: the mean nDCG@10 with a 95% bootstrap interval (:func:`.stats.confidence_interval`),
and each system's change against BM25 with the paired test of the report (:func:`.stats.paired_test`).
"""

from __future__ import annotations

import re

from .stats import MAX_P, confidence_interval, paired_test

WORD = re.compile(r"[a-z0-9]+(?:[./-][a-z0-9]+)*")
CODE = re.compile(r"^(?=[a-z0-9./-]*[a-z])(?=[a-z0-9./-]*[0-9])[a-z0-9./-]{4,}$")
SEGMENTS = ("one word", "two or three words", "four or more words", "model code or SKU", "numbers and units",
            "brand", "a word no product holds")


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def segment_queries(queries: dict[str, str], texts: list[str], brands: list[str]) -> dict[str, list[str]]:
    """The query ids of each segment (:data:`SEGMENTS`); ``texts``: every product's text, ``brands``: theirs."""
    vocabulary = {w for text in texts for w in words(text)}
    known_brands = {" ".join(words(b)) for b in brands if b and words(b)}
    longest = max((len(b.split()) for b in known_brands), default=0)
    out: dict[str, list[str]] = {s: [] for s in SEGMENTS}
    for qid, query in queries.items():
        tokens = words(query)
        n = len(tokens)
        out["one word" if n == 1 else "two or three words" if n <= 3 else "four or more words"].append(qid)
        if any(CODE.match(t) for t in tokens):
            out["model code or SKU"].append(qid)
        if any(any(c.isdigit() for c in t) for t in tokens):
            out["numbers and units"].append(qid)
        grams = {" ".join(tokens[i:i + k]) for k in range(1, longest + 1) for i in range(n - k + 1)}
        if grams & known_brands:
            out["brand"].append(qid)
        if any(t.isalpha() and len(t) >= 3 and t not in vocabulary for t in tokens):
            out["a word no product holds"].append(qid)
    return out


def segment_table(segments: dict[str, list[str]], per_query: dict[str, dict[str, float]],
                  reference: str = "bm25") -> dict:
    """Per segment its query count and ids (kept in ``results.json`` for ``searchtune diff``; ``report.json``
    leaves them out) and, per system, nDCG@10 with its interval, the change against ``reference`` and whether
    the paired test calls it significant."""
    out: dict[str, dict] = {}
    for name, qids in segments.items():
        if not qids:
            continue
        row: dict = {"queries": len(qids), "query_ids": sorted(qids), "systems": {}}
        ref = {q: per_query[reference].get(q, 0.0) for q in qids} if reference in per_query else None
        for system, scores in per_query.items():
            values = {q: scores.get(q, 0.0) for q in qids}
            mean = sum(values.values()) / len(values)
            cell = {"ndcg@10": round(mean, 4), "ci": confidence_interval(values.values())}
            if ref is not None and system != reference:
                p = paired_test(values, ref)
                cell["delta_vs_bm25"] = round(mean - sum(ref.values()) / len(ref), 4)
                cell["significant_vs_bm25"] = p is not None and p < MAX_P
            row["systems"][system] = cell
        out[name] = row
    return out


def losses(table: dict, system: str = "finetuned") -> list[str]:
    """The segments where ``system`` is below BM25 (one line each), significant ones first."""
    lines = []
    for name, row in table.items():
        cell = row["systems"].get(system, {})
        if cell.get("delta_vs_bm25", 0) < 0:
            lines.append((not cell.get("significant_vs_bm25"), f"{name} ({row['queries']} queries): "
                          f"{cell['delta_vs_bm25']:+.4f} vs BM25"
                          + (", significant" if cell.get("significant_vs_bm25") else ", within noise")))
    return [line for _, line in sorted(lines)]
