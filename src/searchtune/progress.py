"""Progress on long steps: one bar with an ETA while it runs, one summary line when it ends.

Library code calls :func:`bar`; whether anything is drawn is the caller's choice (``progress=False``, or
the CLI's ``--quiet``). The summary line goes to the ``searchtune`` logger, which the CLI shows at INFO.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator

logger = logging.getLogger("searchtune")


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


@contextlib.contextmanager
def bar(what: str, total: int, enabled: bool = True, unit: str = "products") -> Iterator[Callable[[int], None]]:
    """``with bar("indexing base", n) as advance: ... advance(k)``; logs "<what>: n <unit> in 12s" at the end."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    started = time.perf_counter()
    with Progress(TextColumn(f"[bold]{what}"), BarColumn(), MofNCompleteColumn(), TextColumn("ETA"),
                  TimeRemainingColumn(), disable=not enabled, transient=True) as progress:
        task = progress.add_task(what, total=total)
        yield lambda n: progress.advance(task, n)
    logger.info("%s: %s %s in %s", what, f"{total:,}", unit, duration(time.perf_counter() - started))
