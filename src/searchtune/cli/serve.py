"""``serve``: the system a run chose, over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..config import Config
from ..errors import SearchtuneError
from .app import SEARCH, app
from .options import config_command, out_console

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@config_command(app, "serve", sections=("index",), panel=SEARCH, models=True)
def serve(
    config: Config,
    system: Annotated[Path, typer.Argument(help="A run directory (its system.json) or a system.json file.")],
    host: Annotated[str, typer.Option(help="Address to bind; anything but loopback needs --api-key.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    api_key: Annotated[str | None, typer.Option(envvar="SEARCHTUNE_SERVE_API_KEY",
                                                help="Key every request but /health must carry (X-API-Key).")] = None,
    log: Annotated[Path | None, typer.Option(help="Append what was served, and POST /events, here (JSON Lines "
                                                  "for `searchtune events import`; default RUN/served.jsonl).")] = None,
    no_log: Annotated[bool, typer.Option("--no-log", help="Keep no log of what was served.")] = False,
    max_batch: Annotated[int, typer.Option(help="Searches encoded, searched and reranked together at most.")] = 32,
    max_wait_ms: Annotated[float, typer.Option(help="How long a batch waits for company (0: an idle server "
                                                    "answers at once).")] = 0.0,
    max_queue: Annotated[int, typer.Option(help="Searches waiting at most; past it, 503 at once.")] = 256,
    cache_size: Annotated[int, typer.Option(help="Query texts whose vectors are kept (LRU).")] = 4096,
    timeout: Annotated[float, typer.Option(help="Seconds a search may take before a 504.")] = 10.0,
):
    """Serve the system a run chose (first stage, then its reranker) over HTTP: /search, /search/batch,
    /embed_sparse, /rerank, /events, /health, /info, /metrics, /docs. One process uses the machine's cores
    for its models; run more behind a load balancer for more throughput (see docs/serving.md)."""
    import uvicorn

    from ..serve.app import create_app
    from ..system import System

    if host not in LOOPBACK and not api_key:
        raise SearchtuneError(f"binding to {host} exposes the search API to the network: pass --api-key (or set "
                              "SEARCHTUNE_SERVE_API_KEY); every request but /health will have to carry it")
    for name, value in (("--max-batch", max_batch), ("--max-queue", max_queue), ("--timeout", timeout)):
        if not value > 0:
            raise SearchtuneError(f"{name} must be above 0, got {value}")
    chosen = System.load(system)
    log_path = None if no_log else log or ((system if system.is_dir() else system.parent) / "served.jsonl")
    app_ = create_app(chosen, index_config=config.index, api_key=api_key, log_path=log_path, max_batch=max_batch,
                      max_wait_ms=max_wait_ms, max_queue=max_queue, cache_size=cache_size, timeout_s=timeout)
    out_console.print(f"serving {chosen.describe()} on http://{host}:{port} (docs at /docs)"
                      + (f"; logging to {log_path}" if log_path else ""))
    uvicorn.run(app_, host=host, port=port, log_level="warning", timeout_graceful_shutdown=10)
