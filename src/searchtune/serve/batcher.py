"""Micro-batching: concurrent searches wait a few milliseconds to be encoded, searched and reranked together.

A transformer encodes 32 queries in little more time than one on a CPU, so under load a batch costs about what
one query does. One worker thread runs one batch at a time (the models are not thread-safe, and two batches at
once would only share the same cores); the searches that arrive while it runs form the next batch (up to
``max_batch``). An idle engine runs a lone search at once, so batching adds no latency at low load;
``max_wait_ms`` (default 0) makes a batch wait that long for company. Past ``max_queue`` waiting searches a
search is refused at once (:class:`Overloaded`, a 503) instead of queueing without bound.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass


class Overloaded(Exception):
    """More searches are waiting than the queue holds."""


@dataclass
class _Pending:
    query: str
    k: int
    where: dict | None
    variant: tuple | None  # (first_stage, rerank) when the request overrides the system's
    future: asyncio.Future


class Batcher:
    def __init__(self, run_batch, *, max_batch: int = 32, max_wait_ms: float = 0.0, max_queue: int = 256,
                 on_batch=None) -> None:
        """``run_batch(queries, ks, where, variants) -> results`` (blocking, on one worker thread); ``on_batch(size,
        seconds)`` is told about each batch (metrics)."""
        self.run_batch, self.on_batch = run_batch, on_batch
        self.max_batch, self.max_wait, self.max_queue = max_batch, max_wait_ms / 1000, max_queue
        self.pending: list[_Pending] = []
        self.wake: asyncio.Event | None = None
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="searchtune-batch")
        self.task: asyncio.Task | None = None

    @property
    def depth(self) -> int:
        return len(self.pending)

    def start(self) -> None:
        self.wake = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Finish what is queued (a graceful drain), then stop the worker."""
        while self.pending:
            await asyncio.sleep(0.005)
        if self.task:
            self.task.cancel()
        self.worker.shutdown(wait=True)

    async def search(self, query: str, k: int, where: dict | None = None, variant: tuple | None = None):
        if len(self.pending) >= self.max_queue:
            raise Overloaded(f"{len(self.pending)} searches are waiting (the queue holds {self.max_queue})")
        item = _Pending(query, k, where, variant, asyncio.get_running_loop().create_future())
        self.pending.append(item)
        self.wake.set()
        return await item.future

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.wake.wait()
            self.wake.clear()
            if not self.pending:
                continue
            deadline = loop.time() + self.max_wait
            while self.max_wait and len(self.pending) < self.max_batch and loop.time() < deadline:
                await asyncio.sleep(min(0.0005, max(0.0, deadline - loop.time())))
            batch, self.pending = self.pending[:self.max_batch], self.pending[self.max_batch:]
            if self.pending:
                self.wake.set()
            started = time.perf_counter()
            try:
                results = await loop.run_in_executor(self.worker, self.run_batch, [b.query for b in batch],
                                                     [b.k for b in batch], [b.where for b in batch],
                                                     [b.variant for b in batch])
            except Exception as exc:  # every request of the batch gets the error
                for b in batch:
                    if not b.future.done():
                        b.future.set_exception(exc)
                continue
            if self.on_batch:
                self.on_batch(len(batch), time.perf_counter() - started)
            for b, result in zip(batch, results):
                if not b.future.done():
                    b.future.set_result(result)
