"""Guessing a text file's encoding, and saying when the guess is uncertain.

A byte-order mark decides (UTF-8, UTF-16, UTF-32); UTF-16 without one is found by its zero bytes; bytes that
decode as UTF-8 are UTF-8. What is left is a legacy single-byte file, almost always Windows-1252 (Western
Europe and the Americas; latin-1 is its subset). Central-European (cp1250) files decode without error as cp1252
too, and statistical detectors (charset-normalizer) cannot tell them apart on a catalog's few accented letters:
they chose cp1250 for "Crème brûlée … Señor" ("Crčme brűlée … Seńor"). So: cp1252 unless its reading puts
symbols inside words where cp1250 reads letters (Polish ł ą ż are ³ ¹ ¿ in cp1252); when both read letters but
different ones, cp1252 is kept and the guess is reported as uncertain with both readings of an example word, so
the user can pass ``--encoding``. Files that are mostly high bytes (Cyrillic, Greek, CJK) go to charset-normalizer.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_WORD = re.compile(r"\S*[^\x00-\x7f]\S*")


@dataclass(frozen=True)
class Encoding:
    name: str
    note: str | None = None  # set when the guess is uncertain: what the alternative would read


def _misplaced(text: str) -> int:
    """Non-ASCII characters that are neither letters nor marks, in words that also hold letters."""
    bad = 0
    for word in _WORD.findall(text):
        if not any(ch.isalpha() for ch in word):
            continue
        bad += sum(1 for ch in word if ord(ch) > 127 and unicodedata.category(ch)[0] not in "LM")
    return bad


def _example(a: str, b: str) -> tuple[str, str] | None:
    """The first word that reads differently in two decodings of the same bytes."""
    for wa, wb in zip(_WORD.findall(a), _WORD.findall(b)):
        if wa != wb:
            return wa.strip(".,;:\"'()"), wb.strip(".,;:\"'()")
    return None


def detect_encoding(raw: bytes) -> Encoding:
    """The encoding of ``raw`` (a whole file or a large sample of it)."""
    for bom, name in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
                      (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if raw.startswith(bom):
            return Encoding(name)
    head = raw[:20000]
    if head and head.count(0) > len(head) // 4:  # UTF-16 without a mark: every other byte of ASCII text is zero
        return Encoding("utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be")
    try:
        raw.decode("utf-8")
        return Encoding("utf-8")
    except UnicodeDecodeError:
        pass
    sample = raw[:2_000_000]
    letters = sum(1 for b in sample if b >= 0x80 or chr(b).isalpha())
    if letters and sum(1 for b in sample if b >= 0x80) > 0.5 * letters:
        from charset_normalizer import (
            from_bytes,  # a non-Latin script: let the statistical detector choose
        )

        best = from_bytes(sample).best()
        if best is not None:
            return Encoding(best.encoding, f"guessed {best.encoding} ({best.language or 'unknown language'})")
    try:
        western = sample.decode("cp1252")
    except UnicodeDecodeError:  # bytes cp1252 leaves undefined (0x81, 0x8d, 0x8f, 0x90, 0x9d)
        try:
            sample.decode("cp1250")
            return Encoding("cp1250")
        except UnicodeDecodeError:
            return Encoding("latin-1")
    try:
        central = sample.decode("cp1250")
    except UnicodeDecodeError:
        return Encoding("cp1252")
    if _misplaced(central) < _misplaced(western):
        return Encoding("cp1250")
    example = _example(western, central)
    if example is None:
        return Encoding("cp1252")
    return Encoding("cp1252", f"read as cp1252 (Western European), a guess: '{example[0]}' would be "
                              f"'{example[1]}' in cp1250 (Central European); pass --encoding if that is right")
