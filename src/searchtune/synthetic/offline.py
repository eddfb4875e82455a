"""Queries from the catalog's own fields, for when no LLM is configured (the weaker source).

Per product, one query of each kind, built from what the row has:

- specific: brand + model code (a token mixing letters and digits), else brand + product type;
- general: the category's last level, else the product type (the title's head noun phrase);
- need: a "for ..." phrase from the title, bullets or description ("saw for cutting tile"),
  else the product type with the category's parent ("drill for power tools");
- attribute: an attribute value (colour, material, size, power...) or a measure or colour
  from the title, with the product type ("30 in wall oven", "white wall oven").

Then shopper-like noise, the same for a given seed: lowercase, unit dots dropped
("in." → "in"), now and then a word dropped or two letters swapped. These
queries echo the product's own words, so a model trained on them mostly learns
the catalog's vocabulary; the report labels the source as offline and weaker
than LLM-written queries.
"""

from __future__ import annotations

import random
import re
import time

import pandas as pd

from .prompt import KINDS, clean_query, kinds_for
from .records import SyntheticQuery

_CUT = re.compile(r"\s(?:with|in|for|and|w/)\s|[,(|;:]|\s-\s", re.IGNORECASE)
_MEASURE = re.compile(r"\b(\d+(?:[./-]\d+)*(?:\s?-?\s?)(?:in\.?|inch|ft\.?|gal\.?|v|volt|amp|lb\.?|lbs\.?|oz\.?|"
                      r"cu\.? ft\.?|mm|cm|watt|w|btu|piece|pc|pack|light|gauge|qt\.?|sq\.? ft\.?))(?=\W|$)", re.IGNORECASE)
_CODE = re.compile(r"\b(?=[A-Za-z0-9-]*\d)(?=[A-Za-z0-9-]*[A-Za-z])[A-Za-z0-9-]{4,}\b")
_FOR = re.compile(r"\bfor\s+((?:[a-z0-9'-]+\s?){1,4})", re.IGNORECASE)
_COLOURS = {"white", "black", "brown", "gray", "grey", "silver", "red", "blue", "green", "yellow", "beige", "bronze",
            "chrome", "nickel", "brass", "copper", "gold", "almond", "ivory", "tan", "clear", "natural", "oak",
            "cherry", "walnut", "espresso", "stainless", "orange", "pink", "purple"}
_ATTR_KEYS = ("color", "colour", "material", "size", "power source", "power", "finish", "capacity", "voltage", "width")
_STOP_TAIL = {"the", "a", "an", "of", "to", "and", "your", "all", "any", "use", "over", "on", "at", "by"}
_PHRASE_END = {"that", "which", "and", "with", "or", "in", "while", "so", "without", "from", "up"}


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9][a-z0-9/'.-]*", text.lower())


def _strip_measures(text: str) -> str:
    return " ".join(_MEASURE.sub(" ", text).split())


def product_type(title: str, brand: str = "") -> str:
    """The title's head noun phrase: up to three words before 'with', 'in', a comma... (brand and sizes removed)."""
    head = _CUT.split(title, maxsplit=1)[0]
    if brand and head.lower().startswith(brand.lower()):
        head = head[len(brand):]
    words = [w for w in _words(_strip_measures(head)) if not _CODE.fullmatch(w) and not w.isdigit()]
    words = [w.strip(".") for w in words if w.strip(".") and w.strip(".") not in ("x", "to", "-", "&")]
    if not brand and len(words) > 2:  # no brand column: the first word of a title is usually the brand
        words = words[1:]
    return " ".join(words[-3:]) if words else " ".join(_words(title)[:3])


def _attributes(raw: str) -> dict[str, str]:
    """``key=value; key=value`` (the products table's attributes column) → dict."""
    pairs = (part.partition("=") for part in (raw or "").split("; "))
    return {k.strip(): v.strip() for k, sep, v in pairs if sep and v.strip()}


def _noise(q: str, rng: random.Random, kind: str) -> str:
    q = re.sub(r"\b(in|ft|gal|lb|lbs|oz|qt|cu|sq)\.", r"\1", q.lower())
    q = re.sub(r"[®™©\"]", "", q)
    words = q.split()
    droppable = [i for i, w in enumerate(words) if i > 0 and w != "for"]
    if kind != "specific" and len(words) > 3 and rng.random() < 0.15:
        del words[rng.choice(droppable)]
    if len(words) > 1 and rng.random() < 0.05:
        i = rng.randrange(len(words))
        w = words[i]
        if len(w) > 4 and w.isalpha():
            j = rng.randrange(1, len(w) - 2)
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    return " ".join(words)


def _candidates(row: dict) -> dict[str, list[str]]:
    title, brand = row.get("title", ""), row.get("brand", "") or ""
    ptype = product_type(title, brand)
    first = _words(title)[:1]
    maker = brand.lower() or (first[0] if first else "")
    category = [c.strip() for c in re.split(r">|/", row.get("category", "") or "") if c.strip()]
    attrs = _attributes(row.get("attributes", "") or "")
    text = " ".join(str(row.get(k, "") or "") for k in ("title", "bullets", "description"))
    out: dict[str, list[str]] = {k: [] for k in KINDS}
    codes = [c for c in _CODE.findall(title) if not _MEASURE.fullmatch(c)]
    out["specific"] += [f"{maker} {c}" for c in codes[:2]] + [f"{maker} {ptype}"]
    out["general"] += ([category[-1]] if category else []) + [ptype, " ".join(ptype.split()[-2:])]
    for m in _FOR.finditer(text):
        words = []
        for w in m.group(1).lower().split():
            if w in _PHRASE_END:
                break
            words.append(w)
        while words and words[-1] in _STOP_TAIL:
            words.pop()
        if words:
            out["need"].append(f"{ptype.split()[-1]} for {' '.join(words)}")
    if len(category) > 1:
        out["need"].append(f"{ptype.split()[-1]} for {category[-2].lower()}")
    out["need"].append(f"best {ptype}")
    for key in _ATTR_KEYS:
        if key in attrs:
            out["attribute"].append(f"{attrs[key]} {ptype}")
    out["attribute"] += [f"{m.group(1)} {ptype}" for m in _MEASURE.finditer(title)][:2]
    out["attribute"] += [f"{w} {ptype}" for w in _words(title) if w in _COLOURS][:1]
    out["attribute"].append(f"{ptype} {maker}".strip())
    return out


def generate_offline(products: pd.DataFrame, *, per_product: int = 4, seed: int = 42
                     ) -> tuple[list[SyntheticQuery], dict]:
    """``per_product`` queries per product from its fields; returns (records, stats)."""
    t0 = time.perf_counter()
    records: list[SyntheticQuery] = []
    stats = {"source": "offline", "products": len(products), "per_product": per_product, "queries": 0,
             "duplicates_dropped": 0, "products_with_queries": 0}
    for row in products.to_dict("records"):
        rng = random.Random(f"{seed}\x00{row['product_id']}")
        cands = _candidates(row)
        used: dict[str, int] = {k: 0 for k in KINDS}
        seen: set[str] = set()
        got = 0
        for kind in kinds_for(per_product):
            for raw in cands[kind][used[kind]:]:
                used[kind] += 1
                q = clean_query(_noise(raw, rng, kind))
                if q and q not in seen:
                    seen.add(q)
                    records.append(SyntheticQuery(q, row["product_id"], kind, "offline"))
                    got += 1
                    break
                stats["duplicates_dropped"] += q in seen if q else 0
        stats["products_with_queries"] += got > 0
    stats["queries"] = len(records)
    stats["by_kind"] = {k: sum(r.kind == k for r in records) for k in KINDS}
    stats["seconds"] = round(time.perf_counter() - t0, 2)
    return records, stats
