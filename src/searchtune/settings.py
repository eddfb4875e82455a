"""API keys in ``$SEARCHTUNE_HOME/.env``: written with mode 0600, only ever shown masked."""

from __future__ import annotations

import os
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
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _LINE.match(line)
        if m and not line.lstrip().startswith("#"):
            value = m.group(2).strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            out[m.group(1)] = value
    return out


def mask(key: str, value: str) -> str:
    if not value:
        return ""
    if key not in SECRET:
        return value
    return "•" * 8 + (value[-4:] if len(value) >= 12 else "")


def masked(path: Path | None = None) -> dict[str, dict]:
    values = read_env(path)
    return {k: {"label": label, "set": bool(values.get(k)), "value": mask(k, values.get(k, ""))}
            for k, label in KEYS.items()}


def write_env(updates: dict[str, str | None], path: Path | None = None) -> None:
    """Set (or, with an empty value / None, remove) keys; the file is created 0600 and stays 0600."""
    path = path or env_path()
    for key, value in updates.items():
        if key not in KEYS:
            raise SearchtuneError(f"unknown setting '{key}'; known: {', '.join(KEYS)}")
        if value is not None and ("\n" in value or "\r" in value):
            raise SearchtuneError(f"{key}: a value cannot contain a line break")
    values = read_env(path)
    for key, value in updates.items():
        if value:
            values[key] = value
        else:
            values.pop(key, None)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".env.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("# written by searchtune studio; keep private\n")
        for key, value in values.items():
            f.write(f"{key}={value}\n")
    os.chmod(tmp, 0o600)
    tmp.replace(path)
