"""A synthetic query record, and ``queries.jsonl`` (what `generate-queries` writes and training reads)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import DataError, SearchtuneError
from ..files import write_json


@dataclass
class SyntheticQuery:
    query: str
    product_id: str
    kind: str
    source: str  # "llm:<model>" or "offline"


def write_queries(path: str | Path, records: list[SyntheticQuery], stats: dict | None = None) -> None:
    """``queries.jsonl`` (one line per query and product) and, with ``stats``, ``queries.stats.json`` beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(asdict(r), ensure_ascii=False) + "\n")
    tmp.replace(path)
    if stats is not None:
        write_json(path.with_name(path.stem + ".stats.json"), stats, indent=2)


def read_queries(path: str | Path) -> list[SyntheticQuery]:
    """Read a ``queries.jsonl`` written by ``generate-queries`` (or by hand: query, product_id[, kind, source])."""
    path = Path(path)
    if not path.exists():
        raise SearchtuneError(f"synthetic queries file not found: {path}")
    out = []
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"not valid JSON ({e.msg})", file=path, row=line_no, line=line_no,
                                hint="each line must be one JSON object") from None
            for col in ("query", "product_id"):
                if not str(obj.get(col, "") or "").strip():
                    raise DataError(f"missing or empty '{col}'", file=path, row=line_no, line=line_no, column=col,
                                    hint="every line needs a query and the product_id it was written for")
            out.append(SyntheticQuery(str(obj["query"]).strip(), str(obj["product_id"]).strip(),
                                      str(obj.get("kind") or "unknown"), str(obj.get("source") or "file")))
    return out
