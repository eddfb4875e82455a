"""The typer application the command modules register on, and the groups ``searchtune --help`` lists."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__
from .options import out_console

# Help groups, main job first (typer lists panels in the order their first command registers: cli/__init__.py)
MAIN = "The main job"
STEPS = "Steps one at a time"
SEARCH = "Search and ship"
LOGS = "Search logs"
MULTI = "Several catalogs"
TOOLS = "Studio and jobs"

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode="markdown",
                  help="Fine-tune search models on a product catalog, index them in Qdrant, and prove they beat "
                       "BM25 on held-out queries. Start with `searchtune inspect`, then `searchtune pipeline`.")


def _version(value: bool) -> None:
    if value:
        out_console.print(f"searchtune {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True,
                                               callback=_version)] = False) -> None:
    """Fine-tune search models on a product catalog, index them in Qdrant, and prove they beat BM25 on held-out
    queries. Start with `searchtune inspect`, then `searchtune pipeline`."""
