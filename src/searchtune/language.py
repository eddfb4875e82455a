"""The catalog's language: what BM25 stems and which stop words it drops, in bm25s and in Qdrant's BM25 vectors.

``--language auto`` (the default) detects it from the products: the language whose stop words make up most of a
sample of their words. The languages are those that bm25s (stop words), PyStemmer (Snowball stemmers) and
Qdrant's BM25 embedder all know. The models are another matter: any multilingual model works by its id or
folder (``--model``); the bundled ones are English.
"""

from __future__ import annotations

import re

from .errors import SearchtuneError

# name → (ISO 639-1 code, bm25s stop-word list name)
LANGUAGES = {
    "english": ("en", "STOPWORDS_EN"), "german": ("de", "STOPWORDS_GERMAN"), "french": ("fr", "STOPWORDS_FRENCH"),
    "spanish": ("es", "STOPWORDS_SPANISH"), "italian": ("it", "STOPWORDS_ITALIAN"),
    "dutch": ("nl", "STOPWORDS_DUTCH"), "portuguese": ("pt", "STOPWORDS_PORTUGUESE"),
    "swedish": ("sv", "STOPWORDS_SWEDISH"), "danish": ("da", "STOPWORDS_DANISH"),
    "norwegian": ("no", "STOPWORDS_NORWEGIAN"), "russian": ("ru", "STOPWORDS_RUSSIAN"),
    "turkish": ("tr", "STOPWORDS_TURKISH"),
}
DEFAULT = "english"
SAMPLE = 2000  # products read to detect the language
MIN_HITS = 20  # stop words below which the sample says nothing (titles alone often hold none): the default
_WORD = re.compile(r"[^\W\d_]+")


def resolve(name: str) -> str:
    """A language's name from its name or ISO code ("de", "German"); ``auto`` stays ``auto``."""
    key = str(name).strip().lower()
    if key == "auto" or key in LANGUAGES:
        return key
    by_code = {code: lang for lang, (code, _) in LANGUAGES.items()}
    if key in by_code:
        return by_code[key]
    raise SearchtuneError(f"--language {name!r} is not one searchtune's BM25 knows; use auto or one of: "
                          f"{', '.join(f'{n} ({c})' for n, (c, _) in LANGUAGES.items())}")


def stopwords(language: str) -> list[str]:
    import bm25s.stopwords

    return list(getattr(bm25s.stopwords, LANGUAGES[language][1]))


def detect(texts: list[str]) -> tuple[str, float]:
    """The language whose stop words are most of the words of ``texts`` (a sample), and their share of the stop
    words found; the default with share 0.0 when the sample holds too few to tell."""
    sets = {lang: set(stopwords(lang)) for lang in LANGUAGES}
    hits = dict.fromkeys(LANGUAGES, 0)
    for text in texts[:SAMPLE]:
        # each word once a text, and no single letters: units and codes ("6 pc(s)", "t", "m") are no language
        for word in {w for w in _WORD.findall(str(text).lower()) if len(w) > 1}:
            for lang, words in sets.items():
                if word in words:
                    hits[lang] += 1
    best = max(hits, key=lambda lang: (hits[lang], lang == DEFAULT))
    total = sum(hits.values())
    if hits[best] < MIN_HITS:
        return DEFAULT, 0.0
    return best, round(hits[best] / total, 3)


def choose(setting: str, texts: list[str]) -> dict:
    """The language to use for ``setting`` (a name, a code or ``auto``) and how it was chosen."""
    language = resolve(setting)
    if language != "auto":
        return {"language": language, "how": "given"}
    found, share = detect(texts)
    return {"language": found, "how": "detected" if share else "default (too few stop words to tell)",
            **({"share": share} if share else {})}
