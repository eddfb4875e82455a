"""Synthetic training queries from a catalog: an LLM (any OpenAI-compatible API or a local GGUF model) or,
with no LLM configured, an offline generator over the catalog's own fields."""

from .generate import generate, sample_products
from .records import SyntheticQuery, read_queries, write_queries

__all__ = ["SyntheticQuery", "generate", "read_queries", "sample_products", "write_queries"]
