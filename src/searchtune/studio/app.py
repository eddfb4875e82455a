"""searchtune studio's HTTP side: the routes over :class:`~.workspace.Studio`, the request guard, serve().

Safety model:
- bound to 127.0.0.1 by default; binding anywhere else needs a token, and then
  every request must carry it (``Authorization: Bearer`` or ``X-Searchtune-Token``;
  the page itself may be opened once with ``?token=``);
- every request, read or write, must carry a Host header naming this server
  (no DNS rebinding: the bound address, loopback names, this machine's names
  and addresses, and each ``--allowed-host``) and an Origin, if any, of this
  server; every state-changing request must be JSON (a cross-site form cannot
  send that without a CORS preflight, which is never granted);
- request bodies are capped at 1 MB and parsed defensively (a deeply nested
  body is a 400, not a 500); a broken file in one run is skipped with a note;
- file arguments are paths relative to the allowed data roots, run names are
  plain names inside the runs directory: absolute paths, ``..`` and links out
  of those roots are refused (:mod:`.workspace`).
"""

from __future__ import annotations

import hmac
import json
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..errors import SearchtuneError
from ..models import BUNDLED
from . import search as search_page
from .workspace import STATIC, Studio

MAX_BODY = 1 << 20  # the largest request the page sends is a few KB


def create_app(studio: Studio) -> FastAPI:
    app = FastAPI(title="searchtune studio", version=__version__, docs_url=None, redoc_url=None)
    allowed_hosts = studio.allowed_hosts()

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if studio.token:
            given = request.headers.get("x-searchtune-token") or ""
            auth = request.headers.get("authorization") or ""
            if auth.lower().startswith("bearer "):
                given = auth[7:]
            if not given and request.method == "GET" and request.url.path == "/":
                given = request.query_params.get("token", "")
            if not hmac.compare_digest(given.encode(), studio.token.encode()):
                return JSONResponse({"error": "missing or wrong token"}, status_code=401)
        host = request.headers.get("host", "").lower()
        if host not in allowed_hosts:
            return JSONResponse({"error": f"refused: unexpected Host '{host}' (start the studio with "
                                          "--allowed-host NAME to reach it by that name)"}, status_code=403)
        origin = request.headers.get("origin")
        if origin and origin.split("://", 1)[-1].lower() != host:
            return JSONResponse({"error": "refused: cross-origin request"}, status_code=403)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            length = request.headers.get("content-length", "")
            if length.isdigit() and int(length) > MAX_BODY:
                return JSONResponse({"error": f"refused: the body is over {MAX_BODY // 1024} KB"}, status_code=413)
            if not request.headers.get("content-type", "").startswith("application/json"):
                return JSONResponse({"error": "refused: send JSON (Content-Type: application/json)"},
                                    status_code=415)
        return await call_next(request)

    @app.exception_handler(SearchtuneError)
    async def user_error(request, exc):
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.exception_handler(HTTPException)
    async def http_error(request, exc):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)

    async def body(request: Request) -> dict:
        raw = bytearray()
        async for chunk in request.stream():  # capped as it arrives, also without a Content-Length
            raw += chunk
            if len(raw) > MAX_BODY:
                raise HTTPException(413, f"the body is over {MAX_BODY // 1024} KB")
        try:
            data = json.loads(raw or b"null")
        except (ValueError, RecursionError):
            raise HTTPException(400, "the request body is not valid JSON (or nests too deeply)") from None
        if not isinstance(data, dict):
            raise HTTPException(400, "the request body must be a JSON object")
        return data

    @app.get("/")
    def page():
        return FileResponse(STATIC / "index.html")

    @app.get("/api/health")
    def health():
        return {"ok": True, "version": __version__}

    @app.get("/api/files")
    def files():
        return {"files": studio.files(), "roots": [str(r) for r in studio.data_roots]}

    @app.get("/api/models")
    def models():
        return {"models": list(BUNDLED) + [r["name"] for r in studio.runs() if r["has_model"]]}

    @app.get("/api/jobs")
    def jobs(status: str | None = None, kind: str | None = None, limit: int = 100):
        return {"jobs": [studio.shown(j.to_dict()) for j in studio.store.list(status=status or None,
                                                                              kind=kind or None, limit=limit)]}

    @app.post("/api/jobs")
    async def start_job(request: Request):
        return studio.launch(await body(request))

    @app.post("/api/inspect")
    async def inspect(request: Request):
        config = (await body(request)).get("config") or {}
        return await run_in_threadpool(studio.inspect, config if isinstance(config, dict) else {})

    @app.get("/api/jobs/{job_id}")
    def job(job_id: str):
        studio.store.reconcile()
        return studio.shown(studio.store.get(job_id).to_dict())

    @app.get("/api/jobs/{job_id}/log")
    def job_log(job_id: str, offset: int = 0):
        text, end = studio.store.log(job_id, max(0, offset))
        return {"text": studio.shown(text), "offset": end}

    @app.get("/api/jobs/{job_id}/progress")
    def job_progress(job_id: str):
        studio.store.reconcile()
        return studio.progress(job_id)

    @app.post("/api/jobs/{job_id}/cancel")
    async def cancel(job_id: str, request: Request):
        await body(request)
        return studio.store.cancel(job_id).to_dict()

    @app.get("/api/runs")
    def runs():
        return {"runs": studio.runs()}

    @app.get("/api/runs/{name}")
    def run_report(name: str):
        return studio.report(name)

    @app.post("/api/explain")
    async def explain(request: Request):
        b = await body(request)
        return await run_in_threadpool(search_page.explain_run, studio, b.get("run", ""), b.get("query", ""),
                                       b.get("product") or None)

    @app.get("/api/collections")
    def collections():
        return studio.shown({"collections": search_page.collections(studio),
                             "rerankers": search_page.rerankers(studio), "systems": search_page.systems(studio)})

    @app.post("/api/search")
    async def search(request: Request):
        b = await body(request)
        if b.get("system"):  # a run's recommended system, as `searchtune search --system RUN` runs it
            return search_page.search_system(studio, b["system"], b.get("query", ""), b.get("k", 10))
        return search_page.search(studio, b.get("place", "user"), b.get("collection", ""), b.get("query", ""),
                                  b.get("k", 10), b.get("mode", "sparse"), b.get("reranker") or None)

    @app.get("/api/events")
    def events():
        from .events import stores

        return {"stores": stores(studio)}

    @app.post("/api/events/import")
    async def import_events(request: Request):
        from .events import import_log

        return await run_in_threadpool(import_log, studio, await body(request))

    @app.get("/api/settings")
    def get_settings():
        from ..settings import env_path, masked

        return {"settings": masked(), "file": str(env_path())}

    @app.put("/api/settings")
    async def put_settings(request: Request):
        from ..settings import masked, write_env

        b = await body(request)
        if not all(isinstance(v, str) or v is None for v in b.values()):
            raise HTTPException(400, "setting values must be strings")
        write_env(b)
        return {"settings": masked()}

    return app


def serve(*, host: str = "127.0.0.1", port: int = 8765, token: str | None = None, data_roots=None,
          runs_dir: str | Path = "runs", allowed_hosts: list[str] | None = None) -> None:
    import uvicorn

    if host not in ("127.0.0.1", "localhost", "::1") and not token:
        raise SearchtuneError(f"binding to {host} exposes the studio to the network: pass --token (or set "
                              "SEARCHTUNE_STUDIO_TOKEN); every request will have to carry it")
    studio = Studio(data_roots=[Path(r) for r in (data_roots or [Path.cwd()])], runs_dir=Path(runs_dir),
                    token=token, host=host, port=port, extra_hosts=allowed_hosts or [])
    uvicorn.run(create_app(studio), host=host, port=port, log_level="warning")
