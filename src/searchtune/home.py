"""The user directory, ``$SEARCHTUNE_HOME`` (default ``~/.searchtune``): the job store, API keys (``.env``),
the answer cache of synthetic queries and embedded Qdrant collections live there."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("SEARCHTUNE_HOME") or Path.home() / ".searchtune")


def default_data_dir() -> Path:
    """Where embedded collections live unless ``--data-dir`` says otherwise."""
    return home() / "qdrant"
