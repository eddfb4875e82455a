"""Progress on long steps: one bar with an ETA while it runs, one summary line when it ends.

Library code calls :func:`bar` (or :func:`progress_bar` for a bar of its own); whether anything is drawn is
the caller's choice (``progress=False``, or the CLI's ``--quiet``), and a bar is drawn only on a terminal.
The summary line goes to the ``searchtune`` logger, which the CLI shows at INFO.
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


def progress_bar(what: str, enabled: bool = True, *extra):
    """A rich progress bar on stderr with done/total and ETA (``extra``: more columns); drawn only on a
    terminal, so a log file or the studio's job log gets the summary lines alone."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    return Progress(TextColumn(f"[bold]{what}"), BarColumn(), MofNCompleteColumn(), TextColumn("ETA"),
                    TimeRemainingColumn(), *extra, console=console, disable=not (enabled and console.is_terminal),
                    transient=True)


@contextlib.contextmanager
def bar(what: str, total: int, enabled: bool = True, unit: str = "products") -> Iterator[Callable[[int], None]]:
    """``with bar("indexing base", n) as advance: ... advance(k)``; logs "<what>: n <unit> in 12s" at the end."""
    started = time.perf_counter()
    with progress_bar(what, enabled) as progress:
        task = progress.add_task(what, total=total)
        yield lambda n: progress.advance(task, n)
    logger.info("%s: %s %s in %s", what, f"{total:,}", unit, duration(time.perf_counter() - started))
