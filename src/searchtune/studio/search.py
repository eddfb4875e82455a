"""The studio's Search and Collections pages: every Qdrant collection (the user's and each run's), a query
in a mode against one of them, with a run's reranker, or a run's recommended system (``RUN/system.json``).
Collections are opened read-only from the user's folder or a run's ``qdrant/``; a run's system must point
inside its run."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

from fastapi import HTTPException

from ..errors import SearchtuneError
from .workspace import NAME


@contextmanager
def reading(index, collection: str):
    """Read a collection and close it; an error that is not the user's (the shard is being written by a running
    job, say) is a 409 naming the collection."""
    try:
        yield
    except (HTTPException, SearchtuneError):
        raise
    except Exception as exc:
        raise HTTPException(409, f"collection '{collection}' is busy or unreadable ({exc})") from None
    finally:
        index.close()


def collections(studio) -> list[dict]:
    """Every collection of the user's folder and the runs', with the aliases that serve it
    (:mod:`searchtune.index.aliases`)."""
    from ..index import default_data_dir
    from ..index.aliases import EdgeAliases

    places = [("user", Path(default_data_dir()))]
    places += [(f"run:{d.name}", d / "qdrant") for d in sorted(studio.runs_dir.iterdir()) if (d / "qdrant").is_dir()]
    out = []
    for place, folder in places:
        if not folder.is_dir():
            continue
        try:
            aliases = EdgeAliases(folder).all()
        except SearchtuneError:
            aliases = {}
        for meta_file in sorted(folder.glob("*.json")):
            if not (folder / meta_file.stem).is_dir():
                continue
            try:
                meta = json.loads(meta_file.read_text())
                models = (meta.get("fingerprint") or {}).get("models") or {}
                vectors = {n: {"kind": v["kind"], "distance": "cosine" if v["kind"] == "dense" else "dot",
                               "modifier": "idf" if v.get("idf") else "none"}
                           for n, v in (meta.get("vectors") or {}).items()}
            except (ValueError, OSError, TypeError, KeyError, AttributeError):  # a broken file: said, not a 500
                out.append({"place": place, "name": meta_file.stem, "points": None, "model": "", "backend": "?",
                            "complete": False, "vectors": {}, "indexed": None, "error": "unreadable metadata"})
                continue
            out.append({"place": place, "name": meta_file.stem, "points": meta.get("points"),
                        "model": ", ".join(models.values()), "backend": meta.get("backend", "qdrant-edge"),
                        "complete": meta.get("complete", True),
                        "aliases": sorted(a for a, target in aliases.items() if target == meta_file.stem),
                        "vectors": vectors,
                        "indexed": (meta.get("index_stats") or {}).get("documents_per_second")})
    return out


def collection_dir(studio, place: str) -> Path:
    from ..index import default_data_dir

    if place == "user":
        return Path(default_data_dir())
    if place.startswith("run:"):
        return studio.run_path(place[4:]) / "qdrant"
    raise HTTPException(400, f"unknown collection place '{place}'")


def rerankers(studio) -> list[dict]:
    """The runs' trained rerankers (``RUN/reranker``), with the K and weight each run chose on dev."""
    from ..rerank.model import is_reranker, saved_choice
    from ..rundir import RunDir

    return [{"run": d.name, **saved_choice(d)} for d in sorted(studio.runs_dir.iterdir())
            if is_reranker(RunDir(d).reranker)]


def systems(studio) -> list[dict]:
    """The runs' recommended search systems (``RUN/system.json``)."""
    from ..system import System

    out = []
    for d in sorted(studio.runs_dir.iterdir()):
        if (d / "system.json").is_file():
            try:
                system = System.load(d)
            except SearchtuneError:
                continue
            out.append({"run": d.name, "label": system.label, "describe": system.describe()})
    return out


def search_system(studio, run: str, query: str, k: int = 10) -> dict:
    """Run a run's recommended system (``RUN/system.json``): its first stage, then its reranker. Its collection
    must be in the run's own Qdrant folder and its models bundled or inside the run."""
    from dataclasses import replace

    from ..index import collection as col
    from ..index import open_index
    from ..models import BUNDLED
    from ..system import Searcher, System

    if not isinstance(query, str) or not query.strip():
        raise HTTPException(400, "type a query")
    root = studio.run_path(run).resolve()
    system = System.load(root)
    inside = [system.data_dir, *system.models.values(), *([system.reranker.model] if system.reranker else [])]
    for path in inside:
        if path and path not in BUNDLED and not Path(path).resolve().is_relative_to(root):
            raise HTTPException(400, f"run '{run}': its system.json points outside the run ({path})")
    index = open_index(system.collection, data_dir=root / "qdrant")  # an alias: the version it points at now
    if not index.exists():
        raise HTTPException(404, f"run '{run}': collection '{system.collection}' not found")
    if index.alias:  # a swapped version may hold other models: search it with its own
        system = replace(system, models={**system.models, **col.stored_models(index).named()})
    k = max(1, min(int(k), 100))
    models = system.collection_models
    loaded = _cached(models)
    rr = _reranker(Path(system.reranker.model)) if system.reranker else None
    with reading(index, system.collection):
        ranked = Searcher(system, index=index, loaded=loaded, reranker=rr).search(query, k)
        _keep(models, loaded)
    return {"run": run, "system": system.describe(), "label": system.label,
            "hits": [{"product_id": r["hit"].product_id, "title": r["hit"].payload.get("title", ""),
                      "brand": r["hit"].payload.get("brand", ""), "first_rank": r["first_rank"],
                      "score": None if r["score"] is None else round(r["score"], 4)} for r in ranked]}


def search(studio, place: str, collection: str, query: str, k: int = 10, mode: str = "sparse",
           reranker: str | None = None) -> dict:
    """Search a collection in a mode (:mod:`searchtune.index.collection`, as `searchtune search` does); with
    ``reranker`` (a run's name) also the first stage's top K reordered by that run's reranker."""
    from ..encode import top_terms
    from ..index import collection as col
    from ..index import open_index

    if not isinstance(query, str) or not query.strip():
        raise HTTPException(400, "type a query")
    if not NAME.match(collection or ""):
        raise HTTPException(400, f"invalid collection name '{collection}'")
    if mode not in col.MODES:
        raise HTTPException(400, "mode must be sparse, dense, hybrid or bm25")
    index = open_index(collection, data_dir=collection_dir(studio, place))  # an alias: its version now
    if not index.exists():
        raise HTTPException(404, f"collection '{collection}' not found in {place}")
    with reading(index, collection):
        models = col.stored_models(index)
        system = models.mode_system(mode)
        if any(v not in index.layout() for v in col.SYSTEM_VECTORS[system]):
            raise HTTPException(400, f"collection '{collection}' has no vectors for --mode {mode}; index it with "
                                     "`searchtune index --dense-model ...` for that mode")
        loaded = _cached(models)
        vectors, _ = col.query_vectors(index, models, [query], col.SYSTEM_VECTORS[system], loaded=loaded)
        k = max(1, min(int(k), 100))
        choice = {}
        if reranker:
            from ..rerank.model import rerank_hits, saved_choice
            from ..rundir import RunDir

            choice = {"k": 50, "weight": 0.0, **saved_choice(studio.run_path(reranker))}
        hits = col.search(index, models, [query], system, k=max(k, choice.get("k", 0)), vectors=vectors)[0]
        sparse = next((v for v in col.SYSTEM_VECTORS[system] if v.startswith("sparse")), None)
        terms = top_terms(loaded[sparse], vectors[sparse], 12) if sparse else []
        _keep(models, loaded)

    def shown(h, score):
        return {"product_id": h.product_id, "score": None if score is None else round(score, 4),
                "title": h.payload.get("title", ""), "brand": h.payload.get("brand", "")}

    out = {"collection": collection, "place": place, "models": models.named(), "mode": mode, "system": system,
           "terms": [{"term": t, "weight": round(w, 3)} for t, w in terms],
           "hits": [shown(h, h.score) for h in hits[:k]]}
    if reranker:
        ranked = rerank_hits(_reranker(RunDir(studio.run_path(reranker)).reranker), query, hits, k=choice["k"],
                             weight=choice["weight"])[:k]
        out["reranked"] = [{**shown(r["hit"], r["score"]), "first_rank": r["first_rank"]} for r in ranked]
        out["rerank"] = {"run": reranker, "k": choice["k"], "weight": choice["weight"]}
    return out


_CACHE: dict[tuple[str, str], object] = {}  # (vector, model ref) → loaded model: loading one takes seconds


def _cached(models) -> dict:
    """The loaded models of a collection by vector name; what a search loads is kept (the last four)."""
    loaded = {v: _CACHE[(v, ref)] for v, ref in models.named().items() if (v, ref) in _CACHE}
    return loaded


def _keep(models, loaded: dict) -> None:
    for v, model in loaded.items():
        _CACHE[(v, models.named()[v])] = model
    while len(_CACHE) > 4:
        _CACHE.pop(next(iter(_CACHE)))


def _reranker(path: Path):
    """A run's reranker, loaded once per folder (loading takes seconds)."""
    from ..rerank.model import load_reranker

    key = ("reranker", str(path))
    if key not in _CACHE:
        _CACHE[key] = load_reranker(path)
    return _CACHE[key]


def explain_run(studio, run: str, query: str, product: str | None) -> dict:
    """`searchtune explain` for a run of the studio: the query's terms, untuned against tuned, and with a
    product id each term's contribution to its score."""
    from ..config import Config
    from ..data import load_data
    from ..explain import explain
    from ..models import trained_config
    from ..rundir import RunDir
    from ..train.trainer import base_model

    if not isinstance(query, str) or not query.strip():
        raise HTTPException(400, "type a query")
    rd = RunDir(studio.run_path(run))
    if not rd.config.is_file() or not (rd.model / "config.json").is_file():
        raise HTTPException(404, f"run '{run}' has no model to explain")
    config = Config.load(rd.config)
    text = None
    if product:
        texts = load_data(config.data).texts
        if product not in texts:
            raise HTTPException(404, f"product '{product}' is not in run '{run}''s catalog")
        text = texts[product]
    models = explain(query, {"untuned": base_model(config.train), "tuned": str(rd.model)}, product=text, k=12,
                     max_length=(trained_config(rd.model) or {}).get("max_seq_length"))
    return {"query": query, "product": product, "text": text, "models": models}
