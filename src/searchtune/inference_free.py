"""Inference-free SPLADE: the query side becomes a learned weight per vocabulary token, documents stay SPLADE.

Searching then costs a tokenizer call and a table lookup instead of a transformer pass. This is
sentence-transformers' recipe (a ``Router`` with ``SparseStaticEmbedding`` on the query route and the
SPLADE modules on the document route); ours is the initialisation: each token's weight starts as its
BM25 IDF over the catalog being tuned for (a token no product contains gets the highest IDF), so the
untrained query side already behaves like a weighted bag of words. Training gives the table its own
learning rate (:data:`QUERY_LEARNING_RATE`) and no query regulariser: a query's terms are its own tokens,
there is nothing to sparsify.
"""

from __future__ import annotations

import numpy as np

QUERY_LEARNING_RATE = 1e-3  # the table's rate in sentence-transformers' inference-free examples
TABLE_PATTERN = r"sub_modules\.query\."  # the query route's parameters (the table) by name


def is_inference_free(model) -> bool:
    """Whether ``model`` routes queries to a ``SparseStaticEmbedding`` table."""
    return query_table(model) is not None


def query_table(model):
    """The ``SparseStaticEmbedding`` module of an inference-free model's query route, else None."""
    modules = list(model)
    routes = getattr(modules[0], "sub_modules", None) if len(modules) == 1 else None
    if routes is None or "query" not in routes:
        return None
    first = routes["query"][0]
    return first if type(first).__name__ == "SparseStaticEmbedding" else None


def document_modules(model) -> list:
    """The modules that encode documents: the document route of a Router, else the model's own."""
    modules = list(model)
    routes = getattr(modules[0], "sub_modules", None) if len(modules) == 1 else None
    if routes is not None and "document" in routes:
        return list(routes["document"])
    return modules


def idf_weights(tokenizer, texts: list[str]):
    """BM25 IDF, ln(1 + (N − df + 0.5) / (df + 0.5)), of every vocabulary token over ``texts``."""
    import torch

    vocab = len(tokenizer)
    df = np.zeros(vocab, dtype=np.int64)
    for start in range(0, len(texts), 1024):
        ids = tokenizer(texts[start:start + 1024], add_special_tokens=False, truncation=True)["input_ids"]
        for row in ids:
            df[np.unique(np.asarray(row, dtype=np.int64))] += 1
    n = max(len(texts), 1)
    return torch.tensor(np.log1p((n - df + 0.5) / (df + 0.5)), dtype=torch.float32)


def make_inference_free(model, texts: list[str]):
    """A new SparseEncoder: queries through an IDF-initialised token table, documents through ``model``'s
    SPLADE modules (shared, not copied). ``model`` already inference-free is returned as is."""
    from sentence_transformers import SparseEncoder
    from sentence_transformers.sparse_encoder.modules import (
        Router,
        SparseStaticEmbedding,
    )

    if is_inference_free(model):
        return model
    table = SparseStaticEmbedding(tokenizer=model.tokenizer, weight=idf_weights(model.tokenizer, texts),
                                  frozen=False)
    router = Router.for_query_document(query_modules=[table], document_modules=list(model))
    return SparseEncoder(modules=[router], similarity_fn_name="dot", device=str(model.device))


def encode_queries(model, texts: list[str], *, max_length: int | None = None):
    """CSR rows, as ``encode_query`` gives them: each distinct token of a text with its table weight."""
    import scipy.sparse as sp

    table = query_table(model)
    weight = table.weight.detach().float().cpu().numpy()
    ids = table.tokenizer(texts, add_special_tokens=False, truncation=True,
                          max_length=max_length or table.max_seq_length)["input_ids"]
    rows = [np.unique(np.asarray(r, dtype=np.int64)) for r in ids]
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    cols = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    matrix = sp.csr_matrix((weight[cols], cols, indptr), shape=(len(texts), len(weight)), dtype=np.float32)
    matrix.eliminate_zeros()
    return matrix
