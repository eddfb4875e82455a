"""Blue-green changes of a live collection: a new version built beside it, checked, then the alias moved.

``searchtune index --collection NAME`` with a model or text recipe other than the one ``NAME`` serves builds
``NAME--<fingerprint>`` beside it (the live version answers queries meanwhile), checks it (every product
indexed; on the data's dev queries, nDCG@10 not more than :data:`MAX_DROP` below the live version's, unless
``force``), then moves the alias ``NAME`` to it in one atomic step (:mod:`searchtune.index.aliases`). The version it replaced
stays for :func:`rollback`; :func:`prune` keeps the newest few. A catalog change with the same models is
:mod:`searchtune.index.reindex`'s job: in place, only what changed.

On Qdrant Edge the first build is the plain collection ``NAME`` and later versions are reached through the
alias that shadows it. On a server the first build is a version behind the alias already, because a Qdrant
alias can never take a collection's name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import SearchtuneError
from .index import EdgeIndex, Index
from .index import collection as col
from .index.aliases import aliases_of

logger = logging.getLogger(__name__)

MAX_DROP = 0.01  # the new version may score at most 1% below the live one on dev (the deploy rule's tie)
SEPARATOR = "--"


def version_name(alias: str, signature: dict) -> str:
    return f"{alias}{SEPARATOR}{hashlib.sha1(json.dumps(signature, sort_keys=True).encode()).hexdigest()[:8]}"


@dataclass
class Outcome:
    """What :func:`publish` did: the version now live, the one before, the check, and why."""

    live: str
    previous: str | None
    moved: bool
    reused: bool
    check: dict
    line: str

    def to_dict(self) -> dict:
        return {"live": self.live, "previous": self.previous, "moved": self.moved, "reused": self.reused,
                "check": self.check}


def publish(open_index, alias: str, data, models: col.Models, *, dev: list[str] | None = None, force: bool = False,
            server: bool = False, **build) -> Outcome:
    """Make ``alias`` serve ``data`` with ``models`` (and BM25): unchanged when it already does; built in place
    when nothing is live yet; else a new version built beside the live one, checked, and the alias moved.
    ``open_index(name, resolve=...)`` opens a collection; ``dev``: query ids to check the new version on;
    ``build``: :func:`collection.build`'s options."""
    vectors = ", ".join([*models.named(), "bm25"])
    with open_index(alias) as live:
        signature = col.fingerprint(data, models, True, live.storage)
        live_name = live.name if live.exists() else None
        current = live.metadata() if live_name else {}
        if live_name and current.get("complete") and current.get("fingerprint") == signature:
            points = current.get("points")  # from the metadata: a serving process may hold the shard open
            said = f"{points:,} points; " if points is not None else ""
            return Outcome(live_name, current.get("previous"), False, True, {"points": points},
                           f"'{alias}' already serves this catalog with these models ({said}{vectors}); nothing to do")
    if live_name is None and not server:  # the first build: the plain collection, no alias needed yet
        with open_index(alias) as ix:
            stats = col.build(ix, data, models, bm25=True, **build)
            points = ix.count()
        return Outcome(alias, None, False, stats.get("reused", False), {"points": points},
                       f"indexed {stats['documents']:,} products into '{alias}' ({points:,} points; {vectors})")
    name = version_name(alias, signature)
    with open_index(name, resolve=False) as ix:
        stats = col.build(ix, data, models, bm25=True, **build)
        ix.create(metadata={"previous": live_name, "alias": alias, "built_at": time.time()})
        check = {"points": ix.count(), "products": len(data.products)}
        if check["points"] != check["products"]:
            raise SearchtuneError(f"version '{name}' holds {check['points']:,} points for {check['products']:,} "
                                  f"products; the alias stays on '{live_name}'. Run the command again")
        if live_name and dev:
            with readable(open_index, live_name) as old:
                check.update(canary(data, dev, old, ix, build.get("loaded")))
    if check.get("new") is not None and check["new"] < check["live"] * (1 - MAX_DROP) and not force:
        raise SearchtuneError(
            f"the new version '{name}' scores nDCG@10 {check['new']:.4f} on {check['queries']} dev queries against "
            f"{check['live']:.4f} for the live '{live_name}', more than {MAX_DROP:.0%} below: the alias stays. "
            "--force moves it anyway (the version is kept: it is not built again)")
    with open_index(name, resolve=False) as ix:
        aliases_of(ix).move(alias, name)
    what = (f"; dev nDCG@10 {check['new']:.4f} against {check['live']:.4f} on {check['queries']} queries"
            if check.get("new") is not None else "")
    return Outcome(name, live_name, True, stats.get("reused", False), check,
                   f"'{alias}' now serves {name} ({check['points']:,} points{what}); '{live_name or 'nothing'}' "
                   f"is kept for --rollback")


def canary(data, dev: list[str], live: Index, new: Index, loaded: dict | None = None) -> dict:
    """nDCG@10 of the live and the new version on the ``dev`` queries, each through its own model (its first
    model vector alone: what changed)."""
    from .evaluation.metrics import evaluate_run
    from .evaluation.runs import hits_to_run

    qrels = data.eval_qrels(dev)
    if not qrels:
        return {}
    qids = list(qrels)
    texts = [data.queries[q] for q in qids]
    out = {"queries": len(qids)}
    for key, index in (("live", live), ("new", new)):
        models = col.stored_models(index)
        vector = next(iter(models.named()))
        run = hits_to_run(qids, col.search(index, models, texts, vector.replace("_", "-"), k=10,
                                           loaded=loaded if key == "new" else None))
        out[key] = round(evaluate_run(qrels, run, ks=(10,))["ndcg@10"], 4)
    return out


@contextmanager
def readable(open_index, name: str):
    """Collection ``name`` open for searching, even while a server holds it: Qdrant Edge lets one process open
    a shard, so a served one is searched in a copy (deleted afterwards)."""
    index = open_index(name, resolve=False)
    try:
        index.count()
    except SearchtuneError:
        raise
    except Exception as exc:  # Edge: "failed to open WAL ... WouldBlock", the shard is another process's
        if not hasattr(index, "data_dir"):
            raise
        logger.info("'%s' is open in another process (%s); checking against a copy", name, exc)
        index.close()
        with tempfile.TemporaryDirectory(dir=index.data_dir) as tmp:
            shutil.copytree(index.path, Path(tmp) / name)
            shutil.copy2(index.meta_path, Path(tmp) / f"{name}.json")
            copy = EdgeIndex(name, tmp)
            try:
                yield copy
            finally:
                copy.close()
        return
    try:
        yield index
    finally:
        index.close()


def rollback(open_index, alias: str) -> str:
    """Move ``alias`` back to the version the live one replaced; returns its name."""
    with open_index(alias) as live:
        if not live.exists():
            raise SearchtuneError(f"no collection '{alias}'")
        previous = live.metadata().get("previous")
        if not previous:
            raise SearchtuneError(f"'{alias}' ({live.name}) replaced no earlier version: nothing to roll back to")
    with open_index(previous, resolve=False) as old:
        if not old.exists() or not col.searchable(old):
            raise SearchtuneError(f"the previous version '{previous}' is gone (pruned?)")
        aliases_of(old).move(alias, previous)
    return previous


def collections_beside(index: Index) -> list[str]:
    """The names of every collection where ``index`` lives (its Edge folder, or its server)."""
    if hasattr(index, "client"):
        return [c.name for c in index.client.get_collections().collections]
    return sorted(p.stem for p in index.data_dir.glob("*.json") if (index.data_dir / p.stem).is_dir())


def prune(open_index, alias: str, keep: int) -> list[str]:
    """Delete the versions of ``alias`` but the live one, the one it replaced, and the ``keep`` newest others;
    returns their names."""
    with open_index(alias) as live:
        live_name, names, previous = live.name, collections_beside(live), live.metadata().get("previous")
    versions = []
    for name in names:  # the live version and the one it replaced (--rollback's, and a server may still be on it)
        if name not in (live_name, previous) and (name == alias or name.startswith(alias + SEPARATOR)):
            with open_index(name, resolve=False) as ix:
                versions.append((ix.metadata().get("built_at", 0.0), name))
    gone = [name for _, name in sorted(versions, reverse=True)[keep:]]
    for name in gone:
        with open_index(name, resolve=False) as ix:
            ix.delete()
    return gone
