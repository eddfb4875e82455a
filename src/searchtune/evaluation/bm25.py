"""The BM25 baseline: bm25s with English stop words and Snowball stemming.

This is the configuration Lucene's English analyzer approximates, and the one a
search engineer would run as the baseline to beat; ``stem=False`` gives the
unstemmed variant that the report also shows. It reads every field of a product
whole (:func:`~searchtune.data.catalog.full_texts`), not the models' text cut to
their token budget.
"""

from __future__ import annotations

import logging
import time

import numpy as np

logger = logging.getLogger(__name__)


class BM25Baseline:
    """BM25 over a fixed corpus; ``search`` returns ``{qid: {product_id: score}}`` runs."""

    def __init__(self, stem: bool = True, stopwords: str = "en", k1: float = 1.5, b: float = 0.75) -> None:
        import bm25s

        stemmer = None
        if stem:
            import Stemmer  # PyStemmer

            stemmer = Stemmer.Stemmer("english")
        self.name = "bm25" if stem else "bm25-unstemmed"
        self.tokenizer = bm25s.tokenization.Tokenizer(stemmer=stemmer, stopwords=stopwords, lower=True)
        # numba backend: ~70x faster retrieval than numpy once compiled (cached on disk by numba)
        self.retriever = bm25s.BM25(k1=k1, b=b, backend="numba")
        self.ids: list[str] = []

    def index(self, ids: list[str], texts: list[str]) -> BM25Baseline:
        self.ids = list(ids)
        tokens = self.tokenizer.tokenize(list(texts), return_as="tuple", show_progress=False)
        self.retriever.index(tokens, show_progress=False)
        return self

    def search(self, queries: dict[str, str], k: int = 100) -> dict[str, dict[str, float]]:
        qids = list(queries)
        ids = self.tokenizer.tokenize([queries[q] for q in qids], update_vocab=False, return_as="ids",
                                      show_progress=False)
        k = min(k, len(self.ids))
        docs, scores = self.retriever.retrieve(ids, k=k, show_progress=False, n_threads=0)
        run: dict[str, dict[str, float]] = {}
        for qid, row, srow in zip(qids, docs, scores):
            keep = srow > 0  # a query with no known term scores every product 0: no result
            run[qid] = {self.ids[int(d)]: float(s) for d, s in zip(np.asarray(row)[keep], np.asarray(srow)[keep])}
        return run

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of ``query`` against every product (``self.ids`` order); zeros for no known term."""
        ids = self.tokenizer.tokenize([query], update_vocab=False, return_as="ids", show_progress=False)[0]
        if not ids:
            return np.zeros(len(self.ids), dtype=np.float32)
        return self.retriever.get_scores([int(i) for i in ids])


def bm25_index(data, *, stem: bool) -> BM25Baseline:
    """BM25 over ``data``'s products (a :class:`~searchtune.data.SearchData`), every field whole."""
    from ..data import full_texts

    return BM25Baseline(stem=stem).index(data.product_ids, full_texts(data.products))


def bm25_run(bm25: BM25Baseline, queries: dict[str, str], *, k: int):
    from .runs import SystemRun

    t0 = time.perf_counter()
    run = bm25.search(queries, k=k)
    seconds = time.perf_counter() - t0
    return SystemRun(bm25.name, run, timings={"search_seconds": round(seconds, 3),
                                              "queries_per_second": round(len(queries) / seconds, 1) if seconds else None})
