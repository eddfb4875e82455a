"""Encoding text with a SPLADE model into sparse vectors (a SciPy CSR matrix)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def encode_sparse(model, texts: list[str], *, kind: str = "document", batch_size: int = 128,
                  show_progress: bool = False, precision: str = "auto") -> sp.csr_matrix:
    """Encode ``texts`` as queries or documents; one CSR row per text (vocabulary-sized columns).

    ``precision``: see :mod:`searchtune.precision` (bf16 autocast where the hardware has it).
    """
    from .precision import autocast

    if kind not in ("query", "document"):
        raise ValueError(f"kind must be 'query' or 'document', got {kind!r}")
    if not texts:
        return sp.csr_matrix((0, len(model.tokenizer)), dtype=np.float32)
    encode = model.encode_query if kind == "query" else model.encode_document
    with autocast(model, precision):
        emb = encode(list(texts), batch_size=batch_size, convert_to_tensor=True, convert_to_sparse_tensor=True,
                     show_progress_bar=show_progress)
    emb = emb.coalesce().cpu()
    vocab = emb.shape[1]
    rows, cols = emb.indices().numpy()
    vals = emb.values().float().numpy()
    matrix = sp.csr_matrix((vals, (rows, cols)), shape=(len(texts), vocab), dtype=np.float32)
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix


def top_terms(model, vector: sp.csr_matrix, k: int = 10) -> list[tuple[str, float]]:
    """The ``k`` highest-weighted vocabulary terms of one sparse row (what the model 'reads')."""
    row = vector.tocsr()[0]
    order = np.argsort(-row.data)[:k]
    tokens = model.tokenizer.convert_ids_to_tokens(row.indices[order].tolist())
    return [(t, float(w)) for t, w in zip(tokens, row.data[order])]
