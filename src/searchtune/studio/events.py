"""The studio's Events page: the event stores (the user's and each run's), their counts and click-through
rate by position, and importing a log from the data folders into the user's store."""

from __future__ import annotations

from ..events import EventStore
from ..events.store import counts, ctr_by_position
from ..home import home


def stores(studio) -> list[dict]:
    """Every event store: ``user`` ($SEARCHTUNE_HOME/events) and each run's ``RUN/events``."""
    found = [("user", "user", home() / "events")]
    found += [(r["name"], "run", studio.runs_dir / r["name"] / "events") for r in studio.runs()]
    out = []
    for name, place, path in found:
        store = EventStore(path)
        if not store.exists():
            continue
        events = store.load()
        out.append({"name": name, "place": place, "path": str(path), "counts": counts(events),
                    "ctr": ctr_by_position(events), "imports": store.imports()})
    return out


def import_log(studio, raw: dict) -> dict:
    """``{"file": data-relative log, "catalog": data-relative catalog (optional)}`` into the user's store."""
    from ..config import DataConfig
    from ..data import load_data

    log = studio.data_path(raw.get("file", ""))
    products = None
    if raw.get("catalog"):
        products = load_data(DataConfig(catalog=str(studio.data_path(raw["catalog"])))).product_ids
    return EventStore(home() / "events").add(log, products=products).to_dict()  # errors: the app's 400 handler
