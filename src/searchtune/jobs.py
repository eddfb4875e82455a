"""The job store: every pipeline, train, train-reranker, evaluate, index, mine, generate-queries, average,
export, publish, train-multi and matrix run, from the CLI or the studio.

One SQLite file, ``$SEARCHTUNE_HOME/jobs.db`` (``SEARCHTUNE_HOME`` defaults to
``~/.searchtune``; tests point it at a temporary folder). WAL mode, so readers
(the dashboard) never block the writer and a crash never leaves a torn file;
every write is one short ``BEGIN IMMEDIATE`` transaction. The schema is
versioned with ``PRAGMA user_version`` and changed only by appending to
``MIGRATIONS``, applied in order on open.

A job records its process id. A job still marked running whose process is
gone (crashed, killed with SIGKILL, machine rebooted) is marked failed the
next time anyone reads the store (:meth:`JobStore.reconcile`), with its log
kept, so a restarted studio shows the truth.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SearchtuneError
from .files import Lock
from .files import process_alive as _alive
from .home import home
from .settings import redact

logger = logging.getLogger(__name__)

KINDS = ("pipeline", "train", "train-reranker", "train-multi", "matrix", "evaluate", "index", "mine", "generate",
         "export", "publish", "average")
JOB_ENV = "SEARCHTUNE_JOB_ID"  # set by the studio for the process it launches

MIGRATIONS = [
    # 1: the jobs table
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        config TEXT NOT NULL DEFAULT '{}',
        command TEXT,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        pid INTEGER,
        log_path TEXT,
        out_dir TEXT,
        metrics TEXT NOT NULL DEFAULT '{}',
        artifacts TEXT NOT NULL DEFAULT '{}',
        error TEXT
    );
    CREATE INDEX jobs_created ON jobs (created_at);
    """,
    # 2: filters on the history page
    "CREATE INDEX jobs_status_kind ON jobs (status, kind);",
    # 3: who launched it (cli or studio)
    "ALTER TABLE jobs ADD COLUMN origin TEXT NOT NULL DEFAULT 'cli';",
]


@dataclass
class Job:
    id: str
    kind: str
    status: str
    config: dict = field(default_factory=dict)
    command: str | None = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    pid: int | None = None
    log_path: str | None = None
    out_dir: str | None = None
    metrics: dict = field(default_factory=dict)
    artifacts: dict = field(default_factory=dict)
    error: str | None = None
    origin: str = "cli"

    def to_dict(self) -> dict:
        return dict(self.__dict__)



class JobStore:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else home() / "jobs.db"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.logs = self.path.parent / "jobs"
        self.logs.mkdir(exist_ok=True)
        # creation and migrations under the lock every store shares (files.Lock); each write after that is an
        # SQLite transaction (BEGIN IMMEDIATE), SQLite's own lock
        with Lock(self.path.with_name(self.path.name + ".lock"), what=f"job store {self.path}"), \
                self._connect() as db:
            self._migrate(db)
        for f in (self.path, self.path.with_name(self.path.name + "-wal"), self.path.with_name(self.path.name + "-shm")):
            if f.exists():
                os.chmod(f, 0o600)  # configs and commands of every job: the owner's only

    # -- plumbing --------------------------------------------------------
    @contextlib.contextmanager
    def _connect(self):
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=30000")
            db.execute("PRAGMA synchronous=NORMAL")
            yield db
        finally:
            db.close()

    @contextlib.contextmanager
    def _write(self):
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")  # one writer at a time; readers go on (WAL)
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _migrate(self, db) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise SearchtuneError(f"{self.path} was written by a newer searchtune (schema {version}); upgrade")
        for n in range(version, len(MIGRATIONS)):
            db.execute("BEGIN IMMEDIATE")
            try:
                if db.execute("PRAGMA user_version").fetchone()[0] != n:  # another process migrated meanwhile
                    db.execute("ROLLBACK")
                    continue
                for statement in MIGRATIONS[n].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {n + 1}")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    @staticmethod
    def _job(row) -> Job:
        d = dict(row)
        for key in ("config", "metrics", "artifacts"):
            d[key] = json.loads(d[key] or "{}")
        return Job(**d)

    # -- writes ------------------------------------------------------------
    def create(self, kind: str, config: dict | None = None, *, command: str | None = None,
               out_dir: str | None = None, origin: str = "cli", status: str = "queued") -> Job:
        if kind not in KINDS:
            raise SearchtuneError(f"unknown job kind '{kind}'")
        job_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        log_path = str(self.logs / f"{job_id}.log")
        with self._write() as db:
            db.execute("INSERT INTO jobs (id, kind, status, config, command, created_at, log_path, out_dir, origin) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (job_id, kind, status, redact(json.dumps(config or {}, default=str)),
                        redact(command) if command else command, time.time(), log_path, out_dir, origin))
        Path(log_path).touch()
        return self.get(job_id)

    def _update(self, job_id: str, only_if: tuple[str, ...] | None = None, **values) -> bool:
        for key in ("config", "metrics", "artifacts"):
            if key in values:
                values[key] = redact(json.dumps(values[key], default=str))
        sets = ", ".join(f"{k} = ?" for k in values)
        sql = f"UPDATE jobs SET {sets} WHERE id = ?"
        args = [*values.values(), job_id]
        if only_if:
            sql += f" AND status IN ({', '.join('?' * len(only_if))})"
            args += list(only_if)
        with self._write() as db:
            return db.execute(sql, args).rowcount > 0

    def start(self, job_id: str, pid: int | None = None) -> None:
        self._update(job_id, only_if=("queued", "running"), status="running", started_at=time.time(),
                     pid=pid or os.getpid())

    def set_pid(self, job_id: str, pid: int) -> None:
        self._update(job_id, pid=pid)

    def succeed(self, job_id: str, metrics: dict | None = None, artifacts: dict | None = None) -> None:
        self._update(job_id, only_if=("queued", "running"), status="succeeded", finished_at=time.time(),
                     metrics=metrics or {}, artifacts=artifacts or {})

    def fail(self, job_id: str, error: str) -> None:
        self._update(job_id, only_if=("queued", "running"), status="failed", finished_at=time.time(), error=error)

    def mark_cancelled(self, job_id: str, reason: str = "cancelled") -> None:
        self._update(job_id, only_if=("queued", "running"), status="cancelled", finished_at=time.time(),
                     error=reason)

    def cancel(self, job_id: str) -> Job:
        """Stop a queued or running job: SIGTERM to its process group, then mark it cancelled."""
        job = self.get(job_id)
        if job.status not in ("queued", "running"):
            raise SearchtuneError(f"job {job_id} is {job.status}; only a queued or running job can be cancelled")
        if job.pid and _alive(job.pid) and job.pid != os.getpid():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(os.getpgid(job.pid), signal.SIGTERM)
        self.mark_cancelled(job_id, "cancelled by the user")
        return self.get(job_id)

    # -- reads ---------------------------------------------------------------
    def reconcile(self) -> int:
        """Mark running jobs whose process is gone as failed; return how many."""
        with self._connect() as db:
            rows = db.execute("SELECT id, pid FROM jobs WHERE status = 'running'").fetchall()
        dead = [r["id"] for r in rows if not _alive(r["pid"])]
        for job_id in dead:
            self.fail(job_id, "the process ended without reporting (crashed or killed); see the log")
        return len(dead)

    def get(self, job_id: str) -> Job:
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise SearchtuneError(f"no job '{job_id}'; see `searchtune jobs list`")
        return self._job(row)

    def list(self, *, status: str | None = None, kind: str | None = None, limit: int = 100) -> list[Job]:
        self.reconcile()
        sql, args = "SELECT * FROM jobs", []
        where = []
        if status:
            where.append("status = ?")
            args.append(status)
        if kind:
            where.append("kind = ?")
            args.append(kind)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC LIMIT ?"
        args.append(limit)
        with self._connect() as db:
            return [self._job(r) for r in db.execute(sql, args).fetchall()]

    def log(self, job_id: str, offset: int = 0, limit: int = 200_000) -> tuple[str, int]:
        path = Path(self.get(job_id).log_path or "")
        if not path.exists():
            return "", offset
        with path.open("rb") as f:
            f.seek(offset)
            chunk = f.read(limit)
        return chunk.decode("utf-8", errors="replace"), offset + len(chunk)


@contextlib.contextmanager
def recorded(kind: str, config: dict, *, command: str | None = None, out_dir: str | None = None,
             store: JobStore | None = None):
    """Record the enclosed work as a job (or adopt the studio's job from ``SEARCHTUNE_JOB_ID``).

    Yields a dict; put ``metrics`` and ``artifacts`` in it. Success, a user
    error (failed, with its message), Ctrl-C or SIGTERM (cancelled) are
    recorded; the log is tee'd to the job's log file.
    """
    from .distributed import is_main

    if not is_main():  # a distributed run is one job, recorded by rank 0
        yield {}
        return
    try:
        store = store or JobStore()
    except (sqlite3.Error, OSError) as exc:  # the job store must never stop the work itself
        logger.warning("job store unavailable (%s); not recording this run", exc)
        yield {}
        return
    job_id = os.environ.get(JOB_ENV)
    job = None
    if job_id:
        with contextlib.suppress(SearchtuneError):
            job = store.get(job_id)
    if job is None:
        job = store.create(kind, config, command=command, out_dir=out_dir)
    store.start(job.id, os.getpid())
    handler = None
    if not job_id:  # a studio job's output already goes to its log file
        handler = logging.FileHandler(job.log_path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(handler)
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not in the main thread: leave signals alone
        signal.signal(signal.SIGTERM, on_term)
    result: dict = {"job_id": job.id}
    try:
        yield result
    except KeyboardInterrupt:
        store.mark_cancelled(job.id, "interrupted (Ctrl-C or cancel); rerun with --resume to continue")
        raise
    except SearchtuneError as exc:
        store.fail(job.id, str(exc))
        raise
    except Exception as exc:
        store.fail(job.id, f"{type(exc).__name__}: {exc}")
        raise
    else:
        store.succeed(job.id, result.get("metrics"), result.get("artifacts"))
    finally:
        with contextlib.suppress(ValueError):
            signal.signal(signal.SIGTERM, previous)
        if handler is not None:
            logging.getLogger().removeHandler(handler)
            handler.close()
