"""``train-multi`` and ``matrix``: one model from several data sets, and every model on every set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..device import use as use_device
from ..errors import SearchtuneError
from .app import MULTI, app
from .options import Device, out_console, run_job, setup_logging

SetsFile = Annotated[Path, typer.Option("--sets", help="The data sets YAML (see docs/several-catalogs.md).")]
Out = Annotated[Path, typer.Option("--out", help="Output folder.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or step summaries.")]


@app.command("train-multi", rich_help_panel=MULTI)
def train_multi_command(sets: SetsFile, out: Out,
                        resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run.")] = False,
                        sampler: Annotated[str | None, typer.Option(help="proportional or round_robin (default: "
                                                                         "the file's).")] = None,
                        curriculum: Annotated[bool | None, typer.Option("--curriculum/--no-curriculum", help=
                                              "The other sets first, the target last (default: the file's).")]
                        = None,
                        device: Device = None, quiet: Quiet = False) -> None:
    """Train one model on several data sets (batches never mix sets; every set's dev and test queries held
    out); the model is OUT/model. `searchtune matrix` then measures it on every set."""
    setup_logging(quiet=quiet)

    def body():
        import dataclasses

        from ..multi import load_spec, train_multi

        spec = load_spec(sets)
        spec = dataclasses.replace(spec, sampler=sampler or spec.sampler,
                                   curriculum=spec.curriculum if curriculum is None else curriculum)
        if spec.sampler not in ("proportional", "round_robin"):
            raise SearchtuneError(f"--sampler must be proportional or round_robin, not '{spec.sampler}'")
        use_device(device)
        result = train_multi(spec, out, resume=resume, progress=not quiet)
        rows = ", ".join(f"{k}: {v['rows']:,} rows" for k, v in result.stats.get("datasets", {}).items())
        out_console.print(f"model: {result.model_dir} ({rows}; {result.stats['steps']} steps, "
                          f"{result.stats['seconds']:.0f}s)")
        return {"artifacts": {"model": str(result.model_dir)}}

    run_job(body, "train-multi", out, prepare=None, resumable=True)


@app.command("matrix", rich_help_panel=MULTI)
def matrix_command(sets: SetsFile, out: Out,
                   candidate: Annotated[list[str] | None, typer.Option("--candidate", help="NAME=PATH (repeat); bm25 and "
                                                                                  "the untuned base are always "
                                                                                  "rows.")] = None,
                   device: Device = None, quiet: Quiet = False) -> None:
    """Every model on every data set's held-out queries, each against its own catalog: OUT/matrix.md and
    OUT/matrix.json, ending with which model to deploy for which catalog and why."""
    setup_logging(quiet=quiet)

    def body():
        from ..multi import load_spec, run_matrix

        use_device(device)
        models = {}
        for item in candidate or []:
            name, sep, path = item.partition("=")
            if not sep or not name or not path:
                raise SearchtuneError(f"--candidate takes NAME=PATH, got '{item}'")
            if name in ("bm25", "base") or name in models:
                raise SearchtuneError(f"--candidate name '{name}' is taken (bm25 and base are always rows)")
            models[name] = path
        run_matrix(load_spec(sets), models, out, progress=not quiet)
        out_console.print((out / "matrix.md").read_text())
        return {"artifacts": {"matrix": str(out / "matrix.json")}}

    run_job(body, "matrix", out, prepare=None)
