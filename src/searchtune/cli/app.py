"""The typer application the command modules register on."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__
from .options import out_console

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Fine-tune search models on a product catalog, index them in Qdrant, and prove they beat "
                       "BM25 on held-out queries.")


@app.callback()
def main(version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False) -> None:
    if version:
        out_console.print(__version__)
        raise typer.Exit()
