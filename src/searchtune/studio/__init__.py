"""searchtune studio: the local web dashboard (see app.py)."""

from .app import Studio, create_app, serve

__all__ = ["Studio", "create_app", "serve"]
