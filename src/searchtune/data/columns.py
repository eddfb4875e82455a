"""Column auto-detection for catalogs and judgments.

Header names are compared case-insensitively after turning spaces and hyphens
into underscores (``Query-ID`` → ``query_id``). A user override
(``--title-column`` …) always wins; then exact names (the first candidate found
wins); then name patterns (a label column's name holds relevance, rating, label,
grade, score or judgment; a brand's supplier, manufacturer, vendor or maker; a
description's desc); then values (:func:`detect_by_values`: the label is the one
column whose values fit a known scale, a catalog's id the one column unique per
row with no spaces). Two equally good candidates are an error that lists them
and names the flag that chooses. ``Columns.how`` records how each was found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import DataError

# Ordered: the earlier name is preferred when a file has several.
CANDIDATES: dict[str, tuple[str, ...]] = {
    "product_id": ("product_id", "product_uid", "productid", "item_id", "sku", "asin", "doc_id", "docid",
                   "corpus_id", "pid", "_id", "id"),
    "title": ("title", "product_title", "product_name", "name", "item_name"),
    "brand": ("brand", "brand_name", "product_brand", "manufacturer"),
    "description": ("description", "product_description", "desc", "long_description", "text", "body"),
    "bullets": ("bullet_points", "bullets", "product_bullet_point", "features", "highlights"),
    "attributes": ("attributes", "attrs", "specs", "specifications", "product_attributes", "properties"),
    "category": ("category", "categories", "category_path", "product_class", "department", "product_type"),
    "query": ("query", "search_term", "query_text", "search_query", "keywords", "q"),
    "query_id": ("query_id", "qid", "queryid"),
    "label": ("label", "relevance", "esci_label", "grade", "rating", "judgment", "score"),
    # search logs (searchtune.events)
    # a clicks export's query time is the search's time (its click time is not needed)
    "timestamp": ("timestamp", "time", "ts", "event_time", "query_time", "search_time", "searched_at",
                  "query_timestamp", "search_timestamp", "datetime", "date", "created_at"),
    "search_id": ("search_id", "request_id", "impression_id", "session_id", "sid", "session"),
    "position": ("position", "rank", "pos", "slot", "result_position"),
    "event": ("event", "event_type", "action", "interaction", "type"),
}


# Second pass, for a role no exact name matched: a pattern searched in the normalised header name.
PATTERNS: dict[str, str] = {
    "title": r"title",
    "brand": r"brand|supplier|manufacturer|vendor|maker",
    "description": r"desc",
    "category": r"categor",
    "label": r"relevan|rating|label|grade|score|judg",
}
# Wide specification columns (``attr_t_colour``) never stand for a role by pattern.
ATTRIBUTE_PREFIXES = ("attr_", "spec_", "attribute_", "feature_")


@dataclass
class Columns:
    """Which column of a file plays which role (``None`` when absent)."""

    product_id: str | None = None
    title: str | None = None
    brand: str | None = None
    description: str | None = None
    bullets: str | None = None
    attributes: str | None = None
    category: str | None = None
    query: str | None = None
    query_id: str | None = None
    label: str | None = None
    timestamp: str | None = None
    search_id: str | None = None
    position: str | None = None
    event: str | None = None
    how: dict[str, str] = field(default_factory=dict, compare=False)  # role → "flag", "name", "pattern" or "values"

    def as_dict(self) -> dict[str, str | None]:
        return {role: getattr(self, role) for role in ALL_ROLES}

    def used(self) -> set[str]:
        return {c for c in self.as_dict().values() if c}


ROLES = ("product_id", "title", "brand", "description", "bullets", "attributes", "category", "query", "query_id",
         "label")
EVENT_ROLES = ("timestamp", "search_id", "query", "product_id", "position", "event")
ALL_ROLES = ROLES + tuple(r for r in EVENT_ROLES if r not in ROLES)


def _flag(role: str) -> str:
    return "--id-column" if role == "product_id" else f"--{role.replace('_', '-')}-column"


def normalise_header(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def detect_columns(header: list[str], overrides: dict[str, str | None] | None = None, *, file=None,
                   roles: tuple[str, ...] = ROLES, frame=None) -> Columns:
    """Map roles to the columns of ``header``.

    ``overrides`` maps a role to a column name given by the user; a name that is
    not in the header is an error that lists the columns the file has. Where several columns match a role's
    name pattern, the values of ``frame`` (the file's table) decide when exactly one fits (:func:`fits`).
    """
    overrides = {k: v for k, v in (overrides or {}).items() if v}
    by_norm = {}
    for col in header:
        by_norm.setdefault(normalise_header(col), col)
    found: dict[str, str | None] = {}
    how: dict[str, str] = {}
    used: set[str] = set()
    for role, col in overrides.items():
        if role not in ALL_ROLES:
            raise ValueError(f"unknown column role {role!r}")
        actual = col if col in header else by_norm.get(normalise_header(col))
        if actual is None:
            raise DataError(
                f"column '{col}' given for {role} is not in the file",
                file=file,
                hint=f"the file has columns: {', '.join(header)}",
            )
        found[role] = actual
        how[role] = "flag"
        used.add(actual)
    has_query = "query" in found or any(n in by_norm for n in CANDIDATES["query"])
    for role in roles:
        if role in found:
            continue
        found[role] = None
        for cand in CANDIDATES[role]:
            # A bare "id" in a file with queries is usually a row number (Home Depot's train.csv).
            if role == "product_id" and cand == "id" and has_query:
                continue
            col = by_norm.get(cand)
            if col is not None and col not in used:
                found[role] = col
                how[role] = "name"
                used.add(col)
                break
    for role in roles:
        if found[role] is not None or role not in PATTERNS:
            continue
        matches = [col for norm, col in by_norm.items() if col not in used and re.search(PATTERNS[role], norm)
                   and not norm.startswith(ATTRIBUTE_PREFIXES)]
        how_found = "pattern"
        if len(matches) > 1 and frame is not None:
            fitting = [col for col in matches if fits(role, frame[col])]
            if len(fitting) == 1:
                how_found = f"pattern; of {', '.join(matches)} only its values fit a {role.replace('_', ' ')}"
                matches = fitting
        if len(matches) > 1:
            raise DataError(f"{len(matches)} columns could be the {role.replace('_', ' ')}: {', '.join(matches)}",
                            file=file, hint=f"choose one with {_flag(role)}")
        if matches:
            found[role] = matches[0]
            how[role] = how_found
            used.add(matches[0])
    return Columns(**{r: found.get(r) for r in ALL_ROLES}, how=how)


def fits(role: str, values) -> bool:
    """Whether a column's values look like ``role``'s: a label's fit a known scale (2-12 distinct values); a brand
    or a category repeats (at most half the rows distinct) and a brand is short; a title is mostly distinct and
    of a title's length; a description is long. Used only to choose among columns a name pattern matched."""
    from .labels import ScaleDetectionError, detect_scale

    text = values.head(100_000).astype(str).str.strip()
    text = text[text != ""]
    if text.empty:
        return False
    distinct, length = text.nunique() / len(text), float(text.str.len().median())
    if role == "label":
        levels = set(text.unique())
        if not 2 <= len(levels) <= 12:
            return False
        try:
            detect_scale(levels)
        except ScaleDetectionError:
            return False
        return True
    if role == "brand":
        return distinct <= 0.5 and length <= 40
    if role == "category":
        return distinct <= 0.5
    if role == "title":
        return distinct >= 0.5 and 3 <= length <= 200
    if role == "description":
        return length >= 40
    return False


def detect_by_values(frame, cols: Columns, roles: tuple[str, ...], *, file=None) -> Columns:
    """Fill the label (and a catalog's product id) that names did not find, from the columns' values.

    The label: the unused column whose values (at most 12 distinct ones, not all equal) fit a known scale.
    The product id (only asked for a catalog): the unused column whose values are filled, unique per row,
    short and without spaces. Two candidates are an error naming them and the flag.
    """
    from .labels import ScaleDetectionError, detect_scale

    free = [c for c in frame.columns if c not in cols.used() and not normalise_header(c).startswith(ATTRIBUTE_PREFIXES)]
    found: dict[str, list[str]] = {}
    if "label" in roles and cols.label is None:
        for column in free:
            distinct = set(frame[column].head(100_000).str.strip().unique()) - {""}
            if not 2 <= len(distinct) <= 12:
                continue
            try:
                detect_scale(distinct)
            except ScaleDetectionError:
                continue
            found.setdefault("label", []).append(column)
    if "product_id" in roles and cols.product_id is None:
        for column in free:
            values = frame[column]
            if values.eq("").any() or not values.is_unique or values.str.len().max() > 64 or values.str.contains(r"\s|://").any():
                continue
            found.setdefault("product_id", []).append(column)
    for role, columns in found.items():
        if len(columns) > 1:
            raise DataError(f"{len(columns)} columns could be the {role.replace('_', ' ')} by their values: "
                            f"{', '.join(columns)}", file=file, hint=f"choose one with {_flag(role)}")
        setattr(cols, role, columns[0])
        cols.how[role] = "values"
    return cols
