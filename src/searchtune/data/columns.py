"""Column auto-detection for catalogs and judgments.

Header names are compared case-insensitively after turning spaces and hyphens
into underscores (``Query-ID`` → ``query_id``). A user override
(``--title-column`` …) always wins; then exact names (the first candidate found
wins); then name patterns (a label column's name holds relevance, rating, label,
grade, score or judgment; a brand's supplier, manufacturer, vendor or maker; a
description's desc). Two columns matching one pattern are an error that lists
them and names the flag that chooses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

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

    def as_dict(self) -> dict[str, str | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


ROLES = tuple(f.name for f in fields(Columns))


def normalise_header(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def detect_columns(header: list[str], overrides: dict[str, str | None] | None = None, *, file=None,
                   roles: tuple[str, ...] = ROLES) -> Columns:
    """Map roles to the columns of ``header``.

    ``overrides`` maps a role to a column name given by the user; a name that is
    not in the header is an error that lists the columns the file has.
    """
    overrides = {k: v for k, v in (overrides or {}).items() if v}
    by_norm = {}
    for col in header:
        by_norm.setdefault(normalise_header(col), col)
    found: dict[str, str | None] = {}
    used: set[str] = set()
    for role, col in overrides.items():
        if role not in ROLES:
            raise ValueError(f"unknown column role {role!r}")
        actual = col if col in header else by_norm.get(normalise_header(col))
        if actual is None:
            raise DataError(
                f"column '{col}' given for {role} is not in the file",
                file=file,
                hint=f"the file has columns: {', '.join(header)}",
            )
        found[role] = actual
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
                used.add(col)
                break
    for role in roles:
        if found[role] is not None or role not in PATTERNS:
            continue
        matches = [col for norm, col in by_norm.items() if col not in used and re.search(PATTERNS[role], norm)
                   and not norm.startswith(ATTRIBUTE_PREFIXES)]
        if len(matches) > 1:
            flag = "--id-column" if role == "product_id" else f"--{role.replace('_', '-')}-column"
            raise DataError(f"{len(matches)} columns could be the {role.replace('_', ' ')}: {', '.join(matches)}",
                            file=file, hint=f"choose one with {flag}")
        if matches:
            found[role] = matches[0]
            used.add(matches[0])
    return Columns(**{r: found.get(r) for r in ROLES})
