"""The ``searchtune`` command line (typer + rich): a thin layer over the library.

Every command's options come from the config dataclasses (:mod:`.options`); flags left out keep the value
from ``--config`` or the default in :mod:`searchtune.config`. User errors print one line and exit with
status 2. Commands: :mod:`.run` (pipeline, train, evaluate), :mod:`.collections` (index, search, mine),
:mod:`.tools` (generate-queries, export, average, publish, studio, jobs), :mod:`.events` (events import, simulate,
show; compare), :mod:`.multi` (train-multi, matrix).
"""

from . import run, collections, serve, events, multi, tools  # noqa: F401, I001  (each registers its commands on app; this order is the help's)
from .app import app

__all__ = ["app"]
