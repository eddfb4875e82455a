"""Column auto-detection for catalogs and judgments.

Header names are compared case-insensitively after turning spaces and hyphens
into underscores (``Query-ID`` → ``query_id``). The first candidate name found
wins; a user override (``--title-column`` …) always wins over detection.
"""

from __future__ import annotations

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
    return Columns(**{r: found.get(r) for r in ROLES})
