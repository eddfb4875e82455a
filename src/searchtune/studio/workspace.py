"""What the studio does: jobs launched from a Config, their progress, and runs (search: :mod:`.search`).

The studio launches jobs as ``python -m searchtune <command> --config`` subprocesses (the same code path
as the terminal; recorded in the job store), and reads what they leave behind: the job store, logs,
``train_log.jsonl``, round summaries, ``report.json`` and the Qdrant collections. Paths from a request
are confined to the data roots and the runs folder.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

from fastapi import HTTPException

from ..config import Config
from ..errors import SearchtuneError
from ..jobs import JOB_ENV, JobStore
from ..models import BUNDLED
from ..rundir import RunDir

STATIC = Path(__file__).parent / "static"
DATA_EXTS = {".csv", ".tsv", ".json", ".jsonl", ".parquet"}
SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", "runs", "checkpoints", "qdrant", "model"}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$")


class Studio:
    def __init__(self, *, data_roots: list[Path], runs_dir: Path, token: str | None = None,
                 host: str = "127.0.0.1", port: int = 8765, store: JobStore | None = None,
                 extra_hosts: list[str] | None = None) -> None:
        self.extra_hosts = list(extra_hosts or [])
        self.data_roots = [Path(r).resolve() for r in data_roots]
        self.runs_dir = Path(runs_dir).resolve()
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.token = token
        self.host, self.port = host, port
        self.store = store or JobStore()
        self.store.reconcile()  # a restarted studio shows the truth about jobs that died with it

    def shown(self, value):
        """``value`` (text, or a dict or list holding text) with this studio's folders written short: a run's
        files as ``runs/NAME/...`` and a data file relative to its data root, as the pages name them."""
        if isinstance(value, str):
            for prefix, short in self._prefixes:
                value = value.replace(prefix, short)
            return value
        if isinstance(value, dict):
            return {k: self.shown(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.shown(v) for v in value]
        return value

    @property
    def _prefixes(self) -> list[tuple[str, str]]:
        pairs = [(f"{self.runs_dir}/", "runs/")] + [(f"{r}/", "") for r in self.data_roots]
        return sorted(pairs, key=lambda p: -len(p[0]))  # runs inside a data root: the longer prefix first

    def allowed_hosts(self) -> set[str]:
        """The Host headers this server answers to: loopback names, the bound address, this machine's names and
        addresses when bound to all of them, and ``--allowed-host`` (with the port, or without it for port 80)."""
        import socket

        names = {"127.0.0.1", "localhost", "[::1]", self.host, *self.extra_hosts}
        if self.host in ("0.0.0.0", "::", ""):
            try:
                hostname = socket.gethostname()
                names |= {hostname, socket.getfqdn()} | set(socket.gethostbyname_ex(hostname)[2])
            except OSError:
                pass
        out = set()
        for name in filter(None, names):
            name = name.lower()
            if ":" in name and not name.startswith("["):
                name = f"[{name}]"  # an IPv6 address in a Host header
            out |= {f"{name}:{self.port}"} | ({name} if self.port == 80 else set())
        return out

    # -- paths ---------------------------------------------------------------
    def data_path(self, rel: str, *, folder: bool = False) -> Path:
        """A data file (or, with ``folder``, a folder) named relative to one of the data roots; anything else is
        refused."""
        if not isinstance(rel, str) or not rel or "\x00" in rel or rel.startswith(("/", "\\")) or ".." in Path(rel).parts:
            raise HTTPException(400, f"invalid data path '{rel}': give a path relative to the data folder")
        for root in self.data_roots:
            path = (root / rel).resolve()
            if path.is_relative_to(root) and (path.is_file() or (folder and path.is_dir())):
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
                    suffixes = [x.lower() for x in Path(f).suffixes[-2:]]
                    if suffixes and (suffixes[-1] in DATA_EXTS or suffixes[-1] in (".gz", ".zst", ".bz2", ".xz")
                                     and len(suffixes) == 2 and suffixes[0] in DATA_EXTS):
                        out.append(str((Path(dirpath) / f).relative_to(root)))
        return sorted(set(out))

    # -- jobs ----------------------------------------------------------------
    def launch(self, spec: dict) -> dict:
        """Start a job from ``{"kind", "name", "resume", "config": {section: {field: value}}}`` (and, for
        ``evaluate``, ``"model"``: the tuned model). The config is checked like the CLI's (``Config.validate``),
        its file paths must lie under the data roots and its models be bundled ones or earlier runs; it is
        written to ``RUN/studio-config.yaml`` and the job runs ``searchtune <kind> --config`` on it."""
        kind = spec.get("kind", "pipeline")
        if kind not in ("pipeline", "train", "evaluate"):
            raise HTTPException(400, f"the studio starts pipeline, train or evaluate jobs, not '{kind}'")
        name = spec.get("name") or ""
        out = self.run_path(name, must_exist=False)
        if out.exists() and any(out.iterdir()) and not spec.get("resume") and kind != "evaluate":
            raise HTTPException(409, f"run '{name}' exists; choose another name or tick resume")
        self.store.reconcile()
        busy = [j for status in ("queued", "running") for j in self.store.list(status=status)
                if j.out_dir == str(out)]
        if busy:  # the run's lock would refuse it too, but only once the job had started
            raise HTTPException(409, f"run '{name}' is in use by job {busy[0].id}; wait for it or cancel it")
        config = self._config(spec.get("config") or {})
        if not (config.data.data or config.data.catalog) and not (kind == "evaluate" and out.is_dir()):
            raise HTTPException(400, "choose the data: one file, or a catalog and a judgments file")
        out.mkdir(parents=True, exist_ok=True)
        config_path = RunDir(out).studio_config
        config.save(config_path)
        args = [kind, "--out", str(out), "--config", str(config_path)]
        if kind == "evaluate" and spec.get("model"):
            args += ["--tuned-model", self._model(spec["model"])]
        if spec.get("resume"):
            args.append("--resume")
        command = "searchtune " + " ".join(args)
        job = self.store.create(kind, config.to_dict(), command=command, out_dir=str(out), origin="studio")
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

    def _model(self, ref: str) -> str:
        """A bundled model's short name, or the model of an earlier run (by run name)."""
        if ref in BUNDLED:
            return ref
        if isinstance(ref, str) and Path(ref).name == "model" and Path(ref).parent.parent == self.runs_dir:
            ref = Path(ref).parent.name  # a run's model given by its path, as a saved studio config names it
        return str(RunDir(self.run_path(ref)).model)

    def _reranker(self, ref: str) -> str:
        """The reranker of an earlier run (by run name)."""
        if isinstance(ref, str) and Path(ref).name == "reranker" and Path(ref).parent.parent == self.runs_dir:
            ref = Path(ref).parent.name
        return str(RunDir(self.run_path(ref)).reranker)

    def _config(self, raw: dict) -> Config:
        try:
            config = Config.from_dict(raw, where="config")
        except SearchtuneError as exc:
            raise HTTPException(400, str(exc)) from None
        d, g, t, m, r, e = config.data, config.generate, config.train, config.mine, config.rerank, config.events
        # every file a job reads lies under a data root (an event store may be a folder)
        for obj, key in ((d, "data"), (d, "catalog"), (d, "queries"), (d, "query_texts"), (d, "split"),
                         (g, "queries_file"), (t, "negatives_file"), (e, "log")):
            if getattr(obj, key):
                setattr(obj, key, str(self.data_path(getattr(obj, key), folder=obj is e)))
        for role, name in d.columns.items():  # names of columns, never paths or commands
            if not isinstance(name, str) or len(name) > 200 or any(c in name for c in "\x00\n\r"):
                raise HTTPException(400, f"data.columns.{role}: not a column name")
        # where keys are sent is set in Settings (with a record), never per job
        if g.cache or g.base_url or config.index != type(config.index)():
            raise HTTPException(400, "the answer cache, the LLM base URL and the Qdrant settings are not set per "
                                     "job in the studio: Settings holds SEARCHTUNE_LLM_BASE_URL, QDRANT_URL and the "
                                     "keys")
        llm = str(g.llm or "").strip()
        if llm.lower().removeprefix("gguf:").endswith(".gguf") or llm.lower().startswith("gguf:"):
            g.llm = str(self.data_path(llm[5:] if llm.lower().startswith("gguf:") else llm))  # under a data root
        elif llm and not re.fullmatch(r"[A-Za-z0-9][\w.:@+-]{0,199}", llm):
            raise HTTPException(400, "llm must be a model name like openai:gpt-4o-mini (no URL: the base URL is "
                                     "set in Settings) or a .gguf file in the data folder")
        # every model a job loads is a bundled one or an earlier run's
        t.model = self._model(t.model)
        t.dense_model = self._model(t.dense_model)
        r.model = self._model(r.model)
        m.start_model = m.start_model and self._model(m.start_model)
        m.soup_with = [self._model(x) for x in m.soup_with]
        m.denoise_with = m.denoise_with and self._reranker(m.denoise_with)
        try:
            return config.validate()
        except SearchtuneError as exc:
            raise HTTPException(400, str(exc)) from None

    def inspect(self, raw: dict) -> dict:
        """What a job's data settings will read (``searchtune inspect``): the preview and its short form."""
        from ..data import load_data
        from ..data.preview import preview, summary_lines

        config = self._config({"data": raw.get("data") or {}})
        try:
            p = preview(load_data(config.data))
        except SearchtuneError as exc:
            raise HTTPException(400, str(exc)) from None
        return {"preview": p, "lines": summary_lines(p) + [f"warning: {w}" for w in p["warnings"]]}

    def progress(self, job_id: str) -> dict:
        job = self.store.get(job_id)
        points, rounds = [], []
        if job.out_dir and Path(job.out_dir).is_dir():
            out = Path(job.out_dir)
            logs = sorted(out.glob("train_log.jsonl")) + sorted(out.glob("rounds/round-*/train_log.jsonl"),
                                                                key=lambda p: _round_number(p.parent))
            offset = 0
            for path in logs:
                last = 0
                for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                    try:
                        entry = json.loads(line)
                        if "loss" in entry:
                            step, loss = int(entry["step"]), float(entry["loss"])
                        else:
                            continue
                    except (ValueError, TypeError, KeyError):
                        continue  # a line being written, or not a log line
                    last = step
                    points.append({"step": offset + step, "loss": loss,
                                   "phase": path.parent.name if path.parent != out else "train"})
                offset += last
            for f in sorted(out.glob("rounds/round-*/round.json"), key=lambda p: _round_number(p.parent)):
                try:
                    r = json.loads(f.read_text())
                    rounds.append({"round": int(r["round"]), "source": str(r["source"]),
                                   "dev_ndcg@10": (r.get("dev") or {}).get("ndcg@10")})
                except (ValueError, OSError, TypeError, KeyError, AttributeError):
                    continue  # a round being written, or a broken file: left out of the chart
        return {"job": job.to_dict(), "loss": points, "rounds": rounds}

    # -- runs, collections, search --------------------------------------------
    def runs(self) -> list[dict]:
        out = []
        for d in sorted(self.runs_dir.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True):
            if not d.is_dir() or not NAME.match(d.name):
                continue
            report = RunDir(d).report_json
            entry = {"name": d.name, "has_model": RunDir(d).has_model(), "report": report.exists()}
            if report.exists():
                try:
                    r = json.loads(report.read_text())
                    entry["ndcg@10"] = {k: v.get("ndcg@10") for k, v in r.get("metrics", {}).items()}
                except (ValueError, OSError, AttributeError, TypeError):
                    entry["report"], entry["note"] = False, "report.json is unreadable"
            out.append(entry)
        return out

    def report(self, name: str) -> dict:
        path = RunDir(self.run_path(name)).report_json
        if not path.exists():
            raise HTTPException(404, f"run '{name}' has no report yet")
        try:
            return json.loads(path.read_text())
        except (ValueError, OSError):
            raise HTTPException(422, f"run '{name}': report.json is unreadable; rerun with --resume to write it "
                                     "again") from None


def _round_number(folder: Path) -> int:
    """``round-3`` → 3; a folder named otherwise sorts last."""
    tail = folder.name.rpartition("-")[2]
    return int(tail) if tail.isdigit() else 1 << 30
