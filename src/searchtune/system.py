"""A search system you can run: one value for what a report recommends, ``search`` runs and ``export`` ships.

A :class:`System` names the first stage (BM25, a sparse or dense model, or a fusion of two lists with its
method and weights: the vectors of one Qdrant collection, :mod:`searchtune.index.collection`), an optional
reranker with its K and weight, and where the collection lives. The pipeline saves the one it recommends as
``RUN/system.json``; ``searchtune search --system RUN``, ``searchtune evaluate --system``, the studio's Search
page and ``searchtune export`` take it.

BM25 as a first stage is the collection's ``bm25`` vectors (Qdrant's IDF modifier), which rank close to, not
exactly as, the bm25s baseline the report measures.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from .errors import SearchtuneError
from .files import write_json
from .index import Hit, open_index
from .index import collection as col
from .index.aliases import ServerAliases, aliases_of

logger = logging.getLogger(__name__)

FILE = "system.json"
FOLLOW_EVERY_S = 1.0  # how often a searcher asks a Qdrant server whether its alias moved


@dataclass(frozen=True)
class Reranker:
    model: str  # a trained cross-encoder folder
    k: int = 50  # first-stage products it rescores
    weight: float = 0.0  # weight of the first stage's (min-max scaled) score mixed in


@dataclass(frozen=True)
class System:
    vectors: tuple[str, ...]  # the collection's vectors searched (fused when two): e.g. ("sparse_tuned", "bm25")
    models: dict[str, str] = field(default_factory=dict)  # vector name -> model (folder or name)
    collection: str = "products"
    data_dir: str | None = None  # the Qdrant Edge folder (None: the default, or the server of --qdrant-url)
    fusion: str = "rrf"
    weights: tuple[float, ...] | None = None
    max_length: int | None = None  # tokens per text the collection was built with
    reranker: Reranker | None = None
    label: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "vectors", tuple(self.vectors))
        if self.weights is not None:
            object.__setattr__(self, "weights", tuple(self.weights))
        if self.first_stage_name() is None:
            raise SearchtuneError(f"no first stage searches the vectors {list(self.vectors)}; known: "
                                  + "; ".join(", ".join(v) for v in col.SYSTEM_VECTORS.values()))

    def first_stage_name(self) -> str | None:
        """The collection system (:data:`searchtune.index.collection.SYSTEM_VECTORS`) of the first stage."""
        return next((n for n, v in col.SYSTEM_VECTORS.items() if tuple(v) == self.vectors), None)

    @property
    def collection_models(self) -> col.Models:
        return col.Models(**{v: m for v, m in self.models.items() if v in col.VECTOR_FIELDS},
                          max_length=self.max_length)

    def describe(self) -> str:
        """One line: the label, the first stage (with its fusion), the collection and the reranker."""
        weights = f" {list(self.weights)}" if self.weights else ""
        first = " + ".join(self.vectors) + (f" ({self.fusion.upper()}{weights})" if len(self.vectors) > 1 else "")
        rr = f", then the reranker over the top {self.reranker.k} (first-stage weight {self.reranker.weight:g})" \
            if self.reranker else ""
        return f"{self.label or first}: {first} in '{self.collection}'{rr}"

    # -- files -------------------------------------------------------------
    def to_dict(self) -> dict:
        out = asdict(self)
        out["vectors"], out["weights"] = list(self.vectors), list(self.weights) if self.weights else None
        return out

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict(), indent=1)

    @classmethod
    def from_dict(cls, raw: dict, where: str = "system") -> System:
        try:
            rr = raw.get("reranker")
            return cls(**{**raw, "reranker": Reranker(**rr) if rr else None})
        except TypeError as exc:
            raise SearchtuneError(f"{where}: not a searchtune system ({exc})") from None

    @classmethod
    def load(cls, path: str | Path) -> System:
        """A saved system: a ``system.json``, or a run directory holding one."""
        path = Path(path)
        file = path / FILE if path.is_dir() else path
        if not file.is_file():
            raise SearchtuneError(f"{path}: no {FILE} here; a finished `searchtune pipeline` run writes the system "
                                  "it recommends there")
        try:
            raw = json.loads(file.read_text())
        except json.JSONDecodeError as exc:
            raise SearchtuneError(f"{file}: not valid JSON ({exc})") from None
        return cls.from_dict(raw, str(file))

    def moved(self, old: Path, new: Path) -> System:
        """The same system with paths under ``old`` pointing under ``new`` (an exported or copied run)."""
        def move(p):
            try:
                return str(Path(new) / Path(p).relative_to(old)) if p and Path(p).is_absolute() else p
            except ValueError:
                return p
        return replace(self, models={v: move(m) for v, m in self.models.items()}, data_dir=move(self.data_dir),
                       reranker=replace(self.reranker, model=move(self.reranker.model)) if self.reranker else None)


class Searcher:
    """A :class:`System` ready to answer queries: its collection open and its models loaded once."""

    def __init__(self, system: System, index_config=None, *, index=None, loaded: dict | None = None,
                 reranker=None, cache_size: int = 0) -> None:
        """``index``, ``loaded`` (models by vector name) and ``reranker``: already open or loaded (a server's
        caches); what is not given is opened or loaded here. ``cache_size``: query texts whose vectors are kept."""
        from collections import OrderedDict

        self.system = system
        self.cache: OrderedDict = OrderedDict()
        self.cache_size = cache_size
        self.index_config = index_config
        self.index = index or open_index(system.collection, index_config, data_dir=system.data_dir)
        try:
            col.searchable(self.index)
        except SearchtuneError:
            self.index.close()
            raise
        self.models = system.collection_models
        # the name asked for may be (or become) an alias: follow it when it moves (a variant shares this one's
        # collection and follows nothing)
        self.alias = system.collection if index is None else None
        self.aliases = aliases_of(self.index) if self.alias else None
        self.stamp = self.aliases.stamp() if self.aliases else None
        self.checked, self.failed = 0.0, False
        self.loaded: dict = {} if loaded is None else loaded
        self.reranker = reranker
        if system.reranker and reranker is None:
            from .rerank.model import load_reranker

            self.reranker = load_reranker(system.reranker.model)

    def variant(self, first_stage: str | None = None, rerank: bool | None = None) -> Searcher:
        """This system with another first stage from its own collection (``bm25``, ``model``: the model's list
        alone, ``hybrid``: the model and BM25 fused as the system fuses them) or without its reranker; it shares
        this one's collection, models and reranker."""
        s = self.system
        models = {**col.stored_models(self.index).named(), **s.models}  # a BM25 system's collection has a model too
        model_vectors = [v for v in (*s.vectors, *models) if v != "bm25"]
        vectors = s.vectors
        if first_stage == "bm25":
            vectors = ("bm25",)
        elif first_stage == "model":
            vectors = tuple(model_vectors[:1])
        elif first_stage == "hybrid":
            vectors = s.vectors if len(s.vectors) > 1 else (*model_vectors[:1], "bm25")
        elif first_stage is not None:
            raise SearchtuneError(f"first_stage must be bm25, model or hybrid, not '{first_stage}'")
        missing = [v for v in vectors if v not in self.index.layout()] or ([] if vectors else ["a model vector"])
        if missing:
            raise SearchtuneError(f"the collection '{s.collection}' has no {', '.join(missing)} for first_stage "
                                  f"'{first_stage}'")
        if rerank and s.reranker is None:
            raise SearchtuneError("this system has no reranker")
        try:
            system = replace(s, vectors=vectors, models={v: models[v] for v in vectors if v in models},
                             reranker=s.reranker if rerank is not False else None,
                             label=f"{s.label or 'system'} ({first_stage or 'its first stage'}"
                                   f"{'' if rerank is not False or s.reranker is None else ', no reranker'})")
        except SearchtuneError:
            raise SearchtuneError(f"no first stage searches {list(vectors)}") from None
        return Searcher(system, index=self.index, loaded=self.loaded,
                        reranker=self.reranker if system.reranker else None, cache_size=self.cache_size)

    def follow(self) -> bool:
        """Follow a moved alias (:mod:`searchtune.index.aliases`): the new version's collection and models
        replace these once its models are loaded, between two query batches. True when it moved."""
        import time

        if self.aliases is None:
            return False
        now = time.monotonic()
        if (isinstance(self.aliases, ServerAliases) or self.failed) and now - self.checked < FOLLOW_EVERY_S:
            return False  # a server's aliases cost a request, a failed follow is retried: at most once a second
        self.checked = now
        stamp = self.aliases.stamp()
        if stamp == self.stamp:
            return False
        self.stamp = stamp
        target = self.aliases.get(self.alias)
        if not target or target == self.index.name:
            return False
        index = open_index(target, self.index_config, data_dir=self.system.data_dir, resolve=False)
        try:
            col.searchable(index)
            models = col.stored_models(index)
            missing = [v for v in self.system.vectors if v not in index.layout()]
            if missing:
                raise SearchtuneError(f"it has no {', '.join(missing)}")
            loaded: dict = {}
            col.query_vectors(index, models, ["warm up"], col.SYSTEM_VECTORS[self.system.first_stage_name()],
                              loaded=loaded)  # the models load before the swap, not in a query's time
        except Exception as exc:  # not searchable yet (another process still writing it), or not this system's
            index.close()
            self.stamp, self.failed = None, True  # tried again a second later
            logger.warning("the alias '%s' moved to '%s', which this system cannot search yet (%s); still on "
                           "'%s'", self.alias, target, exc, self.index.name)
            return False
        old, self.index, self.models, self.loaded = self.index, index, models, loaded
        self.cache.clear()
        self.failed = False
        old.close()
        logger.info("the alias '%s' moved: now searching '%s'", self.alias, target)
        return True

    def search(self, query: str, k: int = 10) -> list[dict]:
        """The top ``k``: per product the hit, its score, and with a reranker its first-stage rank."""
        return self.search_many([query], [k])[0]

    def search_many(self, queries: list[str], ks: list[int], timings: dict | None = None,
                    where: list[dict[str, str] | None] | None = None) -> list[list[dict]]:
        """:meth:`search` for several queries at once: one encoding batch, one Qdrant batch, one reranker batch
        (what a server's micro-batch runs). ``where``: per query, payload values the products must have
        (``{"brand": "DeWalt"}``); ``timings`` (filled): seconds per stage."""
        import time

        import numpy as np

        from .rerank.model import hit_text, reranked_hits

        self.follow()
        s, first = self.system, self.system.first_stage_name()
        depth = max([*ks, s.reranker.k if s.reranker else 0])
        t0 = time.perf_counter()
        vectors = self.query_vectors(queries)
        t1 = time.perf_counter()
        hits: list[list[Hit]] = col.search(self.index, self.models, queries, first, k=depth, fusion=s.fusion,
                                           weights=list(s.weights) if s.weights else None, vectors=vectors,
                                           where=where)
        t2 = time.perf_counter()
        if self.reranker is None:
            out = [[{"hit": h, "score": h.score, "first_rank": i} for i, h in enumerate(hs[:k], 1)]
                   for hs, k in zip(hits, ks)]
        else:
            pairs = [(q, hit_text(h.payload)) for q, hs in zip(queries, hits) for h in hs[:s.reranker.k]]
            values = np.atleast_1d(self.reranker.predict(pairs, batch_size=64, show_progress_bar=False)) \
                if pairs else np.zeros(0)
            out, at = [], 0
            for hs, k in zip(hits, ks):
                n = len(hs[:s.reranker.k])
                out.append(reranked_hits(hs, values[at:at + n], k=s.reranker.k, weight=s.reranker.weight)[:k])
                at += n
        if timings is not None:
            timings.update(encode=t1 - t0, search=t2 - t1, rerank=time.perf_counter() - t2)
        return out

    def query_vectors(self, queries: list[str]) -> dict:
        """The first stage's query vectors of ``queries``, each text encoded once while it is in the cache (the
        last ``cache_size`` texts)."""
        import numpy as np
        import scipy.sparse as sp

        names = col.SYSTEM_VECTORS[self.system.first_stage_name()]
        todo = list(dict.fromkeys(q for q in queries if q not in self.cache))
        if todo:
            fresh, _ = col.query_vectors(self.index, self.models, todo, names, loaded=self.loaded)
            for i, q in enumerate(todo):
                self.cache[q] = {n: fresh[n][i:i + 1] for n in names}  # a one-row CSR matrix or array
        rows = {n: [self.cache[q][n] for q in queries] for n in names}
        for q in queries:
            self.cache.move_to_end(q)
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return {n: sp.vstack(r, format="csr") if sp.issparse(r[0]) else np.vstack(r) for n, r in rows.items()}

    def close(self) -> None:
        self.index.close()

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
