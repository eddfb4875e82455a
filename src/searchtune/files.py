"""Files a crash cannot garble, and a run directory one process owns at a time.

:func:`write_text` writes beside the target and renames (atomic on POSIX): a reader sees the old file or the
new one, never half of one. :class:`RunLock` is a lock file (``RUN/.lock``) holding the owner's pid; a lock
whose process is gone is stale and taken over with a note, a live one is refused with its pid.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from .errors import SearchtuneError

logger = logging.getLogger(__name__)


def write_text(path: str | Path, text: str, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` atomically (``mode``: the file's permissions, e.g. 0o600)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666 if mode is None else mode)  # umask applies
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: str | Path, obj, **kw) -> None:
    write_text(path, json.dumps(obj, ensure_ascii=False, **kw))


def read_json(path: str | Path, what: str = "file"):
    """A JSON file, or None (with a note) when it is missing or unreadable: a cache that is lost is redone."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        logger.warning("%s: unreadable %s (%s); it is made again", path, what, type(exc).__name__)
        return None



def process_alive(pid: int | None) -> bool:
    """Whether process ``pid`` runs (a zombie, exited but not yet reaped, does not)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (exited, not yet reaped by its parent) is not alive
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


class RunLock:
    """``RUN/.lock`` with the owner's pid, taken by :meth:`acquire` and removed by :meth:`release`."""

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / ".lock"
        self.held = False

    def acquire(self) -> RunLock:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                try:
                    pid = int(self.path.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and pid != os.getpid() and process_alive(pid):
                    raise SearchtuneError(f"{self.path.parent} is in use by another searchtune process (pid {pid}); "
                                          "wait for it to finish or stop it, then run again") from None
                logger.warning("%s: taking over a lock left by a process that is gone (pid %s)", self.path, pid)
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            self.held = True
            return self
        raise SearchtuneError(f"{self.path}: cannot take the run's lock; remove the file if no run is going on")

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False
