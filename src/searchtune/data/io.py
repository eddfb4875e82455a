"""Reading tabular input (CSV, TSV, JSON, JSONL, Parquet) with encoding detection.

Every value is read as a string so that ids such as ``000123`` survive intact;
the loaders convert what they need and report bad values with their location.
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


def read_table(path: str | Path, encoding: str | None = None) -> Table:
    """Read ``path`` into a :class:`Table` of strings; raise :class:`DataError` if unreadable."""
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", file=path, hint="check the path (relative paths start from the current directory)")
    if path.is_dir():
        raise DataError("is a folder, not a file", file=path, hint="pass the CSV/TSV/JSON/JSONL/Parquet file inside it")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"unknown file type '{path.suffix}'",
            file=path,
            hint=f"use one of {', '.join(sorted(FORMATS))}",
        )
    try:
        if fmt == "parquet":
            frame = pd.read_parquet(path)
            frame = frame.astype(object).where(frame.notna(), "")
            frame = frame.map(_to_text)
            return Table(path, frame.reset_index(drop=True), fmt, None)
        raw = path.read_bytes()
        enc = encoding or detect_encoding(raw)
        text = raw.decode(enc)
        if fmt in ("csv", "tsv"):
            frame = pd.read_csv(
                io.StringIO(text),
                sep="," if fmt == "csv" else "\t",
                dtype=str,
                keep_default_na=False,
                na_filter=False,
            )
        elif fmt == "jsonl":
            records = []
            for number, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataError(f"invalid JSON ({exc.msg})", file=path, row=len(records) + 1, line=number,
                                    hint="each line must be one JSON object") from None
            frame = _records_frame(records, path)
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
