"""What searchtune will use from the user's files, shown before any long step (``searchtune inspect``).

:func:`preview` turns loaded :class:`~searchtune.data.load.SearchData` into one plain dict (the JSON of
``inspect --json``): the files read (format, encoding, rows), the column chosen for each role and how it
was found, the label scale and the gain of each raw label, counts, three product texts exactly as the
model reads them, and the loader's warnings. :func:`summary_lines` is its short form, logged by
``pipeline``, ``train`` and the studio's runs.
"""

from __future__ import annotations

from .load import SearchData

SAMPLES = 3


def preview(data: SearchData, samples: int = SAMPLES) -> dict:
    source = data.source
    columns: dict = dict(source.get("columns", {}))
    if source.get("attributes"):
        columns["attributes"] = list(source["attributes"])
    scale = None
    if data.scale is not None:
        scale = {"name": data.scale.name, "description": data.scale.description,
                 "positive_min_gain": data.positive_min_gain, "gains": source.get("label_gains", {})}
    counts = {
        "products": len(data.products),
        "queries": len(data.queries),
        "judgments": sum(len(v) for v in data.qrels.values()),
        "positives": data.counts.get("positive_judgments", 0),
        "queries_with_a_positive": data.counts.get("queries_with_a_positive", 0),
    }
    counts.update({k: v for k, v in data.counts.items() if k not in counts and k != "positive_judgments" and v})
    n = len(data.products)
    rows = sorted({0, n // 2, n - 1})[:samples] if n else []
    return {
        "files": source.get("files", []),
        "columns": columns,
        "found_by": {role: how for role, how in source.get("how", {}).items()},
        "ignored_columns": source.get("ignored", []),
        "label_scale": scale,
        "language": source.get("language", {"language": data.language, "how": "given"}),
        "counts": counts,
        "sample_texts": [{"product_id": data.products["product_id"].iat[i], "text": data.products["text"].iat[i]}
                         for i in rows],
        "warnings": list(source.get("warnings", [])),
    }


def summary_lines(p: dict) -> list[str]:
    """The short form: one line per file, the columns, the label scale and counts."""
    lines = []
    for f in p["files"]:
        lines.append(f"read {f['file']}: {f['format']}, {f['encoding'] or 'binary'}, {f['rows']:,} rows")
    roles = [f"{role}={name if isinstance(name, str) else f'{len(name)} attribute columns'}"
             for role, name in p["columns"].items()]
    lines.append("columns: " + ", ".join(roles))
    lines += [f"{role} = {p['columns'].get(role)}: chosen by name {how}" for role, how in p["found_by"].items()
              if ";" in str(how)]  # a choice the values made among columns the name pattern matched
    if p["label_scale"]:
        s = p["label_scale"]
        lines.append(f"labels: {s['name']} scale ({s['description']}), positive from gain {s['positive_min_gain']}")
    lang = p.get("language")
    if lang:
        lines.append(f"language: {lang['language']} ({lang['how']}"
                     + (f", {lang['share']:.0%} of the stop words found" if lang.get("share") else "")
                     + "): BM25's stemmer and stop words")
    c = p["counts"]
    lines.append(f"{c['products']:,} products, {c['queries']:,} queries, {c['judgments']:,} judgments, "
                 f"{c['queries_with_a_positive']:,} queries with a relevant product")
    if p["sample_texts"]:
        text = p["sample_texts"][0]["text"]
        lines.append(f"a product as the model reads it: {text[:160]}{'…' if len(text) > 160 else ''}")
    return lines
