"""searchtune studio: the local web dashboard (workspace.py: what it does; app.py: the routes)."""

from .app import create_app, serve
from .workspace import Studio

__all__ = ["Studio", "create_app", "serve"]
