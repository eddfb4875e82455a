"""Search logs in: read a log file, check every row, keep the good ones in one compact Parquet store.

A log row is one event: when (timestamp), which search (search or session id), the query, the product, the
position it was shown at (1 = top) and what happened (``impression``, ``click``, ``add_to_cart``,
``purchase``). The commonest shop export, a list of searches and what was clicked (query, product, query time,
maybe click time), has neither events nor positions nor impressions: every row is then a click, at position 0
(unknown), and :mod:`.labels` labels it without position bias. Columns are found by name like a catalog's (``searchtune.data.columns``; ``--event-column``
… override). A row that cannot be used (an unknown event, a missing position, a product not in the catalog,
a bad timestamp) is skipped, counted by kind, and the first of each kind is reported with its file, row and
column; a file with no usable row is an error.

The store is ``DIR/events.parquet`` (timestamps in ms, positions as int16, events as a dictionary column:
about 10 bytes an event) plus ``DIR/imports.json`` (what was imported when). Rows are deduplicated on all six
fields, so importing a file twice, or two files that overlap, adds nothing the second time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.catalog import clean
from ..data.columns import EVENT_ROLES, detect_columns
from ..data.io import read_table
from ..errors import DataError, SearchtuneError

logger = logging.getLogger(__name__)

EVENTS = ("impression", "click", "add_to_cart", "purchase")
# Spellings seen in real logs, read as the four events.
EVENT_NAMES = {
    "impression": "impression", "view": "impression", "shown": "impression", "impr": "impression",
    "click": "click", "clicked": "click", "select": "click",
    "add_to_cart": "add_to_cart", "addtocart": "add_to_cart", "cart": "add_to_cart", "atc": "add_to_cart",
    "add_to_basket": "add_to_cart",
    "purchase": "purchase", "buy": "purchase", "order": "purchase", "conversion": "purchase",
    "checkout": "purchase",
}
COLUMNS = ("timestamp", "search_id", "query", "product_id", "position", "event")
STORE_FILE = "events.parquet"


@dataclass
class ImportResult:
    """What one import read, skipped (by reason, with the first example's location) and added."""

    file: str
    rows: int
    added: int
    skipped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)  # reason → the first such row's DataError message
    columns: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    total: int = 0  # events in the store afterwards

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def read_events(path: str | Path, *, columns: dict[str, str] | None = None, products=None,
                encoding: str | None = None) -> tuple[pd.DataFrame, ImportResult]:
    """The usable events of one log file, in the store's columns, and what was skipped and why.

    ``products``: the catalog's product ids; an event for another product is skipped (counted).
    """
    started = time.perf_counter()
    table = read_table(path, encoding)
    frame = table.frame
    cols = detect_columns(list(frame.columns), {k: v for k, v in (columns or {}).items() if k in EVENT_ROLES},
                          file=table.path, roles=EVENT_ROLES)
    for role in ("query", "product_id"):
        if getattr(cols, role) is None:
            flag = "--id-column" if role == "product_id" else f"--{role.replace('_', '-')}-column"
            raise table.error(f"no {role.replace('_', ' ')} column found in the log",
                              hint=f"the file has columns: {', '.join(frame.columns)}; name it with {flag}")
    if cols.timestamp is None:
        raise table.error("no timestamp column found in the log: the time split needs one",
                          hint=f"the file has columns: {', '.join(frame.columns)}; name it with --timestamp-column")
    n = len(frame)
    bad = np.zeros(n, dtype=bool)
    result = ImportResult(file=str(table.path), rows=n, added=0,
                          columns={r: c for r, c in cols.as_dict().items() if c and r in EVENT_ROLES})

    def skip(reason: str, mask: np.ndarray, column: str | None, problem: str, hint: str) -> None:
        mask = mask & ~bad
        count = int(mask.sum())
        if count:
            first = int(np.flatnonzero(mask)[0])
            result.skipped[reason] = result.skipped.get(reason, 0) + count
            result.examples.setdefault(reason, str(table.error(problem(first) if callable(problem) else problem,
                                                              first, column, hint=hint)))
            bad[mask] = True

    query = frame[cols.query].map(clean)
    skip("empty query", (query == "").to_numpy(), cols.query, "empty query", "fill in the query or remove the row")
    if cols.event is None:  # a clicks export: every row is a click
        event = pd.Series("click", index=frame.index)
        result.columns["event"] = "(none: every row is a click)"
    else:
        raw_event = frame[cols.event].str.strip().str.lower().str.replace(r"[\s-]+", "_", regex=True)
        event = raw_event.map(EVENT_NAMES)
        unknown = event.isna().to_numpy()
        skip("unknown event", unknown, cols.event, lambda i: f"unknown event '{frame[cols.event].iloc[i]}'",
             f"use one of {', '.join(EVENTS)} (or a spelling of them: view, add-to-cart, order…)")
    product = frame[cols.product_id].map(clean)
    skip("empty product id", (product == "").to_numpy(), cols.product_id, "empty product id",
         "give every event its product")
    if products is not None:
        known = set(products)
        skip("product not in the catalog", ~product.isin(known).to_numpy(), cols.product_id,
             lambda i: f"product '{product.iloc[i]}' is not in the catalog",
             "check that the log and the catalog use the same product ids")
    stamp = _timestamps(frame[cols.timestamp], table)
    skip("bad timestamp", stamp.isna().to_numpy(), cols.timestamp,
         lambda i: f"cannot read the timestamp '{frame[cols.timestamp].iloc[i]}'",
         "use ISO 8601 (2026-03-01T12:00:00Z) or seconds/milliseconds since 1970")
    stamp_ms = stamp.astype("Int64")
    if cols.search_id is not None:
        search = frame[cols.search_id].map(clean)
    else:  # one page of results shares its query and time: that pair stands for the search
        search = query + "@" + stamp_ms.astype(str)
        result.columns["search_id"] = "(query and timestamp)"
    clicks_only = cols.position is None and not (event == "impression").any()
    if clicks_only:  # no position and no impression: where a product was shown is unknown (0)
        position = pd.Series(0.0, index=frame.index)
        result.columns["position"] = "(none: positions unknown)"
    else:
        position = _positions(frame[cols.position]) if cols.position else pd.Series(np.nan, index=frame.index)
    if cols.position and zero_based(position[~bad]):
        position = position + 1
        result.columns["position"] = f"{cols.position} (0-based, read as 1-based)"
    missing = position.isna().to_numpy()
    if missing.any():  # a click or a purchase without a position takes the position its product was shown at
        shown = pd.DataFrame({"s": search, "p": product, "pos": position})[~missing & ~bad]
        first_shown = shown.groupby(["s", "p"], sort=False)["pos"].min()
        filled = pd.MultiIndex.from_arrays([search[missing], product[missing]]).map(first_shown.to_dict().get)
        position[missing] = np.asarray(filled, dtype=float)
        missing = position.isna().to_numpy()
    skip("missing position", missing, cols.position or cols.event,
         "missing position, and the product was not shown in that search",
         "give the position the product was shown at (1 = top), or pass --position-column")
    skip("bad position", ((position < (0 if clicks_only else 1)) | (position > MAX_POSITION)).fillna(False).to_numpy(),
         cols.position,
         lambda i: f"position '{frame[cols.position].iloc[i]}' is not a rank (1 = top, at most {MAX_POSITION:,})",
         "use 1, 2, 3… (or 0, 1, 2… throughout)")
    keep = ~bad
    out = pd.DataFrame({
        "timestamp": stamp_ms[keep].astype("int64").to_numpy(),
        "search_id": search[keep].to_numpy(dtype=object),
        "query": query[keep].to_numpy(dtype=object),
        "product_id": product[keep].to_numpy(dtype=object),
        "position": position[keep].astype("int16").to_numpy(),
        "event": pd.Categorical(event[keep], categories=list(EVENTS)),
    })
    if out.empty:
        detail = "; ".join(f"{k}: {v:,}" for k, v in result.skipped.items())
        first = next(iter(result.examples.values()), "")
        raise DataError(f"no usable event in the log ({detail}). First problem: {first}", file=table.path)
    result.seconds = round(time.perf_counter() - started, 2)
    return out, result


MAX_POSITION = 32_767  # positions are stored as int16: a rank past it is not one a shopper was shown
MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: past it, a number is not a time
_SLASH_DATE = r"^\s*(\d{1,2})[/.](\d{1,2})[/.](\d{4})\b"


def _timestamps(values: pd.Series, table) -> pd.Series:
    """Milliseconds since 1970 (UTC) from ISO strings or epoch seconds / milliseconds; NaN where unreadable
    (a number that is not finite or past the year 9999 too). Dates like 03/04/2026 are read day first or month
    first as the log's own dates show (a 13 or more on one side); where none does, that is an error."""
    numbers = pd.to_numeric(values, errors="coerce")
    numbers = numbers.where(np.isfinite(numbers))
    if numbers.notna().mean() > 0.5:  # epoch numbers (the rest are bad rows)
        scale = 1000.0 if numbers.abs().max() < 1e11 else 1.0  # seconds, else already milliseconds
        ms = (numbers * scale).round()
        return ms.where(ms.abs() <= MAX_MS)
    dayfirst = _day_first(values, table)
    if dayfirst is None:
        parsed = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
    else:
        parsed = pd.to_datetime(values, errors="coerce", utc=True, format="mixed", dayfirst=dayfirst)
    ms = (parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)  # whatever unit pandas parsed to
    return ms.astype(float)


def _day_first(values: pd.Series, table) -> bool | None:
    """For dates written dd/mm/yyyy or mm/dd/yyyy: True (day first) or False, decided by the log's own dates;
    None when there are none. Dates where neither field passes 12 throughout are an error naming one of them."""
    parts = values.astype(str).str.extract(_SLASH_DATE).dropna()
    if parts.empty:
        return None
    first, second = parts[0].astype(int), parts[1].astype(int)
    if (first > 12).any() and (second > 12).any():
        row = int(parts.index[(first > 12)][0])
        raise table.error(f"the dates mix day-first and month-first ('{values.iloc[row]}' and "
                          f"'{values.loc[parts.index[second > 12][0]]}')", row, values.name,
                          hint="write the timestamps in ISO 8601 (2026-03-04T12:00:00Z)")
    if (first > 12).any():
        return True
    if (second > 12).any():
        return False
    row = int(parts.index[0])
    raise table.error(f"the date '{values.loc[row]}' could be day first or month first, and no date in the log "
                      "decides it (none has a day past 12)", row, values.name,
                      hint="write the timestamps in ISO 8601 (2026-03-04T12:00:00Z)")


def _positions(values: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    return numbers.where(np.isfinite(numbers) & (numbers == numbers.round()))


def zero_based(position: pd.Series) -> bool:
    """Whether a log counts positions from 0: its 0s are as common as a top position is (at least a tenth as
    many as its 1s), not a stray row or two; negative positions are bad rows either way."""
    zeros, ones = int((position == 0).sum()), int((position == 1).sum())
    return zeros > 0 and zeros >= 0.1 * max(ones, 1)


class EventStore:
    """``DIR/events.parquet``: every imported event once, and the list of imports."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self.path = self.dir / STORE_FILE

    def exists(self) -> bool:
        return self.path.is_file()

    def load(self) -> pd.DataFrame:
        if not self.exists():
            raise SearchtuneError(f"no events in {self.dir}: import a log first (searchtune events import LOG "
                                  f"--store {self.dir})")
        frame = pd.read_parquet(self.path)
        frame["event"] = pd.Categorical(frame["event"].astype(str), categories=list(EVENTS))
        return frame

    def imports(self) -> list[dict]:
        path = self.dir / "imports.json"
        return json.loads(path.read_text()) if path.exists() else []

    def add(self, path: str | Path, *, columns: dict[str, str] | None = None, products=None,
            encoding: str | None = None) -> ImportResult:
        """Import one log file; rows already in the store are not added again."""
        import os

        from ..files import Lock, write_json

        new, result = read_events(path, columns=columns, products=products, encoding=encoding)
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
        self.dir.mkdir(parents=True, exist_ok=True)
        # read, merge, write as one step: a second import into this store waits for the first, never loses it
        with Lock(self.dir / ".lock", what=f"event store {self.dir}"):
            old = self.load() if self.exists() else new.iloc[:0]
            both = pd.concat([old, new], ignore_index=True)
            both["event"] = pd.Categorical(both["event"].astype(str), categories=list(EVENTS))
            both = both.drop_duplicates(ignore_index=True).sort_values("timestamp", kind="stable", ignore_index=True)
            result.added = len(both) - len(old)
            result.total = len(both)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            both.to_parquet(tmp, index=False, compression="zstd")
            tmp.replace(self.path)
            write_json(self.dir / "imports.json", self.imports() + [{
                "file": str(path), "sha256": digest, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                **{k: v for k, v in result.to_dict().items() if k not in ("file", "examples")}}])
        return result


def load_events(path: str | Path, *, columns=None, products=None, encoding=None,
                store: str | Path | None = None) -> tuple[pd.DataFrame, list[ImportResult]]:
    """Events from a store directory, or from a log file (imported into ``store`` when one is given)."""
    path = Path(path)
    if path.is_dir():
        return EventStore(path).load(), []
    if not path.exists():
        raise DataError("event log not found", file=path, hint="pass a log file (CSV, JSON Lines, Parquet) or a "
                        "folder made by searchtune events import")
    if store is not None:
        s = EventStore(store)
        result = s.add(path, columns=columns, products=products, encoding=encoding)
        return s.load(), [result]
    frame, result = read_events(path, columns=columns, products=products, encoding=encoding)
    return frame.drop_duplicates(ignore_index=True).sort_values("timestamp", kind="stable", ignore_index=True), [result]


def counts(events: pd.DataFrame) -> dict[str, int]:
    """Events by kind, searches and distinct queries: the report's and the studio's counts."""
    by = events["event"].value_counts()
    return {"events": len(events), **{f"{e}s" if not e.endswith("s") else e: int(by.get(e, 0)) for e in EVENTS},
            "searches": int(events["search_id"].nunique()), "distinct_queries": int(events["query"].nunique())}


def ctr_by_position(events: pd.DataFrame, max_position: int = 20) -> list[dict]:
    """Clicks over impressions at each position (the studio's chart; the raw, biased curve)."""
    shown = events[events["event"] == "impression"]["position"].value_counts()
    clicked = events[events["event"] == "click"]["position"].value_counts()
    return [{"position": int(p), "impressions": int(shown.get(p, 0)), "clicks": int(clicked.get(p, 0)),
             "ctr": round(float(clicked.get(p, 0)) / float(shown[p]), 4) if shown.get(p, 0) else None}
            for p in range(1, max_position + 1) if shown.get(p, 0) or clicked.get(p, 0)]
