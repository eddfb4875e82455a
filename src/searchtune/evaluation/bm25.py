"""The BM25 baseline: bm25s with the catalog's stop words and Snowball stemmer (English unless the catalog is
in another language: :mod:`searchtune.language`).

This is the configuration Lucene's language analyzers approximate, and the one a
search engineer would run as the baseline to beat; ``stem=False`` gives the
unstemmed variant that the report also shows. It reads every field of a product
whole (:func:`~searchtune.data.catalog.full_texts`), not the models' text cut to
their token budget, and leaves the attributes out when dev says they cost it
(:func:`choose_fields`).
"""

from __future__ import annotations

import logging
import time

import numpy as np

logger = logging.getLogger(__name__)


class BM25Baseline:
    """BM25 over a fixed corpus; ``search`` returns ``{qid: {product_id: score}}`` runs."""

    def __init__(self, stem: bool = True, language: str = "english", k1: float = 1.5, b: float = 0.75) -> None:
        import bm25s

        from ..language import stopwords

        stemmer = None
        if stem:
            import Stemmer  # PyStemmer

            stemmer = Stemmer.Stemmer(language)
        self.name = "bm25" if stem else "bm25-unstemmed"
        self.tokenizer = bm25s.tokenization.Tokenizer(stemmer=stemmer, stopwords=stopwords(language), lower=True)
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


FIELDS = ("every field", "without attributes")


def choose_fields(data, dev: list[str]):
    """BM25's text, chosen on the ``dev`` queries like every other choice of a run: every field whole, or the
    same without the attributes when they cost dev nDCG@10 (Icecat's ``name=value`` specifications do: their
    names repeat across thousands of products). Returns the data (a new value whose BM25 text leaves the
    attributes out when that won; its ``source["bm25_fields"]`` says so, and collections built from it keep it)
    and what was chosen on which dev figures (None when there is nothing to choose: no attributes, no dev)."""
    import dataclasses

    from ..data.catalog import full_texts, without_attributes
    from .metrics import evaluate_run

    products = data.products
    qrels = data.eval_qrels(dev)
    if not qrels or "attributes_at" not in products or not (products["attributes_at"] >= 0).any():
        return data, None
    t = time.perf_counter()
    queries = {q: data.queries[q] for q in qrels}
    dev_ndcg = {}
    for name, attributes in zip(FIELDS, (True, False)):
        bm25 = BM25Baseline(language=data.language).index(data.product_ids,
                                                          full_texts(products, attributes=attributes))
        dev_ndcg[name] = round(evaluate_run(qrels, bm25.search(queries, k=100), ks=(10,))["ndcg@10"], 4)
    chosen = FIELDS[1] if dev_ndcg[FIELDS[1]] > dev_ndcg[FIELDS[0]] else FIELDS[0]  # a tie keeps every field
    logger.info("BM25 reads %s: dev nDCG@10 %s on %d dev queries (%.0f s)", chosen,
                ", ".join(f"{v:.4f} {n}" for n, v in dev_ndcg.items()), len(qrels), time.perf_counter() - t)
    record = {"fields": chosen, "dev_ndcg@10": dev_ndcg, "dev_queries": len(qrels)}
    if chosen == FIELDS[0]:
        return data, record
    return dataclasses.replace(data, products=without_attributes(products),
                               source={**data.source, "bm25_fields": chosen}), record


def bm25_index(data, *, stem: bool) -> BM25Baseline:
    """BM25 over ``data``'s products (a :class:`~searchtune.data.SearchData`), every field whole."""
    from ..data import full_texts

    return BM25Baseline(stem=stem, language=data.language).index(data.product_ids, full_texts(data.products))


def bm25_run(bm25: BM25Baseline, queries: dict[str, str], *, k: int):
    from .runs import SystemRun

    t0 = time.perf_counter()
    run = bm25.search(queries, k=k)
    seconds = time.perf_counter() - t0
    return SystemRun(bm25.name, run, timings={"search_seconds": round(seconds, 3),
                                              "queries_per_second": round(len(queries) / seconds, 1) if seconds else None})
