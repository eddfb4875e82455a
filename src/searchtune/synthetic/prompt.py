"""The query-writing prompt and strict parsing of the model's answer.

One prompt, versioned: the cache key holds ``PROMPT_VERSION``, so changing the
prompt regenerates instead of mixing answers of two prompts. The prompt is
few-shot (two products with one query of each kind) and asks for JSON. The
parser accepts what models actually return — JSON in a code fence, an object
keyed by kind, a list, or ``kind: query`` lines — and validates every query:
lowercase, 1–10 words, at most 80 characters, no sentences or explanations.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

PROMPT_VERSION = "q4-v2"
KINDS = ("specific", "general", "need", "attribute")
KIND_HELP = {
    "specific": "names the brand and/or model, as someone who knows what they want",
    "general": "the product category only, as someone browsing",
    "need": "the problem it solves or what it is for, without naming the product type exactly",
    "attribute": "the product type plus a size, material, colour, power or other attribute",
}
MAX_WORDS = 10
MAX_CHARS = 80

_SHOTS = [
    (
        "Sony WF-1000XM5 Truly Wireless Noise Canceling Earbuds, Black | Bluetooth 5.3, "
        "up to 24 hours battery with case, IPX4 water resistant | category: electronics > headphones",
        {"specific": "sony wf-1000xm5 black", "general": "wireless earbuds",
         "need": "headphones for long flights", "attribute": "waterproof bluetooth 5.3 earbuds"},
    ),
    (
        "DEWALT 20V MAX Cordless 1/2 in. Drill/Driver Kit DCD771C2 | two batteries, charger and bag | "
        "category: tools > power drills",
        {"specific": "dewalt dcd771c2", "general": "cordless drill",
         "need": "drill for putting up shelves", "attribute": "20v 1/2 in drill driver kit"},
    ),
]


def kinds_for(n: int) -> list[str]:
    """The kind of each of ``n`` queries: the four kinds in turn."""
    return [KINDS[i % len(KINDS)] for i in range(n)]


def prompt_version(language: str = "english") -> str:
    """The version a cached answer was asked with: the prompt's, and the language asked for when not English."""
    return PROMPT_VERSION if language == "english" else f"{PROMPT_VERSION}-{language}"


def system_prompt(n: int, language: str = "english") -> str:
    kinds = kinds_for(n)
    lines = "\n".join(f"- {k}: {KIND_HELP[k]}" for k in dict.fromkeys(kinds))
    shape = ", ".join(f'{{"kind": "{k}", "query": "..."}}' for k in kinds)
    return ("You write the search queries real shoppers type into an online store's search box. For each product, "
            f"write {n} queries, of these kinds in this order: {', '.join(kinds)}.\n{lines}\n"
            "Queries are lowercase and short (2 to 6 words), as people type them, never sentences. "
            + ("" if language == "english" else f"The store is in {language.title()}: write the queries in "
               f"{language.title()}, as its shoppers type them (the examples are in English). ") +
            f'Answer with JSON only: {{"queries": [{shape}]}}')


def build_messages(product_text: str, n: int = 4, max_chars: int = 600, language: str = "english"
                   ) -> list[dict[str, str]]:
    """The chat messages for one product: instructions, two worked examples, the product.

    The instructions and examples are the same for every product (a server with
    prefix caching reuses them); only the last message changes.
    """
    text = product_text if len(product_text) <= max_chars else product_text[:max_chars].rsplit(" ", 1)[0] + "…"
    kinds = kinds_for(n)
    messages = [{"role": "system", "content": system_prompt(n, language)}]
    for shot_text, shot in _SHOTS:
        answer = {"queries": [{"kind": k, "query": shot[k]} for k in kinds[:len(KINDS)]]}  # one of each kind
        messages.append({"role": "user", "content": f"Product: {shot_text}"})
        messages.append({"role": "assistant", "content": json.dumps(answer)})
    messages.append({"role": "user", "content": f"Product: {text}"})
    return messages


@dataclass
class Parsed:
    queries: list[tuple[str, str]]  # (kind, query)
    invalid: int  # queries present in the answer but rejected by validation


class ParseError(ValueError):
    """The answer holds no usable query."""


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
_LINE = re.compile(r"^\s*(?:[-*\d.)]+\s*)?\**\s*(specific|general|need|need-based|attribute|attribute-focused)\**\s*[:\-–]\s*(.+)$",
                   re.IGNORECASE | re.MULTILINE)
_KIND_ALIASES = {"need-based": "need", "attribute-focused": "attribute", "brand": "specific", "model": "specific",
                 "category": "general", "problem": "need", "use": "need", "attributes": "attribute"}


def clean_query(raw: str) -> str | None:
    """A shopper-like query from one raw answer item, or ``None`` if it is not one."""
    q = " ".join(str(raw).replace("\n", " ").split()).strip().strip("\"'`“”").strip()
    q = q.rstrip(".!?;,").lower()
    if not q or len(q) > MAX_CHARS or len(q.split()) > MAX_WORDS:
        return None
    if not re.search(r"[^\W_]", q) or q.startswith(("here are", "sure", "query", "i ")):
        return None
    return q


def _kind(raw) -> str | None:
    k = str(raw or "").strip().lower()
    k = _KIND_ALIASES.get(k, k)
    return k if k in KINDS else None


def _json_candidates(text: str) -> list[str]:
    out = [m.group(1) for m in _FENCE.finditer(text)]
    for open_, close in (("{", "}"), ("[", "]")):
        start, end = text.find(open_), text.rfind(close)
        if start != -1 and end > start:
            out.append(text[start:end + 1])
    return out


def _items(obj) -> list[tuple[str | None, object]] | None:
    """(kind or None, raw query) from the JSON shapes models produce."""
    if isinstance(obj, dict):
        for key in ("queries", "search_queries", "results"):
            if key in obj:
                return _items(obj[key])
        kinds = [(_kind(k), v) for k, v in obj.items()]
        if kinds and all(k for k, _ in kinds):
            return [(k, v) for k, v in kinds]
        return None
    if isinstance(obj, list):
        out = []
        for item in obj:
            if isinstance(item, dict):
                q = item.get("query", item.get("text", item.get("q")))
                out.append((_kind(item.get("kind", item.get("type"))), q))
            else:
                out.append((None, item))
        return out
    return None


def parse_answer(text: str, n: int = 4) -> Parsed:
    """Parse a model's answer into at most ``n`` valid, distinct (kind, query) pairs.

    Raises :class:`ParseError` when the answer has no usable query (the caller
    retries, then skips the product and counts it).
    """
    items = None
    for cand in _json_candidates(text):
        try:
            items = _items(json.loads(cand))
        except json.JSONDecodeError:
            continue
        if items:
            break
    if not items:
        items = [(_kind(k), v) for k, v in _LINE.findall(text)] or None
    if not items:
        raise ParseError(f"no JSON or 'kind: query' lines in the answer: {text[:120]!r}")
    expected = kinds_for(n)
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    invalid = 0
    for i, (kind, raw) in enumerate(items):
        q = clean_query(raw) if isinstance(raw, str) else None
        if q is None:
            invalid += 1
            continue
        if q in seen:
            continue
        seen.add(q)
        out.append((kind or (expected[i] if i < len(expected) else KINDS[i % len(KINDS)]), q))
    if not out:
        raise ParseError(f"the answer's {len(items)} queries were all rejected (too long, empty or not a query)")
    return Parsed(out[:n], invalid)
