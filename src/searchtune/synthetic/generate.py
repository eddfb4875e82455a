"""Generate shopper queries for catalog products with an LLM, robustly and resumably.

Per product: one chat request (few-shot prompt, ``prompt.py``), strict
parsing; a malformed answer is asked again (at a higher temperature) up to
``parse_retries`` times, then the product is skipped and counted. Requests
run ``concurrency`` at a time (one at a time for an in-process model); every
answer goes to the on-disk cache as it arrives, so an interrupted run resumes
where it stopped. Token use (and cost, when the provider reports it or prices
are given) is summed.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

import pandas as pd

from ..data.split import unit
from ..errors import SearchtuneError
from .backends import LLMTransient
from .cache import AnswerCache, cache_key
from .offline import generate_offline
from .prompt import KINDS, ParseError, build_messages, parse_answer, prompt_version
from .records import SyntheticQuery

logger = logging.getLogger(__name__)


def sample_products(products: pd.DataFrame, max_products: int | None, seed: int = 42) -> pd.DataFrame:
    """All products, or a deterministic sample of ``max_products``, in a seeded hash order.

    The order is the same for any ``max_products``: a smaller sample is a prefix of a larger one, and a run
    stopped part-way has answered a prefix, so ``--max-products <answered>`` reuses exactly those answers.
    """
    order = products["product_id"].map(lambda p: unit(seed, p))  # the split's hash: one seeded order
    ranked = products.loc[order.sort_values(kind="stable").index]
    return ranked if not max_products else ranked.iloc[:max_products]


def _ask(backend, text: str, n: int, parse_retries: int, language: str = "english") -> dict:
    """One product: ask, parse, ask again on a malformed answer. Returns the cache record."""
    out = {"prompt_tokens": 0, "completion_tokens": 0, "cost": None, "attempts": 0}
    raw = ""
    for attempt in range(parse_retries + 1):
        comp = backend.complete(build_messages(text, n, language=language), temperature=0.0 if attempt == 0 else 0.7)
        out["attempts"] += 1
        out["prompt_tokens"] += comp.prompt_tokens
        out["completion_tokens"] += comp.completion_tokens
        if comp.cost is not None:
            out["cost"] = (out["cost"] or 0.0) + comp.cost
        raw = comp.text
        try:
            parsed = parse_answer(raw, n)
        except ParseError as e:
            logger.debug("malformed answer (attempt %d): %s", attempt + 1, e)
            continue
        return {**out, "status": "ok", "queries": parsed.queries, "invalid": parsed.invalid, "raw": raw}
    return {**out, "status": "malformed", "queries": [], "invalid": 0, "raw": raw}


def generate_with_llm(products: pd.DataFrame, backend, *, per_product: int = 4, concurrency: int = 4,
                      parse_retries: int = 2, cache: AnswerCache, retry_failed: bool = False,
                      price_input: float | None = None, price_output: float | None = None,
                      progress: bool = True, language: str = "english") -> tuple[list[SyntheticQuery], dict]:
    """Queries for every product in ``products`` (see the module docstring); returns (records, stats)."""
    from rich.progress import TextColumn

    from ..progress import progress_bar

    t0 = time.perf_counter()
    stats = {"source": f"llm:{backend.name}", "prompt_version": prompt_version(language), "products": len(products),
             "per_product": per_product, "from_cache": 0, "asked": 0, "ok": 0, "skipped_malformed": 0,
             "skipped_malformed_cached": 0, "failed_transient": 0, "invalid_queries_dropped": 0,
             "prompt_tokens": 0, "completion_tokens": 0, "cost_reported": None, "requests": 0}
    answers: dict[str, list[tuple[str, str]]] = {}
    todo: list[tuple[str, str, str]] = []
    for pid, text in zip(products["product_id"], products["text"]):
        key = cache_key(backend.name, pid, text, per_product, prompt_version(language))
        hit = cache.get(key)
        if hit and hit["status"] == "ok":
            answers[pid] = hit["queries"]
            stats["from_cache"] += 1
        elif hit and not retry_failed:
            stats["skipped_malformed_cached"] += 1
        else:
            todo.append((pid, text, key))

    def record(pid: str, key: str, res: dict) -> None:
        stats["asked"] += 1
        stats["requests"] += res["attempts"]
        stats["prompt_tokens"] += res["prompt_tokens"]
        stats["completion_tokens"] += res["completion_tokens"]
        if res["cost"] is not None:
            stats["cost_reported"] = (stats["cost_reported"] or 0.0) + res["cost"]
        stats["invalid_queries_dropped"] += res["invalid"]
        if res["status"] == "ok":
            stats["ok"] += 1
            answers[pid] = res["queries"]
        else:
            stats["skipped_malformed"] += 1
            logger.warning("product %s: no usable queries after %d attempts; skipped (last answer: %.100r)",
                           pid, res["attempts"], res["raw"])
        cache.put(key, model=backend.name, product_id=pid, status=res["status"], queries=res["queries"],
                  raw=res["raw"], prompt_tokens=res["prompt_tokens"], completion_tokens=res["completion_tokens"],
                  cost=res["cost"])

    def transient(pid: str, err: Exception) -> None:
        stats["failed_transient"] += 1
        logger.warning("product %s: %s; not cached, a rerun asks again", pid, err)

    workers = max(1, concurrency if getattr(backend, "concurrent", True) else 1)
    with progress_bar("generating queries", progress, TextColumn("{task.fields[tokens]} tok")) as bar:
        task = bar.add_task("gen", total=len(todo), tokens=0)

        def advance() -> None:
            bar.update(task, advance=1, tokens=stats["prompt_tokens"] + stats["completion_tokens"])

        if workers == 1:
            for pid, text, key in todo:
                try:
                    record(pid, key, _ask(backend, text, per_product, parse_retries, language))
                except LLMTransient as e:
                    transient(pid, e)
                advance()
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                pending = {}
                queue = iter(todo)

                def submit_next() -> None:
                    item = next(queue, None)
                    if item is not None:
                        pending[pool.submit(_ask, backend, item[1], per_product, parse_retries, language)] = item

                for _ in range(workers * 2):
                    submit_next()
                try:
                    while pending:
                        done, _ = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in done:
                            pid, _text, key = pending.pop(fut)
                            try:
                                record(pid, key, fut.result())
                            except LLMTransient as e:
                                transient(pid, e)
                            advance()
                            submit_next()
                except BaseException:
                    for fut in pending:
                        fut.cancel()
                    raise
    records, dupes = _records(products, answers, stats["source"])
    seconds = time.perf_counter() - t0
    stats.update(duplicates_dropped=dupes, queries=len(records), seconds=round(seconds, 1),
                 products_with_queries=len(answers),
                 products_per_second=round(stats["asked"] / seconds, 3) if seconds else None,
                 by_kind={k: sum(r.kind == k for r in records) for k in KINDS})
    if price_input is not None or price_output is not None:
        stats["cost_estimated"] = round(stats["prompt_tokens"] / 1e6 * (price_input or 0)
                                        + stats["completion_tokens"] / 1e6 * (price_output or 0), 6)
    return records, stats


def _records(products: pd.DataFrame, answers: dict, source: str) -> tuple[list[SyntheticQuery], int]:
    records, dupes = [], 0
    for pid in products["product_id"]:
        seen = set()
        for kind, q in answers.get(pid, []):
            if q in seen:
                dupes += 1
                continue
            seen.add(q)
            records.append(SyntheticQuery(q, pid, kind, source))
    return records, dupes


def generate(products: pd.DataFrame, *, llm: str | None, per_product: int = 4, max_products: int | None = None,
             seed: int = 42, concurrency: int = 4, timeout: float = 60.0, max_retries: int = 5, parse_retries: int = 2,
             threads: int = 1, base_url: str | None = None, api_key: str | None = None,
             cache_path: str | Path | None = None, retry_failed: bool = False, price_input: float | None = None,
             price_output: float | None = None, progress: bool = True, language: str = "english"
             ) -> tuple[list[SyntheticQuery], dict]:
    """Queries for a catalog: with ``llm`` through that model (asked to write in ``language``), else from the
    catalog's own fields (offline: English only)."""
    chosen = sample_products(products, max_products, seed)
    if not llm:
        if language != "english":
            raise SearchtuneError(f"the offline query generator writes English queries (its patterns are English: "
                                  f"'for …', units, colours), and this catalog is in {language}: give an LLM "
                                  f"(--llm; it is asked to write in {language}), or your own queries "
                                  "(--queries, or --synthetic-queries FILE)")
        return generate_offline(chosen, per_product=per_product, seed=seed)
    from ..home import home
    from .backends import make_backend

    backend = make_backend(llm, base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries,
                           threads=threads)
    cache = AnswerCache(cache_path or home() / "query_cache.sqlite")
    try:
        return generate_with_llm(chosen, backend, per_product=per_product, concurrency=concurrency,
                                 parse_retries=parse_retries, cache=cache, retry_failed=retry_failed,
                                 price_input=price_input, price_output=price_output, progress=progress,
                                 language=language)
    finally:
        cache.close()
