"""Segments of the test queries, and every system's nDCG@10 on each: where tuning helps and where it loses.

A query is in every segment whose rule it meets (so segments overlap):

- **length**: one word, two or three, four or more;
- **model code or SKU**: a token of 4+ characters with both letters and digits (``dcd771c2``, ``006r90321``);
- **numbers and units**: a token with a digit (``20v``, ``50``, ``1/2``);
- **brand**: a brand of the catalog's brand column, as whole words;
- **a word no product holds**: a word of 3+ letters in no product's text (misspellings, words the catalog does
  not use);
- **head, torso, tail**: the thirds of the queries by how often they were searched, from search logs; without
  logs, by how many products are judged for them (a query searched often gets more judgments).

:func:`unit_mismatch` gives the attribute-mismatch rate: the query says 256GB, a top-10 product 128GB.

Per segment and system: the mean nDCG@10 with a 95% bootstrap interval (:func:`.stats.confidence_interval`),
and each system's change against BM25 with the paired test of the report (:func:`.stats.paired_test`).
"""

from __future__ import annotations

import re

from .stats import MAX_P, confidence_interval, paired_test

WORD = re.compile(r"[a-z0-9]+(?:[./-][a-z0-9]+)*")
CODE = re.compile(r"^(?=[a-z0-9./-]*[a-z])(?=[a-z0-9./-]*[0-9])[a-z0-9./-]{4,}$")
SEGMENTS = ("head", "torso", "tail", "one word", "two or three words", "four or more words", "model code or SKU",
            "numbers and units", "brand", "a word no product holds")
MISMATCH = "attribute mismatch"  # the key of unit_mismatch's result beside the segments
UNIT = re.compile(r"^(\d+(?:\.\d+)?)(gb|tb|mb|mah|v|w|kw|mm|cm|m|in|ft|oz|lb|lbs|gal|l|ml|hz|ghz|mhz|mp|k)$")


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def segment_queries(queries: dict[str, str], texts: list[str], brands: list[str],
                    frequency: dict[str, float] | None = None) -> dict[str, list[str]]:
    """The query ids of each segment (:data:`SEGMENTS`); ``texts``: every product's text, ``brands``: theirs;
    ``frequency``: how often each query is searched (or, without logs, how many products are judged for it: a
    query people search often gets more judgments), whose thirds are head, torso and tail."""
    vocabulary = {w for text in texts for w in words(text)}
    known_brands = {" ".join(words(b)) for b in brands if b and words(b)}
    longest = max((len(b.split()) for b in known_brands), default=0)
    out: dict[str, list[str]] = {s: [] for s in SEGMENTS}
    if frequency:
        ranked = sorted(queries, key=lambda q: (-frequency.get(q, 0), q))
        third = len(ranked) / 3
        for i, qid in enumerate(ranked):
            out["head" if i < third else "torso" if i < 2 * third else "tail"].append(qid)
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


def unit_mismatch(queries: dict[str, str], runs: dict[str, dict[str, dict[str, float]]], texts: dict[str, str],
                  k: int = 10) -> dict:
    """The attribute-mismatch rate: of the queries that name a quantity with a unit (``256gb``, ``18v``), per
    system the share of their top-``k`` products whose text gives the same unit only with other numbers (the
    query says 256GB, the product 128GB). Products that do not mention the unit are not counted."""
    wanted = {}
    for qid, query in queries.items():
        found = [UNIT.match(t) for t in words(query)]
        units = {m.group(2): m.group(1) for m in found if m}
        if units:
            wanted[qid] = units
    out = {"queries": len(wanted), "systems": {}}
    for system, run in runs.items():
        checked = mismatched = 0
        for qid, units in wanted.items():
            for pid in sorted(run.get(qid, {}), key=lambda p: -run[qid][p])[:k]:
                said = {}
                for m in filter(None, (UNIT.match(t) for t in words(texts.get(pid, "")))):
                    said.setdefault(m.group(2), set()).add(m.group(1))
                for unit, number in units.items():
                    if unit in said:
                        checked += 1
                        mismatched += number not in said[unit]
        out["systems"][system] = {"checked": checked, "rate": round(mismatched / checked, 4) if checked else None}
    return out
