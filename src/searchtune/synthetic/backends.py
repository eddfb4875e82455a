"""LLM backends for query generation: any OpenAI-compatible chat API, or a local GGUF model in-process.

``--llm`` names the model, optionally behind a provider prefix:

=====================  ==========================================  ======================
``--llm``              base URL                                    API key from
=====================  ==========================================  ======================
``openai:gpt-4o-mini``  https://api.openai.com/v1                  ``OPENAI_API_KEY``
``openrouter:M``        https://openrouter.ai/api/v1               ``OPENROUTER_API_KEY``
``anthropic:M``         https://api.anthropic.com/v1/ (its OpenAI  ``ANTHROPIC_API_KEY``
                        compatible endpoint)
``ollama:M``            http://localhost:11434/v1                  none needed
``vllm:M``              http://localhost:8000/v1                   none needed
``llamacpp:M``          http://localhost:8080/v1 (llama.cpp server) none needed
``M`` (no prefix)       ``--llm-base-url``, else                    ``--llm-api-key``, else
                        ``SEARCHTUNE_LLM_BASE_URL``/``OPENAI_BASE_URL`` ``SEARCHTUNE_LLM_API_KEY``
                        else OpenAI                                 /``OPENAI_API_KEY``
``PATH.gguf`` or        in-process (cyllama, ``pip install          —
``gguf:PATH``           'searchtune[llm]'``)
=====================  ==========================================  ======================

``--llm-base-url`` and ``--llm-api-key`` always win. Keys are looked up in the
environment, then in ``$SEARCHTUNE_HOME/.env`` (the studio's Settings page),
then in ``./.env``. HTTP retries (429, 5xx, timeouts, connection errors) with
exponential backoff are the ``openai`` client's own (``max_retries``); an
authentication or unknown-model error stops the run at once, with the reason.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import SearchtuneError

logger = logging.getLogger(__name__)

PROVIDERS: dict[str, tuple[str, str | None]] = {
    "openai": ("https://api.openai.com/v1", "OPENAI_API_KEY"),
    "openrouter": ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "anthropic": ("https://api.anthropic.com/v1/", "ANTHROPIC_API_KEY"),
    "ollama": ("http://localhost:11434/v1", None),
    "vllm": ("http://localhost:8000/v1", None),
    "llamacpp": ("http://localhost:8080/v1", None),
}


class LLMFatal(SearchtuneError):
    """The provider refuses every request (bad key, unknown model, bad URL): stop the run."""


class LLMTransient(Exception):
    """One request failed after all retries (rate limit, server error, timeout): skip, retry on a rerun."""


@dataclass
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None  # in the provider's currency, when it reports one (OpenRouter does)


def _lookup(name: str | None) -> str | None:
    if not name:
        return None
    if os.environ.get(name):
        return os.environ[name]
    from ..settings import read_env

    for path in (None, Path(".env")):
        try:
            value = read_env(path).get(name)
        except OSError:
            value = None
        if value:
            return value
    return None


class OpenAIChat:
    """A chat model behind an OpenAI-compatible ``/chat/completions`` endpoint."""

    concurrent = True

    def __init__(self, model: str, base_url: str, api_key: str | None, *, timeout: float = 60.0,
                 max_retries: int = 5, max_tokens: int = 200) -> None:
        from openai import OpenAI

        self.model, self.base_url, self.max_tokens = model, base_url, max_tokens
        self.name = model
        self.client = OpenAI(base_url=base_url, api_key=api_key or "not-needed", timeout=timeout,
                             max_retries=max_retries)

    def complete(self, messages: list[dict], temperature: float = 0.0) -> Completion:
        import openai

        try:
            resp = self.client.chat.completions.create(model=self.model, messages=messages,
                                                       temperature=temperature, max_tokens=self.max_tokens)
        except (openai.AuthenticationError, openai.PermissionDeniedError) as e:
            raise LLMFatal(f"{self.base_url} refused the API key ({e.status_code}): set the key with "
                           "--llm-api-key, the provider's environment variable, or the studio's Settings") from e
        except openai.NotFoundError as e:
            raise LLMFatal(f"{self.base_url} does not know model '{self.model}' (404); check --llm") from e
        except (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError,
                openai.InternalServerError) as e:
            raise LLMTransient(f"{type(e).__name__}: {e}") from e
        except openai.APIStatusError as e:
            if e.status_code >= 500 or e.status_code in (408, 409, 429):
                raise LLMTransient(f"HTTP {e.status_code}") from e
            raise LLMFatal(f"{self.base_url} rejected the request (HTTP {e.status_code}): {e.message}") from e
        if not resp.choices:
            raise LLMTransient("the response has no choices")
        usage = resp.usage
        cost = getattr(usage, "cost", None) if usage is not None else None
        return Completion(resp.choices[0].message.content or "",
                          getattr(usage, "prompt_tokens", 0) or 0, getattr(usage, "completion_tokens", 0) or 0,
                          float(cost) if isinstance(cost, (int, float)) else None)


class LocalGGUF:
    """A GGUF chat model run in this process by llama.cpp (through ``cyllama``).

    One thread by default: on a small machine that also trains or encodes,
    more threads than free cores make generation dozens of times slower.
    """

    concurrent = False

    def __init__(self, path: str, *, threads: int = 1, max_tokens: int = 200, n_ctx: int = 2048, seed: int = 42) -> None:
        if not Path(path).is_file():
            raise SearchtuneError(f"GGUF model file not found: {path}; run `make llm` for the bundled one, "
                                  "or give the path of a .gguf file")
        try:
            import cyllama
        except ImportError as e:
            raise SearchtuneError("a local GGUF model needs cyllama: pip install 'searchtune[llm]' "
                                  "(or point --llm at an OpenAI-compatible server)") from e
        threads = max(1, threads)

        class _LLM(cyllama.LLM):  # cyllama does not expose the thread count; set it on each new context
            def _ensure_context(self, *a, **k):
                ctx = super()._ensure_context(*a, **k)
                ctx.set_n_threads(threads, threads)
                return ctx

        self.name = Path(path).name
        self.max_tokens, self.n_ctx, self.seed = max_tokens, n_ctx, seed
        self._cyllama = cyllama
        self.llm = _LLM(str(path), max_tokens=max_tokens, temperature=0.0, n_ctx=n_ctx, seed=seed)

    def complete(self, messages: list[dict], temperature: float = 0.0) -> Completion:
        config = self._cyllama.GenerationConfig(max_tokens=self.max_tokens, temperature=temperature,
                                                n_ctx=self.n_ctx, seed=self.seed)
        resp = self.llm.chat(messages, config=config)
        stats = getattr(resp, "stats", None)
        return Completion(str(resp), getattr(stats, "prompt_tokens", 0) or 0,
                          getattr(stats, "generated_tokens", 0) or 0)


def make_backend(llm: str, *, base_url: str | None = None, api_key: str | None = None, timeout: float = 60.0,
                 max_retries: int = 5, threads: int = 1):
    """The backend that ``--llm`` names (see the module docstring)."""
    spec = llm.strip()
    if not spec:
        raise SearchtuneError("--llm is empty: name a model, e.g. openai:gpt-4o-mini, ollama:qwen2.5:7b or a .gguf file")
    if spec.startswith("gguf:") or spec.lower().endswith(".gguf"):
        return LocalGGUF(spec.removeprefix("gguf:"), threads=threads)
    provider, _, model = spec.partition(":")
    key_var: str | None
    if provider in PROVIDERS and model:
        default_url, key_var = PROVIDERS[provider]
    else:
        model, default_url, key_var = spec, None, None
    url = base_url or (default_url if default_url else None) or _lookup("SEARCHTUNE_LLM_BASE_URL") \
        or _lookup("OPENAI_BASE_URL") or PROVIDERS["openai"][0]
    key = api_key or _lookup(key_var) or _lookup("SEARCHTUNE_LLM_API_KEY") or (
        _lookup("OPENAI_API_KEY") if key_var is None else None)
    needs_key = key_var is not None or url.startswith("https://api.openai.com")
    if needs_key and not key:
        raise SearchtuneError(f"no API key for {url}: pass --llm-api-key, set {key_var or 'OPENAI_API_KEY'}, "
                              "or save it in the studio's Settings")
    return OpenAIChat(model, url.rstrip("/") + ("/" if url.endswith("/") else ""), key, timeout=timeout,
                      max_retries=max_retries)
