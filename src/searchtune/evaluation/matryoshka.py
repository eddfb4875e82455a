"""Matryoshka evaluation: a dense model's rankings with its vectors cut to several sizes.

The catalog and the queries are encoded once at full size; each size then truncates and re-normalises
both and searches exactly (brute-force cosine, what Qdrant returns with exact search), instead of one
Qdrant collection per size: the sizes then differ only in the vectors.
"""

from __future__ import annotations

import time

import numpy as np

from ..encode import embedding_dim, encode_dense
from ..errors import SearchtuneError


def matryoshka_runs(model, data, queries: dict[str, str], dims: list[int], *, k: int = 100, batch_size: int = 128,
                    precision: str = "auto", progress: bool = False, docs: np.ndarray | None = None
                    ) -> tuple[dict[int, dict[str, dict[str, float]]], dict]:
    """Rankings of ``queries`` with the model's vectors cut to each size in ``dims``: ({dim: run}, timings).

    ``docs``: the catalog's full-size vectors when already at hand (read back from the collection the model
    was indexed in), in product order; they are normalised, which cutting and re-normalising ignores.
    """
    full = embedding_dim(model)
    docs_given = docs is not None
    bad = [d for d in dims if d <= 0 or d > full]
    if bad:
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


def indexed_dense(open_index, data, model_ref: str, max_length: int | None) -> np.ndarray | None:
    """The catalog's vectors for a dense model from the run collection it was indexed in (``finetuned`` or
    ``base``; ``open_index(name)`` opens one), if any: the Matryoshka evaluation then does not encode the catalog
    a second time."""
    from ..index import collection as col

    for collection, role in (("finetuned", "tuned"), ("base", "base")):
        models = col.Models.single(model_ref, role, max_length)
        with open_index(collection) as index:
            if index.exists() and index.metadata().get("complete") and \
                    index.metadata().get("fingerprint") == col.fingerprint(data, models, role == "tuned"):
                (vector,) = models.named()
                return index.vectors(data.product_ids, index.layout()[vector]["size"], name=vector)
    return None


def evaluate_sizes(bench, model_ref: str, dims: list[int], prefix: str = "dense-tuned") -> dict:
    """The dense model at each Matryoshka size on the test queries of ``bench`` (a :class:`~.bench.Bench`):
    ``{"<prefix>@<dim>": scored run}``."""
    from ..models import load_encoder
    from .runs import SystemRun, score

    queries, qrels = bench.queries("test")
    ev = bench.config
    model = load_encoder(model_ref, kind="dense")
    runs, timings = matryoshka_runs(model, bench.data, queries, sorted(dims, reverse=True), k=bench.k,
                                    batch_size=ev.encode_batch_size, precision=ev.precision, progress=bench.progress,
                                    docs=indexed_dense(bench.open, bench.data, model_ref, bench.max_length))
    return {f"{prefix}@{dim}": score(SystemRun(f"{prefix}@{dim}", run, timings={"exact_search": True, **timings},
                                               source=f"{model_ref} dim={dim}"), qrels, ev.k)
            for dim, run in runs.items()}
