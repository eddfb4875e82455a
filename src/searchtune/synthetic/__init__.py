"""Synthetic training queries from a catalog: an LLM (any OpenAI-compatible API or a local GGUF model) or,
with no LLM configured, an offline generator over the catalog's own fields."""

from .generate import (
           SyntheticQuery,
           generate,
           read_queries,
           sample_products,
           write_queries,
)
from .prompt import KINDS, PROMPT_VERSION, build_messages, parse_answer

__all__ = ["KINDS", "PROMPT_VERSION", "SyntheticQuery", "build_messages", "generate", "parse_answer",
           "read_queries", "sample_products", "write_queries"]
