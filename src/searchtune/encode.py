"""Text → vectors: SPLADE models give sparse rows (a SciPy CSR matrix), dense models L2-normalised arrays.

``encode`` is the one entry point; it dispatches on the model's class. ``precision``: see
:mod:`searchtune.precision` (bf16 autocast where the hardware has it).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from . import fast_splade, inference_free

SIDES = ("query", "document")
CHARS_PER_TOKEN = 16  # generous: text past max_seq_length x this many characters can never reach the model


def capped(model, texts: list[str]) -> list[str]:
    """Texts cut to what the model can read before tokenising: a 1 MB product text costs a tokeniser pass and
    memory of its whole length otherwise, though only max_seq_length tokens are kept. Batches are sorted by
    length inside sentence-transformers' encode, so long texts share batches with long ones."""
    limit = max(1, int(getattr(model, "max_seq_length", None) or 512)) * CHARS_PER_TOKEN
    return [t if len(t) <= limit else t[:limit] for t in texts]


def is_sparse(model) -> bool:
    from sentence_transformers import SparseEncoder

    return isinstance(model, SparseEncoder)


def embedding_dim(model) -> int:
    """Columns of a model's vectors: the vocabulary for SPLADE, the embedding size for a dense model."""
    if is_sparse(model):
        return len(model.tokenizer)
    fn = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return fn()


def encode(model, texts: list[str], side: str = "document", *, batch_size: int = 128, precision: str = "auto",
           show_progress: bool = False, columns: np.ndarray | None = None) -> sp.csr_matrix | np.ndarray:
    """Encode ``texts`` as queries or documents with a sparse or a dense model (``columns``: see
    :func:`encode_sparse`)."""
    if is_sparse(model):
        return encode_sparse(model, texts, kind=side, batch_size=batch_size, precision=precision,
                             show_progress=show_progress, columns=columns)
    return encode_dense(model, texts, kind=side, batch_size=batch_size, precision=precision,
                        show_progress=show_progress)


def encode_sparse(model, texts: list[str], *, kind: str = "document", batch_size: int = 128,
                  show_progress: bool = False, precision: str = "auto",
                  columns: np.ndarray | None = None) -> sp.csr_matrix:
    """One CSR row per text (vocabulary-sized columns). ``columns`` (queries): the vocabulary ids an index
    holds; the fast path computes only those (the other terms could match nothing), other paths ignore it."""
    from .precision import autocast

    if kind not in SIDES:
        raise ValueError(f"kind must be 'query' or 'document', got {kind!r}")
    if not texts:
        return sp.csr_matrix((0, len(model.tokenizer)), dtype=np.float32)
    if kind == "query" and inference_free.is_inference_free(model):  # a table lookup per token
        return inference_free.encode_queries(model, capped(model, texts))
    if fast_splade.supported(model):  # the exact fast path (searchtune.fast_splade)
        with autocast(model, precision):
            matrix = fast_splade.encode(model, capped(model, texts), batch_size=batch_size,
                                        columns=columns if kind == "query" else None)
        matrix.eliminate_zeros()
        matrix.sort_indices()
        return matrix.astype(np.float32)
    fn = model.encode_query if kind == "query" else model.encode_document
    with autocast(model, precision):
        emb = fn(capped(model, texts), batch_size=batch_size, convert_to_tensor=True, convert_to_sparse_tensor=True,
                 show_progress_bar=show_progress)
    emb = emb.coalesce().cpu()
    rows, cols = emb.indices().numpy()
    vals = emb.values().float().numpy()
    matrix = sp.csr_matrix((vals, (rows, cols)), shape=(len(texts), emb.shape[1]), dtype=np.float32)
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix


def encode_dense(model, texts: list[str], *, kind: str = "document", batch_size: int = 128, precision: str = "auto",
                 show_progress: bool = False) -> np.ndarray:
    """L2-normalised rows (the collection uses cosine)."""
    from .precision import autocast

    if kind not in SIDES:
        raise ValueError(f"kind must be 'query' or 'document', got {kind!r}")
    if not texts:
        return np.zeros((0, embedding_dim(model)), dtype=np.float32)
    fn = model.encode_query if kind == "query" else model.encode_document
    with autocast(model, precision):
        emb = fn(capped(model, texts), batch_size=batch_size, convert_to_numpy=True, show_progress_bar=show_progress)
    emb = np.asarray(emb, dtype=np.float32)
    return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)


def top_terms(model, vector: sp.csr_matrix, k: int = 10) -> list[tuple[str, float]]:
    """The ``k`` highest-weighted vocabulary terms of one sparse row (what the model 'reads')."""
    row = vector.tocsr()[0]
    order = np.argsort(-row.data)[:k]
    tokens = model.tokenizer.convert_ids_to_tokens(row.indices[order].tolist())
    return [(t, float(w)) for t, w in zip(tokens, row.data[order])]
