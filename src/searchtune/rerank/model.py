"""The second stage: a cross-encoder that rescores the top K of a first-stage ranking.

The model is sentence-transformers' ``CrossEncoder`` (one relevance score per pair, sigmoid at inference).
Ours: scoring each (query, product) pair once however many first stages and cut-offs ask for it, kept on
disk for ``--resume`` (a cross-encoder is the slow part of two-stage search on a CPU), and the rule that
turns scores into a ranking (:func:`rerank_run`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..errors import SearchtuneError
from ..progress import bar

logger = logging.getLogger(__name__)



def load_reranker(ref: str | Path, *, max_length: int | None = None):
    """A ``CrossEncoder`` with one output: a trained reranker, or a base (``minilm``, a folder, a hub id) whose
    new one-score head starts random."""
    from sentence_transformers import CrossEncoder

    from ..device import resolve as resolve_device
    from ..models import resolve_model

    target = resolve_model(ref)
    try:
        model = CrossEncoder(target, num_labels=1, max_length=max_length, device=resolve_device())
    except OSError as exc:  # hub lookups fail with OSError when offline
        raise SearchtuneError(f"could not load reranker '{ref}' ({exc.__class__.__name__}: "
                              f"{str(exc).splitlines()[0]}); pass a local folder or minilm") from None
    if model.num_labels != 1:
        raise SearchtuneError(f"reranker '{ref}' has {model.num_labels} outputs; a reranker gives one score per pair")
    return model


def is_reranker(path: str | Path) -> bool:
    """Whether ``path`` is a saved cross-encoder (as :func:`searchtune.rerank.train.train_reranker` writes)."""
    config = Path(path) / "config.json"
    return config.is_file() and "ForSequenceClassification" in config.read_text()


class PairScores:
    """Cross-encoder scores of (query id, product id) pairs: each pair is scored once, in length-sorted batches
    (sentence-transformers' ``predict``), and appended to ``path`` (JSON lines) when given, so an interrupted
    run keeps what it scored."""

    def __init__(self, model, queries: dict[str, str], texts: dict[str, str], *, path: Path | None = None,
                 batch_size: int = 64, progress: bool = True) -> None:
        self.model, self.queries, self.texts = model, queries, texts
        self.path, self.batch_size, self.progress = path, batch_size, progress
        self.scores: dict[tuple[str, str], float] = {}
        if path is not None and path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    q, p, s = json.loads(line)
                except (ValueError, TypeError):
                    continue  # a line cut off by an interruption
                self.scores[q, p] = s

    def score(self, pairs, what: str = "reranking") -> dict[tuple[str, str], float]:
        """Scores of ``pairs`` (computing the ones not scored yet)."""
        todo = list(dict.fromkeys(p for p in pairs if p not in self.scores))
        chunk = self.batch_size * 16
        if not todo:
            return {p: self.scores[p] for p in pairs}
        with bar(what, len(todo), self.progress, unit="pairs") as advance:
            for start in range(0, len(todo), chunk):
                part = todo[start:start + chunk]
                values = self.model.predict([(self.queries[q], self.texts[p]) for q, p in part],
                                            batch_size=self.batch_size, show_progress_bar=False)
                new = {pair: float(v) for pair, v in zip(part, np.atleast_1d(values))}
                self.scores.update(new)
                if self.path is not None:
                    with self.path.open("a", encoding="utf-8") as f:
                        f.writelines(json.dumps([q, p, round(s, 6)]) + "\n" for (q, p), s in new.items())
                advance(len(part))
        return {p: self.scores[p] for p in pairs}


def top(run: dict[str, float], k: int) -> list[str]:
    """The ``k`` best product ids of one query's ranking (ties by id, so the order is stable)."""
    return [p for p, _ in sorted(run.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]


def _scaled(values: np.ndarray) -> np.ndarray:
    span = values.max() - values.min()
    return (values - values.min()) / span if span > 0 else np.zeros_like(values)


def rerank_run(run: dict[str, dict[str, float]], scores: dict[tuple[str, str], float], *, k: int,
               weight: float = 0.0) -> dict[str, dict[str, float]]:
    """Reorder the top ``k`` of each query by ``(1 - weight) * reranker + weight * first stage`` (each min-max
    scaled over those ``k``); products below rank ``k`` keep their order beneath them. Scores are
    ``1 + mixed`` for the top ``k`` and ``first-stage rank``-based below 1, so ranx and any sort agree."""
    out = {}
    for qid, ranking in run.items():
        head = top(ranking, k)
        tail = top(ranking, len(ranking))[len(head):]
        first = np.array([ranking[p] for p in head], dtype=float)
        second = np.array([scores[qid, p] for p in head], dtype=float)
        mixed = (1 - weight) * _scaled(second) + weight * _scaled(first) if len(head) else second
        ranked = {p: 1.0 + float(m) for p, m in zip(head, mixed)}
        ranked.update({p: 1.0 - (i + 1) / (len(tail) + 1) for i, p in enumerate(tail)})
        out[qid] = ranked
    return out


def pairs_of(run: dict[str, dict[str, float]], k: int) -> list[tuple[str, str]]:
    """The (query id, product id) pairs the top ``k`` of ``run`` needs scored."""
    return [(q, p) for q, ranking in run.items() for p in top(ranking, k)]


def saved_choice(run_dir: str | Path) -> dict:
    """The first stage, K and weight a run chose on dev for its reranker (its report's ``two_stage``; {} if none)."""
    path = Path(str(run_dir)) / "report.json"
    try:
        two = json.loads(path.read_text()).get("two_stage") or {} if path.is_file() else {}
    except (ValueError, OSError):
        return {}
    return {k: two[k] for k in ("first_stage", "k", "weight") if k in two}


def hit_text(payload: dict) -> str:
    """The product text a reranker reads from a search hit: the indexed text, else brand and title (a
    collection indexed before the text was stored)."""
    return payload.get("text") or " ".join(x for x in (payload.get("brand"), payload.get("title")) if x)


def rerank_hits(model, query: str, hits: list, *, k: int, weight: float = 0.0, batch_size: int = 64) -> list[dict]:
    """One query's first-stage hits reordered by the reranker over the top ``k`` (:func:`rerank_run`): per hit
    the hit, its reranker score (None below ``k``) and its first-stage rank (from 1)."""
    head = hits[:k]
    values = np.atleast_1d(model.predict([(query, hit_text(h.payload)) for h in head], batch_size=batch_size,
                                         show_progress_bar=False)) if head else []
    return reranked_hits(hits, values, k=k, weight=weight)


def in_order(hits: list) -> dict[str, float]:
    """The hits' first-stage scores, nudged down where needed so that they fall strictly in hit order: equal
    scores (Qdrant returns ties in its own order) would otherwise let :func:`rerank_run` take another top K than
    the one the reranker scored."""
    out, last = {}, float("inf")
    for h in hits:
        score = min(float(h.score), last - 1e-9 * max(1.0, abs(last))) if last != float("inf") else float(h.score)
        out[h.product_id] = last = score
    return out


def reranked_hits(hits: list, values, *, k: int, weight: float = 0.0) -> list[dict]:
    """:func:`rerank_hits` with the reranker's scores of the top ``k`` already computed (``values``, in hit
    order): a server scores many queries' pairs in one batch, then orders each query's hits here."""
    head = hits[:k]
    scores = {("q", h.product_id): float(v) for h, v in zip(head, values)}
    ranked = rerank_run({"q": in_order(hits)}, scores, k=k, weight=weight)["q"]
    first = {h.product_id: (i + 1, h) for i, h in enumerate(hits)}
    order = sorted(ranked, key=lambda p: (-ranked[p], first[p][0]))
    return [{"hit": first[p][1], "score": scores.get(("q", p)), "first_rank": first[p][0]} for p in order]
