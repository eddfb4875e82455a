"""Dense vectors (any sentence-transformers model) and BM25 term vectors for hybrid collections.

Dense vectors are L2-normalised (the collection uses cosine). With ``dim`` a
Matryoshka-trained vector is truncated to its first ``dim`` values and
normalised again. BM25 vectors come from Qdrant Edge's own BM25 embedder
(English stop words and Snowball stemming; document side = term-frequency
saturation, query side = 1 per term); the collection's IDF modifier supplies
the IDF, so BM25 runs inside Qdrant.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

BM25_DIM = 2**32  # hashed term ids


def _dim(model) -> int:
    """The embedding size (``get_embedding_dimension`` in newer sentence-transformers)."""
    fn = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return fn()


def encode_dense(model, texts: list[str], *, kind: str = "document", batch_size: int = 128, precision: str = "auto",
                 dim: int | None = None, show_progress: bool = False) -> np.ndarray:
    from .precision import autocast

    if kind not in ("query", "document"):
        raise ValueError(f"kind must be 'query' or 'document', got {kind!r}")
    size = dim or _dim(model)
    if not texts:
        return np.zeros((0, size), dtype=np.float32)
    encode = model.encode_query if kind == "query" else model.encode_document
    with autocast(model, precision):
        emb = encode(list(texts), batch_size=batch_size, convert_to_numpy=True, show_progress_bar=show_progress)
    emb = np.asarray(emb, dtype=np.float32)
    if dim:
        emb = emb[:, :dim]
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    return emb / np.maximum(norms, 1e-12)


class Bm25Embedder:
    """Texts → BM25 sparse vectors (CSR with hashed term columns) for a collection with the IDF modifier."""

    def __init__(self, avg_len: float = 256.0) -> None:
        from qdrant_edge import Bm25, Bm25Config

        self.avg_len = float(avg_len)
        self.model = Bm25(Bm25Config(language="english", avg_len=self.avg_len))

    @classmethod
    def for_corpus(cls, texts: list[str]) -> Bm25Embedder:
        """Fit ``avg_len`` (terms per document after stop words) to the corpus, as BM25's b needs."""
        probe = cls()  # distinct terms per document (a sample of 20,000): titles rarely repeat a term
        counts = [len(probe.model.embed_document(t).indices) for t in texts[:20000]]
        return cls(avg_len=max(1.0, float(np.mean(counts))) if counts else 256.0)

    def embed(self, texts: list[str], kind: str = "document") -> sp.csr_matrix:
        fn = self.model.embed_query if kind == "query" else self.model.embed_document
        indptr, indices, values = [0], [], []
        for t in texts:
            v = fn(t)
            indices.extend(v.indices)
            values.extend(v.values)
            indptr.append(len(indices))
        return sp.csr_matrix((np.asarray(values, dtype=np.float32), np.asarray(indices, dtype=np.int64),
                              np.asarray(indptr, dtype=np.int64)), shape=(len(texts), BM25_DIM))


def matryoshka_runs(model, data, queries: dict[str, str], dims: list[int], *, k: int = 100, batch_size: int = 128,
                    precision: str = "auto", progress: bool = False, docs: np.ndarray | None = None
                    ) -> tuple[dict[int, dict[str, dict[str, float]]], dict]:
    """Rankings of ``queries`` with the model's vectors cut to each size in ``dims`` (Matryoshka evaluation).

    The catalog and the queries are encoded once at full size; each size then
    truncates and re-normalises both and searches exactly (brute-force cosine,
    what Qdrant returns with exact search), so the sizes differ only in the
    vectors. ``docs``: the catalog's full-size vectors when already at hand (read
    back from the collection the model was indexed in), in product order; the
    stored vectors are normalised, which cutting and re-normalising ignores.
    Returns ({dim: run}, timings).
    """
    import time

    full = _dim(model)
    docs_given = docs is not None
    bad = [d for d in dims if d <= 0 or d > full]
    if bad:
        from .errors import SearchtuneError

        raise SearchtuneError(f"Matryoshka sizes {bad} are outside 1..{full} (the model's embedding size)")
    t = time.perf_counter()
    if docs is None:
        docs = encode_dense(model, data.products["text"].tolist(), kind="document", batch_size=batch_size,
                            precision=precision, show_progress=progress)
    qids = list(queries)
    qv = encode_dense(model, [queries[q] for q in qids], kind="query", batch_size=batch_size, precision=precision)
    encode_s = time.perf_counter() - t
    pids = np.asarray(data.product_ids)
    out: dict[int, dict[str, dict[str, float]]] = {}
    timings = {"encode_seconds": round(encode_s, 1), "documents": len(pids), "documents_reused": docs_given}
    for dim in dims:
        t = time.perf_counter()
        d = docs[:, :dim] / np.maximum(np.linalg.norm(docs[:, :dim], axis=1, keepdims=True), 1e-12)
        q = qv[:, :dim] / np.maximum(np.linalg.norm(qv[:, :dim], axis=1, keepdims=True), 1e-12)
        run: dict[str, dict[str, float]] = {}
        for start in range(0, len(qids), 256):
            scores = q[start:start + 256] @ d.T
            kk = min(k, scores.shape[1])
            top = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
            for row, qid in enumerate(qids[start:start + 256]):
                idx = top[row][np.argsort(-scores[row, top[row]])]
                run[qid] = {str(pids[i]): float(scores[row, i]) for i in idx}
        out[dim] = run
        timings[f"search_seconds@{dim}"] = round(time.perf_counter() - t, 2)
    return out, timings
