"""Misspelled copies of training queries, so that the model learns to match what shoppers really type.

Shoppers misspell: on Home Depot a quarter of the dev queries hold a word that appears in no product title
("florecent bulb holder", "hickory cabinett", "carpetshampoo"), and stemmed BM25 scores 0.25 nDCG@10 on
them against 0.40 on the rest. A SPLADE model only sees the word pieces of a misspelling; typo-aware
training (Zhuang & Zuccon, "Dealing with Typos for BERT-based Passage Retrieval and Ranking", EMNLP 2021)
teaches it to map them to the right terms by training on misspelled queries next to the clean ones.

:func:`misspell` makes one edit in one word of a query, of the kinds seen in real search logs: a letter
dropped, doubled, swapped with its neighbour or replaced by a key next to it on a QWERTY keyboard, or two
words run together. Only words of four or more letters are touched, never the first letter, never digits
(model numbers and sizes are not misspelled the same way), so the query stays readable.
"""
from __future__ import annotations

import random

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _neighbours() -> dict[str, str]:
    """Each letter's neighbours on a QWERTY keyboard: left and right, and the three keys above and below."""
    out = {}
    for r, row in enumerate(_ROWS):
        for c, ch in enumerate(row):
            near = [row[j] for j in (c - 1, c + 1) if 0 <= j < len(row)]
            for other in (_ROWS[r + d] for d in (-1, 1) if 0 <= r + d < len(_ROWS)):
                near += [other[j] for j in (c - 1, c, c + 1) if 0 <= j < len(other)]
            out[ch] = "".join(sorted(set(near)))
    return out


_NEIGHBOURS = _neighbours()

EDITS = ("drop", "double", "swap", "key", "join")


def _edit_word(word: str, op: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)  # an inner position: the first and last letters stay
    if op == "drop":
        return word[:i] + word[i + 1:]
    if op == "double":
        return word[:i] + word[i] + word[i:]
    if op == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    near = _NEIGHBOURS.get(word[i].lower(), "")
    return word[:i] + rng.choice(near) + word[i + 1:] if near else word[:i] + word[i + 1:]


def misspell(query: str, rng: random.Random) -> str | None:
    """``query`` with one realistic typo, or None when it has no word that can take one (all words short or
    holding digits). Deterministic for a given ``rng`` state."""
    words = query.split()
    editable = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not editable:
        return None
    for _ in range(5):  # an edit can leave the query as it was (two equal letters swapped): try again
        out = _one_edit(list(words), editable, rng)
        if out != query:
            return out
    return None


def _one_edit(words: list[str], editable: list[int], rng: random.Random) -> str:
    i = rng.choice(editable)
    op = rng.choice(EDITS if len(words) > 1 else EDITS[:-1])
    if op == "join":
        j = i + 1 if i + 1 < len(words) else i - 1
        a, b = sorted((i, j))
        words[a:b + 1] = [words[a] + words[b]]
    else:
        words[i] = _edit_word(words[i], op, rng)
    return " ".join(words)
