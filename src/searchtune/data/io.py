"""Reading tabular input (CSV, TSV, JSON, JSONL, Parquet), compressed or not, with encoding detection.

Every value is read as a string so that ids such as ``000123`` survive intact;
the loaders convert what they need and report bad values with their location.
A compressed file (``.gz``, ``.bz2``, ``.zst`` through pyarrow's streams, ``.xz``
through lzma, ``.zip`` with one member) is read as the format its inner name says
(``catalog.jsonl.gz`` is JSON Lines).
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import DataError

logger = logging.getLogger(__name__)

COMPRESSIONS = (".gz", ".bz2", ".xz", ".zst", ".zip")
FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


@dataclass
class Table:
    """A file read into a frame of strings, remembering where each row came from."""

    path: Path
    frame: pd.DataFrame
    format: str
    encoding: str | None

    def line_of(self, index: int) -> int | None:
        """The 1-based line in the file of data row ``index`` (0-based), if meaningful."""
        if self.format in ("csv", "tsv"):
            return index + 2  # one header line; quoted newlines would shift this
        if self.format == "jsonl":
            return index + 1
        return None

    def error(self, problem: str, index: int | None = None, column: str | None = None, hint: str | None = None) -> DataError:
        return DataError(
            problem,
            file=self.path,
            row=None if index is None else index + 1,
            line=None if index is None else self.line_of(index),
            column=column,
            hint=hint,
        )


def detect_encoding(raw: bytes) -> str:
    """UTF-8 when the bytes decode as UTF-8, else charset-normalizer's best guess."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(raw[:2_000_000]).best()
    guess = best.encoding if best is not None else "latin-1"
    # Western single-byte guesses all decode any byte; latin-1 is the safe superset.
    if guess.replace("_", "-").lower() in ("cp1252", "windows-1252", "iso8859-1", "latin-1", "latin1"):
        try:
            raw.decode("cp1252")
            return "cp1252"
        except UnicodeDecodeError:
            return "latin-1"
    return guess


def _format(path: Path) -> tuple[str, str | None]:
    """(format, compression) from the file name: ``c.jsonl.gz`` → ("jsonl", ".gz")."""
    suffixes = [x.lower() for x in path.suffixes]
    compression = suffixes.pop() if suffixes and suffixes[-1] in COMPRESSIONS else None
    inner = suffixes[-1] if suffixes else ""
    fmt = FORMATS.get(inner)
    if fmt is None:
        shown = "".join(path.suffixes[-2:]) if compression else path.suffix
        raise DataError(f"unknown file type '{shown}'", file=path,
                        hint=f"use one of {', '.join(sorted(FORMATS))}, optionally compressed "
                             f"({', '.join(COMPRESSIONS)}) with the format in the name, e.g. catalog.jsonl.gz")
    return fmt, compression


def _read_bytes(path: Path, compression: str | None) -> bytes:
    """The file's bytes, decompressed."""
    if compression is None:
        return path.read_bytes()
    try:
        if compression == ".xz":
            import lzma

            return lzma.decompress(path.read_bytes())
        if compression == ".zip":
            import zipfile

            with zipfile.ZipFile(path) as z:
                members = [m for m in z.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX")]
                if len(members) != 1:
                    raise DataError(f"the zip holds {len(members)} files; searchtune reads a zip of exactly one",
                                    file=path, hint="unzip it and pass the file you mean")
                return z.read(members[0])
        import pyarrow as pa

        return pa.input_stream(str(path), compression="detect").read()
    except DataError:
        raise
    except Exception as exc:  # a truncated or mislabelled archive
        raise DataError(f"cannot decompress the file as {compression} ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else 'corrupt data'})", file=path,
                        hint="check that the extension matches the compression") from None


def sniff_delimiter(text: str, default: str) -> str:
    """The delimiter of a delimited text: the one of ``, ; \\t |`` that splits the header and the first
    lines into the same number of fields (more than one), preferring ``default``."""
    import csv

    sample = text[:65536]
    try:
        found = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return default
    header = sample.split("\n", 1)[0]
    return found if header.count(found) > header.count(default) else default


def read_table(path: str | Path, encoding: str | None = None) -> Table:
    """Read ``path`` into a :class:`Table` of strings; raise :class:`DataError` if unreadable."""
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", file=path, hint="check the path (relative paths start from the current directory)")
    if path.is_dir():
        raise DataError("is a folder, not a file", file=path, hint="pass the CSV/TSV/JSON/JSONL/Parquet file inside it")
    fmt, compression = _format(path)
    try:
        if fmt == "parquet":
            source = path if compression is None else io.BytesIO(_read_bytes(path, compression))
            frame = pd.read_parquet(source)
            frame = frame.astype(object).where(frame.notna(), "")
            frame = frame.map(_to_text)
            return Table(path, frame.reset_index(drop=True), fmt, None)
        raw = _read_bytes(path, compression)
        enc = encoding or detect_encoding(raw)
        text = raw.decode(enc)
        if fmt in ("csv", "tsv"):
            frame = pd.read_csv(
                io.StringIO(text),
                sep=sniff_delimiter(text, "," if fmt == "csv" else "\t"),
                dtype=str,
                keep_default_na=False,
                na_filter=False,
            )
        elif fmt == "jsonl":
            frame = _json_lines(text, path)
        else:
            data = json.loads(text)
            if isinstance(data, dict):
                # {"products": [...]} or {"id": {...}, ...}
                lists = [v for v in data.values() if isinstance(v, list)]
                data = lists[0] if len(lists) == 1 else [dict(v, id=k) if isinstance(v, dict) else {"id": k, "value": v} for k, v in data.items()]
            frame = _records_frame(data, path)
    except DataError:
        raise
    except UnicodeDecodeError as exc:
        raise DataError(f"cannot decode the file as {encoding} ({exc.reason} at byte {exc.start})", file=path,
                        hint="pass the right --encoding, or leave it out to detect it") from None
    except (ValueError, OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read the file as {fmt.upper()}: {str(exc).splitlines()[0]}", file=path,
                        hint="check that the extension matches the content") from None
    frame.columns = [str(c) for c in frame.columns]
    if frame.empty:
        raise DataError("the file has no data rows", file=path)
    return Table(path, frame.reset_index(drop=True), fmt, None if fmt == "parquet" else enc)


def _json_lines(text: str, path: Path) -> pd.DataFrame:
    """JSON Lines through pandas' reader; a line that does not parse is found and named. Lines end at
    ``\\n`` only: U+2028/U+2029 inside a string are text, not line breaks."""
    try:
        frame = pd.read_json(io.StringIO(text), lines=True, dtype=False, convert_dates=False)
    except ValueError:
        rows = 0
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            rows += 1
            try:
                json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"invalid JSON ({exc.msg})", file=path, row=rows, line=number,
                                hint="each line must be one JSON object") from None
        raise
    return frame.astype(object).where(frame.notna(), "").map(_to_text)


def _records_frame(records, path: Path) -> pd.DataFrame:
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise DataError("expected a list of JSON objects (one per row)", file=path)
    frame = pd.DataFrame.from_records(records)
    return frame.astype(object).where(frame.notna(), "").map(_to_text)


def _to_text(value) -> str:
    """Cells as text; lists and dicts as JSON so attributes/bullets keep their structure."""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if hasattr(value, "tolist"):  # numpy arrays from parquet list columns
        return json.dumps(value.tolist(), ensure_ascii=False, default=str)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)
