"""The configuration reference (``docs/config-reference.md``), generated from the config dataclasses.

``python -m searchtune.config.reference > docs/config-reference.md`` writes it; a test keeps the file current.
"""

from __future__ import annotations

import dataclasses

from . import Config


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        value = f.default_factory()  # type: ignore[misc]
    else:
        return ""
    return "" if value is None else f"`{value}`"


def markdown() -> str:
    out = ["# Configuration reference", "",
           "Every setting of a run, by section, as in a `--config` YAML file (`section: {field: value}`) and in the "
           "studio's JSON. A setting with a flag is also a command-line option of the commands that read its "
           "section; one without is set in the file only. Generated from `searchtune/config/sections.py` by "
           "`python -m searchtune.config.reference`.", ""]
    for section in dataclasses.fields(Config):
        cls = type(getattr(Config(), section.name))
        doc = " ".join((cls.__doc__ or "").split())
        out += [f"## `{section.name}`", "", doc, "", "| field | flag | default | what |", "|---|---|---|---|"]
        for f in dataclasses.fields(cls):
            meta = f.metadata
            flag = meta.get("flag")
            if flag is True:
                flag = "--" + f.name.replace("_", "-")
            flag = f"`{flag}`" if flag else "(file only)"
            text = " ".join(str(meta.get("help", "")).split()).replace("|", "\\|")
            out.append(f"| `{f.name}` | {flag} | {_default(f).replace('|', '/')} | {text} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover
    print(markdown(), end="")
