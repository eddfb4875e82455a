"""Wide attribute columns (``attr_t_product_colour``, ``spec_weight``...) as ``name=value`` product text.

Exports often spread specifications over thousands of sparse columns. Kept are the columns that carry
information for search: filled for at least ``MIN_SHARE`` of the products, with short values (median at
most ``MAX_VALUE_CHARS``), and never links, images, EAN/GTIN codes or prices (by name or value). A user
can list the columns by hand (``data.attribute_columns``). Each product's pairs keep the file's column order
and are cut at ``data.attribute_chars`` characters in the text the models read (BM25 reads them whole).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .columns import ATTRIBUTE_PREFIXES

MIN_SHARE = 0.01  # filled for at least 1% of the products
MAX_VALUE_CHARS = 40
_NOT_FOR_SEARCH = re.compile(r"url|link|img|image|photo|picture|ean|gtin|upc|isbn|price|cost", re.IGNORECASE)
_TYPE_PREFIX = re.compile(r"^(?:attr|spec|attribute|feature)_(?:[tnb]_)?", re.IGNORECASE)


def attribute_name(column: str) -> str:
    """``attr_t_product_colour`` → ``product colour``."""
    return _TYPE_PREFIX.sub("", column).replace("_", " ").strip()


def wide_columns(frame: pd.DataFrame, chosen: list[str] | None = None) -> list[str]:
    """The attribute columns worth putting in the product text (``chosen``: the user's list, checked)."""
    if chosen:
        return [c for c in chosen if c in frame.columns]
    candidates = [c for c in frame.columns if c.lower().startswith(ATTRIBUTE_PREFIXES)
                  and not _NOT_FOR_SEARCH.search(attribute_name(c))]
    if not candidates:
        return []
    filled = frame[candidates].ne("")
    share = filled.mean()
    kept = []
    for column in share[share >= MIN_SHARE].index:
        values = frame.loc[filled[column], column]
        if values.str.len().median() > MAX_VALUE_CHARS or values.str.startswith(("http://", "https://")).any():
            continue
        kept.append(column)
    return kept


def attribute_texts(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """Per row: ``name=value; ...`` for each filled column, in column order, whole (BM25 reads it all)."""
    if not columns:
        return [""] * len(frame)
    parts: list[list[str]] = [[] for _ in range(len(frame))]
    for column in columns:  # column by column, touching only the filled cells of a sparse table
        name = attribute_name(column)
        values = frame[column].to_numpy()
        for i in np.flatnonzero(values != ""):
            parts[i].append(f"{name}={values[i]}")
    return ["; ".join(pairs) for pairs in parts]


def cut_pairs(text: str, max_chars: int) -> str:
    """``name=value; ...`` cut at ``max_chars`` characters, whole pairs only (no cut when ``max_chars`` <= 0)."""
    return text[:max_chars].rsplit("; ", 1)[0] if 0 < max_chars < len(text) else text
