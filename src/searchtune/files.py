"""Files a crash cannot garble, and stores one process writes at a time.

:func:`write_text` writes beside the target and renames (atomic on POSIX): a reader sees the old file or the
new one, never half of one. :class:`Lock` is the one lock every store that two processes can write takes (a
run directory: :class:`RunLock`; an event store; the job store while it is created or migrated):
``fcntl.flock`` on a file that names the holder's pid. Each job store write is an SQLite transaction besides.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from .errors import SearchtuneError

logger = logging.getLogger(__name__)


def write_text(path: str | Path, text: str, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` atomically (``mode``: the file's permissions, e.g. 0o600). In distributed
    training only rank 0 writes (:mod:`searchtune.distributed`): the other ranks' writes are dropped here."""
    from .distributed import is_main

    if not is_main():
        return
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


_HELD: dict[Path, int] = {}  # the lock files this process holds


class Lock:
    """An exclusive lock on ``path`` between processes: ``fcntl.flock`` on the file, which the kernel takes
    atomically and releases when its holder exits, however it exits, so a lock is never left behind. The
    holder's pid is written into the file to name it; the file itself stays (deleting it would let a second
    process lock a new file while the first still holds the old one).

    ``acquire(wait=False)`` refuses a held lock at once naming the holder; ``wait=True`` blocks until it is free.
    A file naming a live process that holds no lock (written by a searchtune before this one) is refused too.
    """

    def __init__(self, path: str | Path, what: str = "this folder") -> None:
        self.path, self.what = Path(path), what
        self.fd: int | None = None
        self.shared = False  # this process held the lock already (through another Lock object)

    @property
    def held(self) -> bool:
        return self.fd is not None or self.shared

    def holder(self) -> int:
        try:
            return int(self.path.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def acquire(self, wait: bool = False) -> Lock:
        import fcntl

        if self.held:
            return self
        if self.path.resolve() in _HELD:  # flock would refuse this process a second time: it is ours already
            self.shared = True
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            raise SearchtuneError(f"{self.what} is in use by another searchtune process (pid {self.holder()}); "
                                  "wait for it to finish or stop it, then run again") from None
        previous = int(os.pread(fd, 32, 0).decode(errors="replace").strip() or 0) if os.fstat(fd).st_size else 0
        if previous and previous != os.getpid():
            if process_alive(previous) and not wait:  # an owner from before this lock: its pid is all we know
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
                raise SearchtuneError(f"{self.what} is in use by another searchtune process (pid {previous}); wait "
                                      "for it to finish or stop it, then run again")
            if not process_alive(previous):
                logger.warning("%s: taking over a lock left by a process that is gone (pid %s)", self.path, previous)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self.fd = fd
        _HELD[self.path.resolve()] = fd
        return self

    def release(self) -> None:
        import fcntl

        if self.shared:
            self.shared = False
            return
        if self.fd is None:
            return
        _HELD.pop(self.path.resolve(), None)
        try:
            os.ftruncate(self.fd, 0)  # no owner named any more
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> Lock:
        return self.acquire(wait=True)

    def __exit__(self, *exc) -> None:
        self.release()


class RunLock(Lock):
    """``RUN/.lock``: one process owns a run directory at a time."""

    def __init__(self, folder: str | Path) -> None:
        super().__init__(Path(folder) / ".lock", what=str(folder))
