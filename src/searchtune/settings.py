"""API keys in ``$SEARCHTUNE_HOME/.env``: written with mode 0600, only ever shown masked."""

from __future__ import annotations

import re
from pathlib import Path

from .errors import SearchtuneError
from .home import home

# The keys the studio's Settings page manages (others in the file are kept as they are).
KEYS = {
    "OPENAI_API_KEY": "LLM provider (OpenAI-compatible) API key",
    "OPENAI_BASE_URL": "LLM provider base URL",
    "ANTHROPIC_API_KEY": "Anthropic API key",
    "OPENROUTER_API_KEY": "OpenRouter API key",
    "SEARCHTUNE_LLM_API_KEY": "API key for the model at SEARCHTUNE_LLM_BASE_URL",
    "SEARCHTUNE_LLM_BASE_URL": "OpenAI-compatible base URL for --llm models without a provider prefix",
    "QDRANT_URL": "Qdrant server URL",
    "QDRANT_API_KEY": "Qdrant API key",
    "HF_TOKEN": "Hugging Face hub token (publish)",
}
SECRET = {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY", "SEARCHTUNE_LLM_API_KEY", "QDRANT_API_KEY",
          "HF_TOKEN"}
_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


def env_path() -> Path:
    return home() / ".env"


def read_env(path: Path | None = None) -> dict[str, str]:
    path = path or env_path()
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").split("\n"):  # "\n" only: U+2028 is not a line break here
        m = _LINE.match(line)
        if m and not line.lstrip().startswith("#"):
            value = m.group(2).strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            out[m.group(1)] = value
    return out


URLS = {"OPENAI_BASE_URL", "SEARCHTUNE_LLM_BASE_URL", "QDRANT_URL"}  # where keys are sent: changes are recorded


def mask(key: str, value: str) -> str:
    if not value:
        return ""
    if key not in SECRET:
        return redact(value)  # a URL's user:password never shows
    return "•" * 8 + (value[-4:] if len(value) >= 12 else "")


def masked(path: Path | None = None) -> dict[str, dict]:
    values = read_env(path)
    return {k: {"label": label, "set": bool(values.get(k)), "value": mask(k, values.get(k, ""))}
            for k, label in KEYS.items()}


_URL_CREDENTIALS = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s:@]+(?::[^/\s@]*)?@")


def redact(text: str) -> str:
    """``https://user:secret@host`` → ``https://***@host``: credentials in URLs never reach a record."""
    return _URL_CREDENTIALS.sub(r"\1***@", text)


def _check_value(key: str, value: str) -> str:
    """A value safe on one line of .env: no control, format or line/paragraph separator characters (U+2028
    would start a second line for some readers), quoted when it holds spaces, '#' or quotes."""
    import unicodedata

    bad = next((c for c in value if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")), None)
    if bad is not None:
        raise SearchtuneError(f"{key}: a value cannot contain the control or separator character U+{ord(bad):04X}")
    if not any(c in value for c in " #'\"\\$`"):
        return value
    if "'" not in value:
        return f"'{value}'"
    raise SearchtuneError(f"{key}: a value with spaces or '#' cannot also contain a single quote")


def write_env(updates: dict[str, str | None], path: Path | None = None) -> None:
    """Set (or, with an empty value / None, remove) keys, line by line: the user's other lines, comments and
    quoting stay as they are. The file is created 0600 and stays 0600; it is replaced atomically."""
    from .files import write_text

    path = path or env_path()
    lines_for: dict[str, str | None] = {}
    for key, value in updates.items():
        if key not in KEYS:
            raise SearchtuneError(f"unknown setting '{key}'; known: {', '.join(KEYS)}")
        lines_for[key] = f"{key}={_check_value(key, value)}" if value else None
    old = path.read_text(encoding="utf-8").rstrip("\n").split("\n") if path.exists() else ["# searchtune settings; keep private"]
    out, done = [], set()
    for line in old:
        m = _LINE.match(line)
        key = m.group(1) if m and not line.lstrip().startswith("#") else None
        if key in lines_for:
            if key not in done and lines_for[key] is not None:
                out.append(lines_for[key])
            done.add(key)
        else:
            out.append(line)
    out += [line for key, line in lines_for.items() if key not in done and line is not None]
    path.parent.mkdir(parents=True, exist_ok=True)
    before = read_env(path) if path.exists() else {}
    write_text(path, "\n".join(out) + "\n", mode=0o600)
    _record({k: v for k, v in updates.items() if k in URLS and (v or None) != (before.get(k) or None)},
            path.with_name("settings.log"))


def _record(changed: dict[str, str | None], log: Path) -> None:
    """One JSON line per change of where keys are sent (``settings.log`` beside the .env), credentials
    redacted: who changed a base URL, and when, can be read back."""
    import json
    import os
    import time

    if not changed:
        return
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        for key, value in changed.items():
            f.write(json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "key": key,
                                "value": redact(value) if value else None, "pid": os.getpid()}) + "\n")
