"""Command-line options built from the config dataclasses, and the plumbing every command shares.

A config field with ``flag`` metadata (:func:`searchtune.config.opt`) becomes an option of every command
that takes its section: name, type and help come from the field, so there are no copied signatures. A
flag the user leaves out is ``None`` and keeps the value from ``--config`` or the default.
:func:`config_command` registers a command whose body receives the resolved, validated :class:`Config`.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import shlex
import sys
import types
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler

from ..config import COLUMN_ROLES, Config
from ..device import use as use_device
from ..errors import SearchtuneError

console = Console(stderr=True, soft_wrap=True)  # progress, log lines and errors
out_console = Console(soft_wrap=True)  # results


@dataclass(frozen=True)
class Flag:
    section: str
    field: str
    decl: str  # "--lr"
    param: str  # the Python parameter name: "lr"
    annotation: Any
    help: str
    meta: dict = field(compare=False)  # the field's metadata: parse, also, implies, envvar
    role: str | None = None  # a column-role flag of data.columns


def _flags(sections: tuple[str, ...], rename: dict[str, str], only: dict[str, tuple[str, ...]] | None = None
           ) -> list[Flag]:
    out, only = [], only or {}
    for section in sections:
        cls = type(getattr(Config(), section))
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            meta = f.metadata
            if not meta or meta.get("flag") is False or (section in only and f.name not in only[section]):
                continue
            decl = rename.get(f"{section}.{f.name}") or (meta["flag"] if isinstance(meta["flag"], str)
                                                         else "--" + f.name.replace("_", "-"))
            if "{role}" in decl:
                for role in COLUMN_ROLES:
                    d = decl.format(role="id" if role == "product_id" else role.replace("_", "-"))
                    out.append(Flag(section, f.name, d, d[2:].replace("-", "_"), str | None,
                                    f"Column holding the {role.replace('_', ' ')} (detected when left out).", meta,
                                    role))
                continue
            hint = hints[f.name]
            if meta.get("parse"):
                hint = str
            elif hint is bool:
                decl = f"{decl}/--no-{decl[2:]}"
            elif typing.get_origin(hint) in (typing.Union, types.UnionType):
                hint = next(a for a in typing.get_args(hint) if a is not type(None))
            out.append(Flag(section, f.name, decl, decl.split("/")[0][2:].replace("-", "_"), hint | None,
                            meta.get("help", ""), meta))
    return out


def _parameters(flags: list[Flag]) -> list[inspect.Parameter]:
    params = []
    for flag in flags:
        option = typer.Option(*flag.decl.split(" "), help=flag.help or None, envvar=flag.meta.get("envvar"),
                              show_default=False, rich_help_panel=f"{flag.section} options")
        params.append(inspect.Parameter(flag.param, inspect.Parameter.KEYWORD_ONLY, default=None,
                                        annotation=Annotated[flag.annotation, option]))
    return params


def apply_flags(config: Config, flags: list[Flag], values: dict[str, Any]) -> Config:
    """Set every flag the user gave (not None) on ``config``: parsed, and on the fields it names with ``also``;
    then the fields a given flag ``implies`` unless their own flag was given too."""
    given = {(f.section, f.field) for f in flags if values.get(f.param) not in (None, [])}
    for flag in flags:
        value = values.get(flag.param)
        if value is None or value == []:
            continue
        if flag.role:
            getattr(config, flag.section).columns[flag.role] = value
            continue
        meta = flag.meta
        if meta.get("parse"):
            try:
                value = meta["parse"](value)
            except SearchtuneError as exc:  # the parser knows the value, the flag knows its name
                raise SearchtuneError(f"{flag.decl.split('/')[0]}: {exc}") from None
        if isinstance(value, Path):
            value = str(value)
        targets = [(flag.section, flag.field)] + [tuple(a.split(".")) for a in meta.get("also", ())]
        parts = value if isinstance(value, tuple) and len(value) == len(targets) else [value] * len(targets)
        for (sec, name), part in zip(targets, parts):
            _set(config, sec, name, part)
        for name, implied in meta.get("implies", {}).items():
            if value and (flag.section, name) not in given:
                _set(config, flag.section, name, implied)
    return config


def _set(config: Config, section: str, name: str, value: Any) -> None:
    from ..config import update

    update(getattr(config, section), {name: value}, where="flags")


# -- commands ---------------------------------------------------------------------
ConfigFile = Annotated[Path | None, typer.Option("--config", help="YAML config (sections data, train, mine, "
                                                 "generate, evaluate, index, rerank, events); flags override "
                                                 "it.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Also the libraries' log lines.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or step summaries; results and "
                                                           "errors only.")]
Device = Annotated[str | None, typer.Option("--device", envvar="SEARCHTUNE_DEVICE", show_default="auto",
                                            help="Where models compute: auto (a GPU when torch sees one), cpu, "
                                                 "cuda, cuda:N or mps.")]


def config_command(app: typer.Typer, name: str | None = None, *, sections: tuple[str, ...] = ("data",),
                   rename: dict[str, str] | None = None, job: str | None = None, run_dir: str | None = None,
                   default_config=None, panel: str | None = None, only: dict[str, tuple[str, ...]] | None = None,
                   models: bool = False):
    """Register ``fn(config, *, quiet, ...own options)`` as a command with the options of ``sections``.

    ``rename`` gives a field another flag in this command (``{"section.field": "--flag"}``); ``job`` records
    the run in the job store under that kind (``run_dir``: the option holding its run directory);
    ``default_config(own_options)`` names the YAML read when ``--config`` is not given; ``panel``: the group
    ``searchtune --help`` lists it in; ``only``: the fields of a section the command reads, when not all (a
    command lists only the options it reads); ``models``: the command loads models, so it takes ``--device``.
    """
    def register(fn):
        own = [p for p in inspect.signature(fn, eval_str=True).parameters.values() if p.name not in ("config", "quiet")]
        wants_quiet = "quiet" in inspect.signature(fn).parameters
        flags = _flags(sections, rename or {}, only or {})
        clash = {f.param for f in flags} & {p.name for p in own}
        if clash:
            raise TypeError(f"{fn.__name__}: options {clash} are both config flags and own options")
        common = [inspect.Parameter("config_file", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ConfigFile),
                  inspect.Parameter("verbose", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Verbose),
                  inspect.Parameter("quiet", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Quiet)]
        if models:
            common.append(inspect.Parameter("device", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Device))

        @functools.wraps(fn)
        def command(**kwargs):
            quiet = kwargs.pop("quiet")
            setup_logging(kwargs.pop("verbose"), quiet)
            values = {f.param: kwargs.pop(f.param) for f in flags}
            config_file = kwargs.pop("config_file")
            device = kwargs.pop("device", None)
            if wants_quiet:
                kwargs["quiet"] = quiet

            def prepare() -> Config:
                use_device(device)
                path = config_file or (default_config(kwargs) if default_config else None)
                return apply_flags(Config.load(path) if path else Config(), flags, values).validate()

            return run_job(lambda config: fn(config, **kwargs), job, kwargs.get(run_dir) if run_dir else None,
                           prepare=prepare, resumable="resume" in kwargs)

        params = own + common + _parameters(flags)
        params.sort(key=lambda p: p.kind)  # positional arguments first
        command.__signature__ = inspect.Signature(params)
        command.__annotations__ = {p.name: p.annotation for p in params}
        del command.__wrapped__
        app.command(name, rich_help_panel=panel)(command)
        return fn

    return register


def setup_logging(verbose: bool = False, quiet: bool = False) -> None:
    """The console: searchtune's step summaries at INFO (none with ``quiet``), the libraries' only with
    ``verbose``; their progress bars and warnings a user cannot act on are off."""
    from ..distributed import is_main

    quiet = quiet or not is_main()  # several processes: rank 0 speaks for them
    handler = RichHandler(console=console, show_path=False, show_time=False, show_level=verbose)
    handler.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler], format="%(message)s",
                        force=True)
    logging.getLogger("searchtune").setLevel(logging.WARNING if quiet else logging.INFO)
    for noisy in ("httpx", "sentence_transformers", "transformers", "bm25s", "numba", "datasets", "accelerate"):
        logging.getLogger(noisy).setLevel(logging.INFO if verbose else logging.ERROR)
    if not verbose:
        warnings.filterwarnings("ignore")  # library deprecation notices, ranx's numba casts: nothing to act on
        import os

        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TQDM_DISABLE", "1")  # libraries' own bars (e.g. the model card's widget examples)
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the "Loading weights" bar on every model load
        # transformers sets its own level once, lazily, over ours: its load report (a reranker's new score head
        # "MISSING") is expected, not something to act on
        hf_logging.set_verbosity_error()
        import datasets

        datasets.disable_progress_bars()


def run_job(fn, kind: str | None = None, out_dir: Path | None = None, *, prepare=None, resumable: bool = False):
    """Run a command body, turning user errors into one clear line and exit status 2.

    ``prepare()`` builds the Config the body is called with. With ``kind`` the run is recorded in the job store
    (``searchtune jobs``) with that config; the body may return ``{"metrics": ..., "artifacts": ...}``.
    """
    try:
        args = (prepare(),) if prepare else ()
        if kind is None:
            return fn(*args)
        from ..jobs import recorded

        with recorded(kind, args[0].to_dict() if args else {}, command=command_line(),
                      out_dir=None if out_dir is None else str(out_dir)) as job:
            result = fn(*args)
            if isinstance(result, dict):
                job.update(result)
            return result
    except SearchtuneError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: " + ("run the same command with --resume to continue where it stopped"
                                                    if resumable else "run the same command again"))
        raise typer.Exit(130) from None


SECRET_FLAGS = ("--qdrant-api-key", "--llm-api-key")


def command_line() -> str:
    """The command line as run, with secret values masked (it goes into reports and the job store)."""
    args, masked = sys.argv[1:], []
    for i, a in enumerate(args):
        if i and args[i - 1] in SECRET_FLAGS:
            a = "***"
        elif a.startswith(tuple(f + "=" for f in SECRET_FLAGS)):
            a = a.split("=", 1)[0] + "=***"
        masked.append(a)
    return "searchtune " + " ".join(shlex.quote(a) for a in masked)
