"""Load a catalog and labelled queries into one :class:`SearchData`.

Either one file holds everything (a catalog, or rows of query + product +
label like Home Depot's ``train.csv``), or a catalog file and a judgments file
are given separately. Every row is either used, or skipped on purpose and
counted in ``SearchData.counts`` (and the log); anything that cannot be
interpreted stops with a :class:`~searchtune.errors.DataError` naming the file,
row and column.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

import pandas as pd

from ..config import DataConfig
from ..errors import DataError
from .attributes import attribute_texts, cut_pairs, wide_columns
from .catalog import (
    attribute_pairs,
    clean,
    derived_product_id,
    format_attributes,
    format_bullets,
    join_product_text,
    normalise_query,
    truncate,
)
from .columns import ROLES, Columns, detect_by_values, detect_columns
from .io import Table, read_table
from .labels import SCALES, LabelScale, ScaleDetectionError, detect_scale

logger = logging.getLogger(__name__)

PRODUCT_ROLES = ("product_id", "title", "brand", "description", "bullets", "attributes", "category")


@dataclass
class SearchData:
    """A catalog, its queries and graded judgments (``qrels[qid][product_id] = gain``)."""

    # columns: product_id, title, brand, text (what the models read), full_text (what BM25 reads, where it differs)
    # and attributes_at (where the attributes begin in it, -1: none; see catalog.full_texts), one row per product
    products: pd.DataFrame
    queries: dict[str, str] = field(default_factory=dict)  # qid → query text
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)
    scale: LabelScale | None = None
    positive_min_gain: int = 1
    counts: dict[str, int] = field(default_factory=dict)
    # What was read and how: files (format, encoding, rows), columns (role → name), how (role → flag, name,
    # pattern or values), attributes (wide columns used), ignored (columns not used), warnings.
    source: dict = field(default_factory=dict)
    language: str = "english"  # what BM25 stems and drops as stop words (searchtune.language)

    @property
    def product_ids(self) -> list[str]:
        return self.products["product_id"].tolist()

    @property
    def texts(self) -> dict[str, str]:
        """product id → product text; built once per products table (mining asks for it per query)."""
        cache = self.__dict__.get("_texts")
        if cache is None or cache[0] is not self.products or cache[1] != len(self.products):
            cache = (self.products, len(self.products), dict(zip(self.products["product_id"], self.products["text"])))
            self.__dict__["_texts"] = cache
        return cache[2]

    @property
    def fingerprint(self) -> str:
        """A hash of the catalog's ids and texts (both the models' and BM25's): a collection built from other
        products is never reused."""
        cache = self.__dict__.get("_fingerprint")
        if cache is None or cache[0] is not self.products:
            digest = hashlib.sha1()
            fulls = self.products["full_text"] if "full_text" in self.products else [""] * len(self.products)
            for pid, text, full in zip(self.products["product_id"], self.products["text"], fulls):
                digest.update(f"{pid}\t{text}\n".encode() if not full else f"{pid}\t{text}\t{full}\n".encode())
            cache = (self.products, digest.hexdigest()[:16])
            self.__dict__["_fingerprint"] = cache
        return cache[1]

    @property
    def judgments_fingerprint(self) -> str:
        """A hash of the queries and their graded judgments: a run resumed on other labels is refused."""
        digest = hashlib.sha1()
        for qid in sorted(self.queries):
            digest.update(f"{qid}\t{self.queries[qid]}\t{sorted(self.qrels.get(qid, {}).items())}\n".encode())
        return digest.hexdigest()[:16]

    def positives(self, qid: str) -> dict[str, int]:
        return {p: g for p, g in self.qrels.get(qid, {}).items() if g >= self.positive_min_gain}

    def training_bar(self, qid: str, min_gain: int | None = None, fallback: bool = False) -> int | None:
        """The least gain a product needs to be a training positive of ``qid``; None if it has none.

        ``min_gain`` raises the bar above the scale's positive threshold (Home Depot trains on gain 2,
        "relevant", not gain 1, "partly relevant"). With ``fallback``, a query with no product at that bar
        trains on its best-judged positive products instead of being left out: 17% of Home Depot's training
        queries have only partly relevant products, and the same share of its test queries are like them.
        """
        bar = max(self.positive_min_gain, min_gain or 0)
        gains = [g for g in self.qrels.get(qid, {}).values() if g >= self.positive_min_gain]
        if not gains:
            return None
        if max(gains) >= bar:
            return bar
        return max(gains) if fallback else None

    def negatives(self, qid: str) -> list[str]:
        """Judged products with gain 0 (labelled negatives)."""
        return [p for p, g in self.qrels.get(qid, {}).items() if g == 0]

    def eval_qrels(self, qids) -> dict[str, dict[str, int]]:
        """Qrels for evaluation: relevant (positive) judgments only, queries without one left out."""
        out = {}
        for qid in qids:
            pos = self.positives(qid)
            if pos:
                out[qid] = pos
        return out


def load_data(config: DataConfig) -> SearchData:
    """Read the files named in ``config`` and return the products, queries and judgments."""
    counts: dict[str, int] = {}
    source: dict = {"files": [], "columns": {}, "how": {}, "attributes": [], "ignored": [], "warnings": []}
    if config.data and (config.catalog or config.queries):
        raise DataError("give either --data, or --catalog with --queries, not both")
    if config.data:
        table = read_table(config.data, config.encoding)
        cols = detect_columns(list(table.frame.columns), _only(config.columns, ROLES), file=table.path,
                              frame=table.frame)
        judged = bool(cols.query or cols.query_id)
        cols = detect_by_values(table.frame, cols, ("product_id", "label") if judged else ("product_id",),
                                file=table.path)
        products, row_pids = _products_from(table, cols, config, counts, source)
        data = SearchData(products=products, counts=counts, source=source)
        if judged:
            _add_judgments(data, table, cols, config, counts, row_pids=row_pids)
        elif config.query_texts:
            raise DataError("--query-texts needs judgments: the file has no query column", file=table.path)
        _record(source, table, cols)
    elif config.catalog:
        catalog = read_table(config.catalog, config.encoding)
        cols = detect_columns(list(catalog.frame.columns), _only(config.columns, PRODUCT_ROLES),
                              file=catalog.path, roles=PRODUCT_ROLES, frame=catalog.frame)
        cols = detect_by_values(catalog.frame, cols, ("product_id",), file=catalog.path)
        products, _ = _products_from(catalog, cols, config, counts, source)
        data = SearchData(products=products, counts=counts, source=source)
        _record(source, catalog, cols)
        if config.queries:
            judg = read_table(config.queries, config.encoding)
            roles = ("product_id", "query", "query_id", "label")
            jcols = detect_columns(list(judg.frame.columns), _only(config.columns, roles), file=judg.path, roles=roles,
                                   frame=judg.frame)
            jcols = detect_by_values(judg.frame, jcols, ("label",), file=judg.path)
            _add_judgments(data, judg, jcols, config, counts)
            _record(source, judg, jcols)
    else:
        raise DataError("no data given", hint="pass --data FILE, or --catalog FILE with --queries FILE")
    _check(data, source["warnings"])
    from ..language import SAMPLE, choose

    source["language"] = choose(config.language, data.products["text"].iloc[:SAMPLE].tolist())
    data.language = source["language"]["language"]
    for key, value in counts.items():
        if value and key.startswith("skipped"):
            source["warnings"].append(f"{key.replace('_', ' ')}: {value:,}")
    for warning in source["warnings"]:
        logger.warning("%s", warning)
    return data


def _record(source: dict, table: Table, cols: Columns) -> None:
    """Note what was read from ``table`` and which of its columns were left unused."""
    info = table.describe()
    if table.encoding_note:
        info["encoding_note"] = table.encoding_note
        source["warnings"].append(f"{table.path}: {table.encoding_note}")
    source["files"].append(info)
    for role, column in cols.as_dict().items():
        if column:
            source["columns"].setdefault(role, column)
            source["how"].setdefault(role, cols.how.get(role, "name"))
    used = cols.used() | set(source["attributes"])
    ignored = [c for c in table.frame.columns if c not in used]
    source["ignored"] += ignored
    if ignored:
        shown = ", ".join(ignored[:8]) + (f" and {len(ignored) - 8:,} more" if len(ignored) > 8 else "")
        source["warnings"].append(f"{table.path}: {len(ignored):,} column(s) not used: {shown} "
                                  "(name one with its --...-column flag, or --attribute-column, to use it)")


LONG_TEXT_CHARS = 2000  # ~500 tokens: past what the models read (256-512 tokens), the rest is never seen


def _check(data: SearchData, warnings: list[str]) -> None:
    """Warnings about the data as a whole; no usable judgment at all is an error."""
    n = len(data.products)
    long = int((data.products["text"].str.len() > LONG_TEXT_CHARS).sum())
    if long:
        warnings.append(f"{long:,} of {n:,} product texts are longer than {LONG_TEXT_CHARS:,} characters; "
                        "the model reads only their start (lower --description-chars or --attribute-chars)")
    conflicting = data.counts.get("products_with_conflicting_titles_kept_first", 0)
    if conflicting:
        warnings.append(f"{conflicting:,} product ids appear again with another title; the first title is kept")
    if not data.qrels:
        return
    gains = {g for judged in data.qrels.values() for g in judged.values()}
    without = data.counts.get("queries", 0) - data.counts.get("queries_with_a_positive", 0)
    if not data.counts.get("queries_with_a_positive"):
        raise DataError(f"no judgment is relevant: every label is below the positive threshold (gain "
                        f"{data.positive_min_gain} on the {data.scale.name} scale), so there is nothing to train "
                        "or evaluate on", hint="check the label column and --label-scale, or lower --positive-min-gain")
    if len(gains) == 1:
        warnings.append(f"every judgment has the same gain ({gains.pop()}): there are no judged negatives, "
                        "so training learns from mined negatives only")
    if without:
        warnings.append(f"{without:,} of {data.counts['queries']:,} queries have no relevant product; "
                        "they are not evaluated")


def _only(columns: dict[str, str], roles) -> dict[str, str]:
    return {k: v for k, v in columns.items() if k in roles}


def _products_from(table: Table, cols: Columns, config: DataConfig, counts: dict,
                   source: dict) -> tuple[pd.DataFrame, list[str]]:
    """One row per product; also the product id of every input row (for combined files)."""
    frame = table.frame
    if cols.title is None:
        raise table.error(
            "no product title column found",
            hint=f"the file has columns: {', '.join(frame.columns)}; name one with --title-column",
        )

    def column(role: str) -> list[str]:
        name = getattr(cols, role)
        return frame[name].tolist() if name else [""] * len(frame)

    titles = [clean(t) for t in column("title")]
    brands, descs, bullets, attrs, cats = (column(r) for r in ("brand", "description", "bullets", "attributes", "category"))
    wide: list[str] = []
    if cols.attributes is None or config.attribute_columns:  # wide attribute columns, as name=value pairs
        missing = [c for c in config.attribute_columns if c not in frame.columns]
        if missing:
            raise table.error(f"attribute column(s) {', '.join(missing)} not in the file",
                              hint=f"the file has columns: {', '.join(list(frame.columns)[:30])}...")
        wide = wide_columns(frame, config.attribute_columns)
        if wide:
            counts["attribute_columns_used"] = len(wide)
            source["attributes"] = wide
            attrs = attribute_texts(frame, wide)
    given_ids = [clean(x) for x in column("product_id")] if cols.product_id else None
    by_id: dict[str, int] = {}
    # One list per column (a dict per product cost a gigabyte on a million products). The raw fields stay
    # beside the text for the offline query generator (searchtune.synthetic).
    out: dict[str, list] = {k: [] for k in ("product_id", "title", "brand", "text", "full_text", "attributes_at",
                                            "category", "attributes", "bullets", "description")}
    first_row: list[int] = []
    row_pids: list[str] = []
    for i, title in enumerate(titles):
        if not title:
            raise table.error("empty product title", i, cols.title,
                              hint="fill in the title, or remove the row")
        all_pairs = attribute_pairs(attrs[i]) if attrs[i] else []
        # wide columns are cut at whole pairs before they are formatted, the model text's attributes as before
        pairs = attribute_pairs(cut_pairs(attrs[i], config.attribute_chars)) if wide and all_pairs else all_pairs
        brand, whole, cat = clean(brands[i]), clean(descs[i]), clean(cats[i])
        desc = truncate(whole, config.description_chars)
        bullet = format_bullets(bullets[i]) if bullets[i] else ""
        path = clean(cat.replace(">", " > ")) if ">" in cat else cat
        text = join_product_text(title, brand, desc, bullet, path,
                                 truncate(format_attributes(pairs), config.attribute_chars) if pairs else "")
        lean = join_product_text(title, brand, whole, bullet, path, "")  # BM25's text: every field whole
        attributes_at = len(lean) if all_pairs else -1
        full = f"{lean} | {format_attributes(all_pairs)}" if all_pairs else lean
        if given_ids is not None:
            pid = given_ids[i]
            if not pid:
                raise table.error("empty product id", i, cols.product_id, hint="give every product an id")
        else:
            pid = derived_product_id(text)
        row_pids.append(pid)
        seen = by_id.get(pid)
        if seen is None:
            by_id[pid] = len(first_row)
            first_row.append(i)
            for key, value in (("product_id", pid), ("title", title), ("brand", brand), ("text", text),
                               ("full_text", "" if full == text else full), ("attributes_at", attributes_at),
                               ("category", cat),
                               ("attributes", "; ".join(f"{k}={v}" for k, v in pairs)), ("bullets", bullet),
                               ("description", desc)):
                out[key].append(value)
        elif out["title"][seen] != title:
            if config.duplicate_products != "first":
                raise table.error(
                    f"product id '{pid}' appears again with a different title ('{title}' here, "
                    f"'{out['title'][seen]}' in row {first_row[seen] + 1})",
                    i,
                    cols.product_id,
                    hint="fix the id or title, or pass --duplicate-products first to keep the first title",
                )
            counts["products_with_conflicting_titles_kept_first"] = counts.get("products_with_conflicting_titles_kept_first", 0) + 1
    products = pd.DataFrame(out)
    counts["products"] = len(products)
    counts["catalog_rows"] = len(frame)
    return products, row_pids


def _add_judgments(data: SearchData, table: Table, cols: Columns, config: DataConfig, counts: dict,
                   row_pids: list[str] | None = None) -> None:
    frame = table.frame
    if cols.label is None:
        raise table.error("no label column found for the judgments",
                          hint=f"the file has columns: {', '.join(frame.columns)}; name one with --label-column")
    if row_pids is None:
        if cols.product_id is None:
            raise table.error("no product id column found in the judgments",
                              hint=f"the file has columns: {', '.join(frame.columns)}; name one with --id-column")
        row_pids = [clean(x) for x in frame[cols.product_id].tolist()]
    query_texts = _query_texts(config, cols, table)
    labels = [str(x).strip() for x in frame[cols.label].tolist()]
    scale = _scale(labels, config, table, cols.label)
    data.scale = scale
    data.source["label_gains"] = {raw: scale.gain(raw) for raw in sorted(set(labels) - {""})[:20]}
    data.positive_min_gain = config.positive_min_gain if config.positive_min_gain is not None else scale.positive_min_gain
    known = set(data.products["product_id"])
    qid_of_text: dict[str, str] = {}
    skipped_empty = skipped_unknown = merged = 0
    raw_queries = frame[cols.query].tolist() if cols.query else None
    raw_qids = [clean(x) for x in frame[cols.query_id].tolist()] if cols.query_id else None
    for i, label in enumerate(labels):
        if raw_queries is not None:
            text = clean(raw_queries[i])
        else:
            text = query_texts.get(raw_qids[i], "")
            if not text:
                raise table.error(f"query id '{raw_qids[i]}' has no text in {config.query_texts}", i, cols.query_id,
                                  hint="add the query to the query-texts file")
        if not text:
            skipped_empty += 1
            continue
        if not label:
            raise table.error("empty label", i, cols.label, hint="give every judgment a label, or remove the row")
        gain = scale.gain(label)
        if gain is None:
            raise table.error(f"label '{label}' is outside the {scale.name} scale ({scale.description})", i, cols.label,
                              hint="fix the value, or pass the right --label-scale")
        pid = row_pids[i]
        if pid not in known:
            skipped_unknown += 1
            continue
        norm = normalise_query(text)
        qid = qid_of_text.get(norm)
        if qid is None:
            qid = raw_qids[i] if raw_qids else norm
            qid_of_text[norm] = qid
            data.queries[qid] = text
        judged = data.qrels.setdefault(qid, {})
        if pid in judged:
            merged += 1
            judged[pid] = max(judged[pid], gain)
        else:
            judged[pid] = gain
    counts["judgment_rows"] = len(frame)
    counts["skipped_rows_with_empty_query"] = skipped_empty
    counts["skipped_judgments_for_products_not_in_catalog"] = skipped_unknown
    counts["duplicate_judgments_merged_max_gain"] = merged
    counts["queries"] = len(data.queries)
    counts["judgments"] = sum(len(v) for v in data.qrels.values())
    counts["positive_judgments"] = sum(1 for v in data.qrels.values() for g in v.values() if g >= data.positive_min_gain)
    counts["queries_with_a_positive"] = sum(1 for v in data.qrels.values() if any(g >= data.positive_min_gain for g in v.values()))
    if not data.queries:
        raise table.error("no usable judgments: every row was skipped",
                          hint="check that the product ids match the catalog's")


def _query_texts(config: DataConfig, cols: Columns, table: Table) -> dict[str, str]:
    if cols.query is not None:
        return {}
    if not config.query_texts:
        raise table.error("the judgments have query ids but no query text",
                          hint="pass --query-texts FILE with the id and text of each query (BEIR queries.jsonl)")
    qt = read_table(config.query_texts, config.encoding)
    header = list(qt.frame.columns)
    qc = detect_columns(header, file=qt.path, roles=("query_id", "query"))
    id_col = qc.query_id or next((c for c in header if c.lower() in ("_id", "id")), None)
    text_col = qc.query or next((c for c in header if c.lower() == "text"), None)
    if id_col is None or text_col is None:
        raise qt.error("needs a query id and a query text column", hint=f"the file has columns: {', '.join(header)}")
    return dict(zip([clean(x) for x in qt.frame[id_col]], [clean(x) for x in qt.frame[text_col]]))


def _scale(labels: list[str], config: DataConfig, table: Table, column: str) -> LabelScale:
    if config.label_scale:
        if config.label_scale not in SCALES:
            raise DataError(f"unknown label scale '{config.label_scale}'", hint=f"use one of {', '.join(SCALES)}")
        return SCALES[config.label_scale]
    nonempty = [x for x in labels if x]
    if not nonempty:
        raise table.error("the label column is empty", column=column)
    try:
        return detect_scale(nonempty)
    except ScaleDetectionError as exc:
        row = labels.index(exc.value) if exc.value in labels else None
        raise table.error(f"cannot detect the label scale: {exc}", row, column,
                          hint=f"fix the value or pass --label-scale (one of {', '.join(SCALES)})") from None
