"""searchtune studio: a local web dashboard over the same pipeline as the CLI.

The studio launches jobs as ``python -m searchtune <command>`` subprocesses
(the same code path as the terminal; recorded in the job store), and reads
what they leave behind: the job store, logs, ``train_log.jsonl``, round
summaries, ``report.json`` and the Qdrant collections.

Safety model:
- bound to 127.0.0.1 by default; binding anywhere else needs a token, and then
  every request must carry it (``Authorization: Bearer`` or ``X-Searchtune-Token``;
  the page itself may be opened once with ``?token=``);
- every state-changing request must be JSON (a cross-site form cannot send
  that without a CORS preflight, which is never granted), carry a Host header
  naming this server (no DNS rebinding) and an Origin, if any, of this server;
- file arguments are paths relative to the allowed data roots, run names are
  plain names inside the runs directory: absolute paths, ``..`` and links out
  of those roots are refused.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import subprocess
import sys
import threading
from functools import lru_cache
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse

from .. import __version__
from ..errors import SearchtuneError
from ..jobs import JOB_ENV, JobStore
from ..models import BUNDLED

STATIC = Path(__file__).parent / "static"
DATA_EXTS = {".csv", ".tsv", ".json", ".jsonl", ".parquet"}
SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", "runs", "checkpoints", "qdrant", "model"}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$")
NUMBER_FIELDS = {"epochs": float, "lr": float, "batch_size": int, "max_seq_length": int, "ance_rounds": int}


class Studio:
    def __init__(self, *, data_roots: list[Path], runs_dir: Path, token: str | None = None,
                 host: str = "127.0.0.1", port: int = 8765, store: JobStore | None = None) -> None:
        self.data_roots = [Path(r).resolve() for r in data_roots]
        self.runs_dir = Path(runs_dir).resolve()
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.token = token
        self.host, self.port = host, port
        self.store = store or JobStore()
        self.store.reconcile()  # a restarted studio shows the truth about jobs that died with it

    # -- paths ---------------------------------------------------------------
    def data_path(self, rel: str) -> Path:
        """A data file named relative to one of the data roots; anything else is refused."""
        if not isinstance(rel, str) or not rel or "\x00" in rel or rel.startswith(("/", "\\")) or ".." in Path(rel).parts:
            raise HTTPException(400, f"invalid data path '{rel}': give a path relative to the data folder")
        for root in self.data_roots:
            path = (root / rel).resolve()
            if path.is_relative_to(root) and path.is_file():
                return path
        raise HTTPException(404, f"data file '{rel}' not found in the allowed data folders")

    def run_path(self, name: str, must_exist: bool = True) -> Path:
        if not isinstance(name, str) or not NAME.match(name):
            raise HTTPException(400, f"invalid run name '{name}': letters, digits, '.', '_' and '-' only")
        path = (self.runs_dir / name).resolve()
        if not path.is_relative_to(self.runs_dir):
            raise HTTPException(400, "run outside the runs folder")
        if must_exist and not path.is_dir():
            raise HTTPException(404, f"no run '{name}'")
        return path

    def files(self) -> list[str]:
        out = []
        for root in self.data_roots:
            for dirpath, dirnames, filenames in os.walk(root):
                depth = len(Path(dirpath).relative_to(root).parts)
                dirnames[:] = [d for d in sorted(dirnames) if d not in SKIP_DIRS and not d.startswith(".")
                               and depth < 3]
                for f in sorted(filenames):
                    if Path(f).suffix.lower() in DATA_EXTS:
                        out.append(str((Path(dirpath) / f).relative_to(root)))
        return sorted(set(out))

    # -- jobs ----------------------------------------------------------------
    def launch(self, spec: dict) -> dict:
        kind = spec.get("kind", "pipeline")
        if kind not in ("pipeline", "train", "evaluate"):
            raise HTTPException(400, f"the studio starts pipeline, train or evaluate jobs, not '{kind}'")
        name = spec.get("name") or ""
        out = self.run_path(name, must_exist=False)
        if out.exists() and any(out.iterdir()) and not spec.get("resume") and kind != "evaluate":
            raise HTTPException(409, f"run '{name}' exists; choose another name or tick resume")
        args = [kind, "--out", str(out)]
        for key in ("data", "catalog", "queries", "split"):
            if spec.get(key):
                args += [f"--{key}", str(self.data_path(spec[key]))]
        model = spec.get("model")
        if model:
            if model in BUNDLED:
                args += ["--model", model]
            else:  # a model from an earlier run
                args += ["--model", str(self.run_path(model) / "model")]
        for key, cast in NUMBER_FIELDS.items() if kind != "evaluate" else ():
            value = spec.get(key)
            if value not in (None, ""):
                try:
                    value = cast(value)
                except (TypeError, ValueError):
                    raise HTTPException(400, f"{key} must be a number, got '{value}'") from None
                args += [f"--{key.replace('_', '-')}", str(value)]
        if spec.get("negatives") and kind != "evaluate":
            if spec["negatives"] not in ("judged", "none", "ance", "bm25"):
                raise HTTPException(400, "negatives must be judged, none, ance or bm25")
            args += ["--negatives", spec["negatives"]]
        llm = str(spec.get("llm") or "").strip()
        if llm and kind != "evaluate":
            if llm.lower().endswith(".gguf"):  # a local model file: under the data root, like the data
                llm = str(self.data_path(llm))
            elif not re.fullmatch(r"[A-Za-z0-9][\w.:/@+-]{0,199}", llm):
                raise HTTPException(400, "llm must be a model name like openai:gpt-4o-mini or a .gguf file")
            args += ["--llm", llm]
        if spec.get("duplicate_products") in ("error", "first"):
            args += ["--duplicate-products", spec["duplicate_products"]]
        if spec.get("resume"):
            args.append("--resume")
        if not (spec.get("data") or spec.get("catalog")) and not (kind == "evaluate" and out.is_dir()):
            raise HTTPException(400, "choose the data: one file, or a catalog and a judgments file")
        command = "searchtune " + " ".join(args)
        job = self.store.create(kind, {k: v for k, v in spec.items() if v not in (None, "")}, command=command,
                                out_dir=str(out), origin="studio")
        log = open(job.log_path, "ab")  # noqa: SIM115 - handed to the child, closed by the watcher
        env = {**os.environ, JOB_ENV: job.id, "PYTHONUNBUFFERED": "1", "TERM": "dumb", "COLUMNS": "120"}
        proc = subprocess.Popen([sys.executable, "-m", "searchtune", *args], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        self.store.set_pid(job.id, proc.pid)

        def watch():
            code = proc.wait()
            log.close()
            current = self.store.get(job.id)
            if current.status in ("queued", "running"):  # died before it could report
                self.store.fail(job.id, f"the process exited with status {code} before reporting; see the log")

        threading.Thread(target=watch, daemon=True).start()
        return self.store.get(job.id).to_dict()

    def progress(self, job_id: str) -> dict:
        job = self.store.get(job_id)
        points, rounds = [], []
        if job.out_dir and Path(job.out_dir).is_dir():
            out = Path(job.out_dir)
            logs = sorted(out.glob("train_log.jsonl")) + sorted(out.glob("rounds/round-*/train_log.jsonl"),
                                                                key=lambda p: int(p.parent.name.split("-")[1]))
            offset = 0
            for path in logs:
                last = 0
                for line in path.read_text(encoding="utf-8").splitlines():
                    try:
                        entry = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line being written
                    if "loss" in entry:
                        last = entry["step"]
                        points.append({"step": offset + entry["step"], "loss": float(entry["loss"]),
                                       "phase": path.parent.name if path.parent != out else "train"})
                offset += last
            for f in sorted(out.glob("rounds/round-*/round.json"), key=lambda p: int(p.parent.name.split("-")[1])):
                r = json.loads(f.read_text())
                rounds.append({"round": r["round"], "source": r["source"], "dev_ndcg@10": r["dev"].get("ndcg@10")})
        return {"job": job.to_dict(), "loss": points, "rounds": rounds}

    # -- runs, collections, search --------------------------------------------
    def runs(self) -> list[dict]:
        out = []
        for d in sorted(self.runs_dir.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True):
            if not d.is_dir() or not NAME.match(d.name):
                continue
            report = d / "report.json"
            entry = {"name": d.name, "has_model": (d / "model" / "config.json").exists(), "report": report.exists()}
            if report.exists():
                r = json.loads(report.read_text())
                entry["ndcg@10"] = {k: v.get("ndcg@10") for k, v in r.get("metrics", {}).items()}
            out.append(entry)
        return out

    def report(self, name: str) -> dict:
        path = self.run_path(name) / "report.json"
        if not path.exists():
            raise HTTPException(404, f"run '{name}' has no report yet")
        return json.loads(path.read_text())

    def collections(self) -> list[dict]:
        from ..index import default_data_dir

        places = [("user", Path(default_data_dir()))]
        places += [(f"run:{d.name}", d / "qdrant") for d in sorted(self.runs_dir.iterdir()) if (d / "qdrant").is_dir()]
        out = []
        for place, folder in places:
            if not folder.is_dir():
                continue
            for meta_file in sorted(folder.glob("*.json")):
                if not (folder / meta_file.stem).is_dir():
                    continue
                meta = json.loads(meta_file.read_text())
                out.append({"place": place, "name": meta_file.stem, "points": meta.get("points"),
                            "model": meta.get("model"), "backend": meta.get("backend", "qdrant-edge"),
                            "complete": meta.get("complete", True),
                            "vectors": {n: {"kind": v["kind"], "distance": "cosine" if v["kind"] == "dense" else "dot",
                                            "modifier": "idf" if v.get("idf") else "none"}
                                        for n, v in (meta.get("vectors") or {"sparse": {"kind": "sparse"}}).items()},
                            "indexed": (meta.get("index_stats") or {}).get("documents_per_second")})
        return out

    def _collection_dir(self, place: str) -> Path:
        from ..index import default_data_dir

        if place == "user":
            return Path(default_data_dir())
        if place.startswith("run:"):
            return self.run_path(place[4:]) / "qdrant"
        raise HTTPException(400, f"unknown collection place '{place}'")

    def search(self, place: str, collection: str, query: str, k: int = 10, model: str | None = None,
               mode: str = "sparse") -> dict:
        from ..encode import encode_sparse, top_terms
        from ..index import EdgeIndex

        if not isinstance(query, str) or not query.strip():
            raise HTTPException(400, "type a query")
        if not NAME.match(collection or ""):
            raise HTTPException(400, f"invalid collection name '{collection}'")
        index = EdgeIndex(collection, self._collection_dir(place))
        if not index.exists():
            raise HTTPException(404, f"collection '{collection}' not found in {place}")
        meta = index.metadata()
        signature = (meta.get("signature") or {}).get("models") or {}
        if mode not in ("sparse", "dense", "hybrid", "bm25"):
            raise HTTPException(400, "mode must be sparse, dense, hybrid or bm25")
        if mode != "sparse" and not signature.get("dense_base"):
            raise HTTPException(400, f"collection '{collection}' has no dense/BM25 vectors; index it with "
                                     "`searchtune index --dense-model ...` for that mode")
        ref = model or signature.get("sparse_base") or signature.get("sparse_tuned") or meta.get("model") or "splade-tiny"
        m = _model(ref)
        vec = encode_sparse(m, [query], kind="query")
        try:
            if signature:
                from ..systems import Models, search_system

                models = Models(sparse_base=signature.get("sparse_base") or signature.get("sparse_tuned"),
                                dense_base=signature.get("dense_base") or signature.get("dense_tuned"))
                system = {"sparse": "sparse-base", "dense": "dense-base", "hybrid": "hybrid-base",
                          "bm25": "bm25-qdrant"}[mode]
                hits = search_system(index, models, [query], system, k=max(1, min(int(k), 100)))[0]
            else:
                hits = index.search(vec, limit=max(1, min(int(k), 100)))[0]
        except Exception as exc:  # e.g. the shard is being written by a running job
            raise HTTPException(409, f"collection '{collection}' is busy or unreadable ({exc})") from None
        finally:
            index.close()
        return {"collection": collection, "place": place, "model": ref, "mode": mode,
                "terms": [{"term": t, "weight": round(w, 3)} for t, w in top_terms(m, vec, 12)],
                "hits": [{"product_id": h.product_id, "score": round(h.score, 4), "title": h.payload.get("title", ""),
                          "brand": h.payload.get("brand", "")} for h in hits]}


@lru_cache(maxsize=4)
def _model(ref: str):
    from ..models import load_sparse_encoder

    return load_sparse_encoder(ref)


def create_app(studio: Studio) -> FastAPI:
    app = FastAPI(title="searchtune studio", version=__version__, docs_url=None, redoc_url=None)
    allowed_hosts = {f"127.0.0.1:{studio.port}", f"localhost:{studio.port}", f"{studio.host}:{studio.port}",
                     "testserver"}

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
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            host = request.headers.get("host", "")
            if host not in allowed_hosts:
                return JSONResponse({"error": f"refused: unexpected Host '{host}'"}, status_code=403)
            origin = request.headers.get("origin")
            if origin and origin.split("://", 1)[-1] != host:
                return JSONResponse({"error": "refused: cross-origin request"}, status_code=403)
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
        try:
            data = await request.json()
        except ValueError:
            raise HTTPException(400, "the request body is not valid JSON") from None
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
        return {"jobs": [j.to_dict() for j in studio.store.list(status=status or None, kind=kind or None,
                                                                 limit=limit)]}

    @app.post("/api/jobs")
    async def start_job(request: Request):
        return studio.launch(await body(request))

    @app.get("/api/jobs/{job_id}")
    def job(job_id: str):
        studio.store.reconcile()
        return studio.store.get(job_id).to_dict()

    @app.get("/api/jobs/{job_id}/log")
    def job_log(job_id: str, offset: int = 0):
        text, end = studio.store.log(job_id, max(0, offset))
        return {"text": text, "offset": end}

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

    @app.get("/api/collections")
    def collections():
        return {"collections": studio.collections()}

    @app.post("/api/search")
    async def search(request: Request):
        b = await body(request)
        return studio.search(b.get("place", "user"), b.get("collection", ""), b.get("query", ""), b.get("k", 10),
                             b.get("model"), b.get("mode", "sparse"))

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
          runs_dir: str | Path = "runs") -> None:
    import uvicorn

    if host not in ("127.0.0.1", "localhost", "::1") and not token:
        raise SearchtuneError(f"binding to {host} exposes the studio to the network: pass --token (or set "
                              "SEARCHTUNE_STUDIO_TOKEN); every request will have to carry it")
    studio = Studio(data_roots=[Path(r) for r in (data_roots or [Path.cwd()])], runs_dir=Path(runs_dir),
                    token=token, host=host, port=port)
    uvicorn.run(create_app(studio), host=host, port=port, log_level="warning")
