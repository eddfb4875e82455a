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
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import DataError
from .encoding import detect_encoding

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
    encoding_note: str | None = None  # set when the encoding was a guess (see searchtune.data.encoding)
    delimiter: str | None = None
    text: str | None = field(default=None, repr=False)  # a delimited file's text, to find the line of a row

    def line_of(self, index: int) -> int | None:
        """The 1-based line in the file where data row ``index`` (0-based) starts, if meaningful."""
        if self.format == "jsonl":
            return index + 1
        if self.format not in ("csv", "tsv") or self.text is None:
            return None
        starts = self.__dict__.get("_starts")
        if starts is None:  # only when an error needs it: quoted fields may hold newlines
            import csv

            reader = csv.reader(io.StringIO(self.text), delimiter=self.delimiter or ",")
            starts, line = [], 1
            for _ in reader:
                starts.append(line)
                line = reader.line_num + 1
            self.__dict__["_starts"] = starts
        return starts[index + 1] if index + 1 < len(starts) else None

    def describe(self) -> dict:
        """What was read, for ``searchtune inspect`` and the report."""
        return {"file": str(self.path), "format": self.format, "encoding": self.encoding,
                "delimiter": self.delimiter, "rows": len(self.frame), "columns": len(self.frame.columns)}

    def error(self, problem: str, index: int | None = None, column: str | None = None, hint: str | None = None) -> DataError:
        return DataError(
            problem,
            file=self.path,
            row=None if index is None else index + 1,
            line=None if index is None else self.line_of(index),
            column=column,
            hint=hint,
        )


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


# A compressed file may hold at most this many times its size, and above MIN_BOMB_BYTES: text compresses 3-10x
# (Icecat's JSON Lines 7x), a decompression bomb 1,000x. A real file past it: decompress it first.
MAX_RATIO = 100
MIN_BOMB_BYTES = 256 * 2**20


def _bounded(chunks, path: Path, packed: int) -> bytes:
    """Join decompressed ``chunks`` (as they come) until they pass the bound; then stop with a clear error."""
    limit = max(MAX_RATIO * packed, MIN_BOMB_BYTES)
    out, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise DataError(f"the file decompresses to more than {limit // 2**20:,} MB ({MAX_RATIO}x its "
                            f"{packed / 2**20:,.1f} MB): a decompression bomb, or a file too large to read compressed",
                            file=path, hint="if it is a real catalog, decompress it yourself and pass the result")
        out.append(chunk)
    return b"".join(out)


def _read_bytes(path: Path, compression: str | None) -> bytes:
    """The file's bytes, decompressed (at most :data:`MAX_RATIO` times the compressed size: see above)."""
    if compression is None:
        return path.read_bytes()
    packed = path.stat().st_size
    try:
        if compression == ".zip":
            import zipfile

            with zipfile.ZipFile(path) as z:
                members = [m for m in z.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX")]
                if len(members) != 1:
                    raise DataError(f"the zip holds {len(members)} files; searchtune reads a zip of exactly one",
                                    file=path, hint="unzip it and pass the file you mean")
                with z.open(members[0]) as f:
                    return _bounded(iter(lambda: f.read(2**20), b""), path, packed)
        if compression == ".xz":
            import lzma

            stream = lzma.open(path)
        else:
            import pyarrow as pa

            stream = pa.input_stream(str(path), compression="detect")
        with stream as f:
            return _bounded(iter(lambda: f.read(2**20), b""), path, packed)
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
    note = delimiter = text = None
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            source = path if compression is None else io.BytesIO(_read_bytes(path, compression))
            return Table(path, _from_arrow(pq.read_table(source)), fmt, None)
        raw = _read_bytes(path, compression)
        if encoding:
            enc = encoding
        else:
            guess = detect_encoding(raw)
            enc, note = guess.name, guess.note
        text = raw.decode(enc)
        if fmt in ("csv", "tsv"):
            delimiter = sniff_delimiter(text, "," if fmt == "csv" else "\t")
            frame = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False, na_filter=False)
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
        raise DataError(f"cannot decode the file as {enc} ({exc.reason} at byte {exc.start})", file=path,
                        hint="pass the right --encoding, or leave it out to detect it") from None
    except (ValueError, OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read the file as {fmt.upper()}: {str(exc).splitlines()[0]}", file=path,
                        hint="check that the extension matches the content") from None
    frame.columns = [str(c) for c in frame.columns]
    if frame.empty:
        raise DataError("the file has no data rows", file=path)
    return Table(path, frame.reset_index(drop=True), fmt, enc, note, delimiter,
                 text if fmt in ("csv", "tsv") else None)


def _from_arrow(table) -> pd.DataFrame:
    """An Arrow table as a frame of strings, column by column in Arrow (a Python pass over every cell of a
    catalog with thousands of sparse attribute columns took a minute): numbers and booleans cast to text,
    lists and objects as JSON, missing values as ''."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    table = table.combine_chunks()
    plain = pa.schema([(f.name, f.type if _python_only(f.type) else pa.string()) for f in table.schema])
    table = table.cast(plain)  # in one call: 17.0 → "17", True → "true"; a timestamp reads "2009-12-10 00:00:00"
    columns = []
    for column in table.columns:
        if _python_only(column.type):  # lists and objects as JSON text
            column = pa.array([None if v is None else _to_text(v) for v in column.to_pylist()], pa.string())
        columns.append(pc.fill_null(column, "") if column.null_count else column)
    text = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' own "str" dtype, the one read_csv gives
    return pa.table(columns, names=[str(n) for n in table.column_names]).to_pandas(types_mapper={pa.string(): text}.get)


def _python_only(kind) -> bool:
    import pyarrow as pa

    return pa.types.is_nested(kind) or pa.types.is_binary(kind) or pa.types.is_null(kind)


def _json_lines(text: str, path: Path) -> pd.DataFrame:
    """JSON Lines through Arrow's reader (pandas' own, if Arrow meets a field whose type changes between rows).
    Lines end at ``\\n`` only: U+2028/U+2029 inside a string are text, not line breaks. A line that does not
    parse is named."""
    import pyarrow as pa
    import pyarrow.json as pj

    data = text.encode("utf-8")
    try:
        # one thread: with several, the columns come back in an order that changes between runs, and the
        # product text (attributes in column order) and the catalog's fingerprint with it
        table = pj.read_json(io.BytesIO(data), read_options=pj.ReadOptions(use_threads=False))
        return _from_arrow(table)
    except pa.ArrowInvalid:
        pass
    rows = 0
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        rows += 1
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON ({exc.msg})", file=path, row=rows, line=number,
                            hint="each line must be one JSON object") from None
        if not isinstance(record, dict):
            raise DataError(f"expected a JSON object, found {type(record).__name__}", file=path, row=rows,
                            line=number, hint="each line must be one JSON object") from None
    frame = pd.read_json(io.StringIO(text), lines=True, dtype=False)
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
