"""The HTTP API of ``searchtune serve``: FastAPI over one :class:`~searchtune.system.Searcher`.

Routes: ``POST /search`` and ``/search/batch`` (the run's system: first stage, then its reranker),
``POST /embed_sparse`` and ``/rerank`` in text-embeddings-inference's shapes (for stacks that index elsewhere),
``POST /events`` (what a shopper did with a served search), ``GET /health`` (ready once the models and the
collection are loaded), ``/info``, ``/metrics`` (Prometheus text) and the OpenAPI page at ``/docs``. Every
route but ``/health`` needs the API key when one is set (``X-API-Key`` or ``Authorization: Bearer``).
"""

from __future__ import annotations

import asyncio
import hmac
import time
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from .. import __version__
from ..errors import SearchtuneError
from ..system import Searcher, System
from .batcher import Batcher, Overloaded
from .served import ServedLog, UnknownSearch

MAX_BODY = 1 << 20  # bytes; a search is a few hundred
OPEN_ROUTES = {"/health"}
ROUTES = {"/search", "/search/batch", "/embed_sparse", "/rerank", "/events", "/health", "/info", "/metrics",
          "/docs", "/openapi.json"}


class Filters(BaseModel, extra="forbid"):
    brand: str | None = Field(None, max_length=200, description="Only products of this brand (exact).")
    category: str | None = Field(None, max_length=500, description="Only products of this category (exact).")


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=1000, description="The shopper's query.")
    k: int = Field(10, ge=1, le=100, description="Products to return.")
    filters: Filters | None = None
    first_stage: Literal["bm25", "model", "hybrid"] | None = Field(
        None, description="Override the system's first stage with another from its collection (e.g. to compare).")
    rerank: bool | None = Field(None, description="false: leave out the system's reranker.")


class BatchRequest(BaseModel):
    queries: list[str] = Field(min_length=1, max_length=64)
    k: int = Field(10, ge=1, le=100)


class EmbedRequest(BaseModel):
    inputs: str | list[str] = Field(description="A text or up to 64 texts.")
    side: Literal["query", "document"] = Field("query", description="Encode as queries or as products.")


class RerankRequest(BaseModel):
    query: str = Field(min_length=1, max_length=1000)
    texts: list[str] = Field(min_length=1, max_length=256)


class EventRequest(BaseModel):
    search_id: str = Field(min_length=1, max_length=64)
    product_id: str = Field(min_length=1, max_length=256)
    event: Literal["click", "add_to_cart", "purchase"]


def create_app(system: System, *, index_config=None, api_key: str | None = None, log_path=None,
               max_batch: int = 32, max_wait_ms: float = 0.0, max_queue: int = 256, cache_size: int = 4096,
               timeout_s: float = 10.0) -> FastAPI:
    from prometheus_client import (
        CollectorRegistry,
        Counter,
        Gauge,
        Histogram,
        generate_latest,
    )

    registry = CollectorRegistry()
    requests = Counter("searchtune_requests", "Requests by route and status.", ["route", "status"],
                       registry=registry)
    stage = Histogram("searchtune_stage_seconds", "Seconds per stage of a batch.", ["stage"], registry=registry,
                      buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5))
    latency = Histogram("searchtune_search_seconds", "Seconds from request to answer.", registry=registry,
                        buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10))
    batch_size = Histogram("searchtune_batch_size", "Searches per micro-batch.", registry=registry,
                           buckets=(1, 2, 4, 8, 16, 32, 64))
    queue = Gauge("searchtune_queue_depth", "Searches waiting for the next batch.", registry=registry)
    state: dict = {"searcher": None, "batcher": None, "log": None}

    variants: dict = {}  # (first_stage, rerank) → a Searcher sharing the collection and the models

    def searcher_for(variant):
        if variant is None:
            return state["searcher"]
        if variant not in variants:
            variants[variant] = state["searcher"].variant(*variant)
        return variants[variant]

    def run_batch(queries, ks, where, variant_of):
        if state["searcher"].follow():  # the alias moved: the variants shared the old version
            variants.clear()
        results: list = [None] * len(queries)
        for variant in dict.fromkeys(variant_of):  # one search_many per system asked for, in arrival order
            at = [i for i, v in enumerate(variant_of) if v == variant]
            timings: dict = {}
            found = searcher_for(variant).search_many([queries[i] for i in at], [ks[i] for i in at], timings,
                                                      where=[where[i] for i in at])
            for i, r in zip(at, found):
                results[i] = r
            for name, seconds in timings.items():
                stage.labels(name).observe(seconds)
        return results

    @asynccontextmanager
    async def lifespan(app):
        loop = asyncio.get_running_loop()
        state["searcher"] = await loop.run_in_executor(None, lambda: Searcher(system, index_config,
                                                                             cache_size=cache_size))
        state["log"] = ServedLog(log_path) if log_path else None
        batcher = Batcher(run_batch, max_batch=max_batch, max_wait_ms=max_wait_ms, max_queue=max_queue,
                          on_batch=lambda n, s: batch_size.observe(n))
        batcher.start()
        state["batcher"] = batcher
        yield
        await batcher.stop()  # graceful: what is queued is answered
        state["searcher"].close()
        if state["log"]:
            state["log"].close()

    app = FastAPI(title="searchtune serve", version=__version__, lifespan=lifespan,
                  description=f"Serves {system.describe()}")

    @app.middleware("http")
    async def guard(request: Request, call_next):
        route = request.url.path if request.url.path in ROUTES else "other"
        if api_key and route not in OPEN_ROUTES:
            given = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix(
                "Bearer ")
            if not hmac.compare_digest(given.encode(), api_key.encode()):
                requests.labels(route, "401").inc()
                return JSONResponse({"error": "missing or wrong API key (X-API-Key header)"}, status_code=401)
        if int(request.headers.get("content-length") or 0) > MAX_BODY:
            requests.labels(route, "413").inc()
            return JSONResponse({"error": f"body over {MAX_BODY:,} bytes"}, status_code=413)
        response = await call_next(request)
        matched = request.scope.get("route")  # the route's template: unknown paths share one label
        requests.labels(matched.path if matched else "other", str(response.status_code)).inc()
        return response

    async def served(query: str, k: int, filters: Filters | None = None, variant: tuple | None = None) -> dict:
        if state["batcher"] is None:
            raise HTTPException(503, "still loading the models and the collection")
        if variant is not None:
            try:  # checked before queueing: a bad override is the request's 400, not the batch's error
                await asyncio.get_running_loop().run_in_executor(state["batcher"].worker, searcher_for, variant)
            except SearchtuneError as exc:
                raise HTTPException(400, str(exc)) from None
        started = time.perf_counter()
        queue.set(state["batcher"].depth)
        try:
            where = filters.model_dump(exclude_none=True) if filters else None
            ranked = await asyncio.wait_for(state["batcher"].search(query, k, where or None, variant), timeout_s)
        except Overloaded as exc:
            raise HTTPException(503, f"busy: {exc}; retry shortly") from None
        except asyncio.TimeoutError:
            raise HTTPException(504, f"no answer within {timeout_s:g} s") from None
        took = time.perf_counter() - started
        latency.observe(took)
        hits = [{"id": r["hit"].product_id, "score": r["score"], "first_rank": r["first_rank"],
                 **{f: r["hit"].payload.get(f) for f in ("title", "brand") if r["hit"].payload.get(f)}}
                for r in ranked]
        used = searcher_for(variant).system if variant else system
        log = state["log"]
        search_id = log.search(query, [h["id"] for h in hits], used.label or used.describe()) if log else None
        return {"search_id": search_id, "system": used.label or used.describe(), "took_ms": round(took * 1000, 2),
                "hits": hits}

    @app.post("/search")
    async def search(body: SearchRequest):
        variant = (body.first_stage, body.rerank) if body.first_stage or body.rerank is not None else None
        return await served(body.query, body.k, body.filters, variant)

    @app.post("/search/batch")
    async def search_batch(body: BatchRequest):
        return {"results": await asyncio.gather(*(served(q, body.k) for q in body.queries))}

    @app.post("/embed_sparse")
    async def embed_sparse(body: EmbedRequest):
        from ..encode import encode

        texts = [body.inputs] if isinstance(body.inputs, str) else body.inputs
        if not 1 <= len(texts) <= 64:
            raise HTTPException(422, "inputs: give 1 to 64 texts")
        searcher = _ready(state)
        sparse = next((v for v in searcher.models.named() if v.startswith("sparse")), None)
        if sparse is None:
            raise HTTPException(400, "this system has no sparse model to embed with")

        def embed():  # on the worker: the model is loaded (once) and used where searches use it
            if sparse not in searcher.loaded:
                from ..models import load_encoder

                searcher.loaded[sparse] = load_encoder(searcher.models.named()[sparse], kind="sparse")
            return encode(searcher.loaded[sparse], texts, body.side).tocsr()

        matrix = await asyncio.get_running_loop().run_in_executor(state["batcher"].worker, embed)
        return [[{"index": int(i), "value": float(v)} for i, v in zip(matrix[r].indices, matrix[r].data)]
                for r in range(matrix.shape[0])]

    @app.post("/rerank")
    async def rerank(body: RerankRequest):
        searcher = _ready(state)
        if searcher.reranker is None:
            raise HTTPException(400, "this system has no reranker")
        scores = await asyncio.get_running_loop().run_in_executor(
            state["batcher"].worker, lambda: searcher.reranker.predict([(body.query, t) for t in body.texts],
                                                                       show_progress_bar=False))
        order = sorted(range(len(body.texts)), key=lambda i: -float(scores[i]))
        return [{"index": i, "score": float(scores[i])} for i in order]

    @app.post("/events")
    async def events(body: EventRequest):
        if state["log"] is None:
            raise HTTPException(400, "this server keeps no log (start it with --log FILE)")
        try:
            return state["log"].event(body.search_id, body.product_id, body.event)
        except UnknownSearch:
            raise HTTPException(404, f"search_id '{body.search_id}' was not served here recently") from None

    @app.get("/health")
    def health():
        if state["batcher"] is None:
            return JSONResponse({"ready": False}, status_code=503)
        return {"ready": True}

    @app.get("/info")
    def info():
        searcher = _ready(state)
        meta = searcher.index.metadata()
        return {"system": system.to_dict(), "describe": system.describe(), "version": __version__,
                "collection": {"name": system.collection, "version": searcher.index.name,
                               "points": meta.get("points"), "fingerprint": meta.get("fingerprint")}}

    @app.get("/metrics")
    def metrics():
        if state["batcher"] is not None:
            queue.set(state["batcher"].depth)
        return PlainTextResponse(generate_latest(registry).decode(), media_type="text/plain; version=0.0.4")

    return app


def _ready(state: dict) -> Searcher:
    if state["searcher"] is None:
        raise HTTPException(503, "still loading the models and the collection")
    return state["searcher"]
