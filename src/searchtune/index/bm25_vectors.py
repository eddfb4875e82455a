"""BM25 term vectors for a collection's ``bm25`` vector, so BM25 runs inside Qdrant.

They come from Qdrant Edge's own BM25 embedder (the catalog's stop words and Snowball stemmer; document
side = term-frequency saturation, query side = 1 per term); the collection's IDF modifier supplies the
IDF. The bm25s baseline of the reports is :mod:`searchtune.evaluation.bm25`; this one makes hybrids with BM25.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

BM25_DIM = 2**32  # hashed term ids
AVG_LEN_SAMPLE = 20000  # documents whose length sets avg_len


class Bm25Embedder:
    """Texts → BM25 sparse vectors (CSR with hashed term columns) for a collection with the IDF modifier."""

    def __init__(self, avg_len: float = 256.0, language: str = "english") -> None:
        from qdrant_edge import Bm25, Bm25Config

        self.avg_len, self.language = float(avg_len), language
        self.model = Bm25(Bm25Config(language=language, avg_len=self.avg_len))

    @classmethod
    def for_corpus(cls, texts: list[str], language: str = "english") -> Bm25Embedder:
        """Fit ``avg_len`` (terms per document after stop words) to the corpus, as BM25's b needs."""
        probe = cls(language=language)  # distinct terms per document (a sample): titles rarely repeat one
        counts = [len(probe.model.embed_document(t).indices) for t in texts[:AVG_LEN_SAMPLE]]
        return cls(avg_len=max(1.0, float(np.mean(counts))) if counts else 256.0, language=language)

    @classmethod
    def of(cls, meta: dict) -> Bm25Embedder:
        """The embedder a collection's BM25 vectors were made with (its metadata)."""
        return cls(meta.get("bm25_avg_len", 256.0), meta.get("bm25_language", "english"))

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
