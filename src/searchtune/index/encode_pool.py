"""Products encoded by several processes while indexing: each loads the models once and encodes whole chunks.

On a CPU each process takes an equal share of the cores (one torch thread each on 2 cores); encoding a chunk
is mostly small matrix products that one thread runs nearly as fast as two, so two processes encode 1.3× as
many products a second as one with two threads (Home Depot titles, BENCHMARKS.md "Indexing in parallel").
With GPUs each process takes its own. The parent keeps the rest of indexing (BM25 vectors, upserts) and keeps
the chunks in order. sentence-transformers' own multi-process pool would encode through its default path,
not the fast SPLADE one (:mod:`searchtune.fast_splade`), so the pool is ours.
"""

from __future__ import annotations

import os
from collections import deque

_MODELS: dict = {}  # in a worker: the models by vector name


def _start(named: dict[str, str], max_length: int | None, threads: int, devices) -> None:
    import torch

    from ..device import use
    from ..models import load_encoder

    torch.set_num_threads(threads)
    use(devices.get())
    for name, ref in named.items():
        model = load_encoder(ref, kind=name.split("_")[0])
        if max_length:
            model.max_seq_length = max_length
        _MODELS[name] = model


def encode_all(models: dict, texts: list[str], batch_size: int = 128, precision: str = "auto") -> tuple[dict, dict]:
    """Every model's document vectors of ``texts``, and the seconds each took (in this process)."""
    import time

    from ..encode import encode

    vectors, seconds = {}, {}
    for name, model in models.items():
        started = time.perf_counter()
        vectors[name] = encode(model, texts, "document", batch_size=batch_size, precision=precision)
        seconds[name] = time.perf_counter() - started
    return vectors, seconds


def _encode(texts: list[str], batch_size: int, precision: str) -> tuple[dict, dict]:
    return encode_all(_MODELS, texts, batch_size, precision)


class EncodePool:
    """``processes`` workers holding the models ``named`` (vector name → model reference)."""

    def __init__(self, named: dict[str, str], processes: int, *, max_length: int | None = None) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        import torch

        from ..device import resolve

        context = multiprocessing.get_context("spawn")  # a forked torch would share the parent's thread pools
        device = resolve()
        gpus = torch.cuda.device_count() if device.startswith("cuda") else 0
        devices = context.Queue()
        for i in range(processes):
            devices.put(f"cuda:{i % gpus}" if gpus else device)
        threads = 1 if gpus else max(1, (os.cpu_count() or processes) // processes)
        self.processes = processes
        self.executor = ProcessPoolExecutor(processes, mp_context=context, initializer=_start,
                                            initargs=(named, max_length, threads, devices))

    def map(self, chunks, *, batch_size: int = 128, precision: str = "auto"):
        """(vectors by name, seconds by name) for each chunk of texts, in order; a few chunks ahead at a time."""
        pending: deque = deque()
        for texts in chunks:
            pending.append(self.executor.submit(_encode, texts, batch_size, precision))
            if len(pending) > self.processes:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> EncodePool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
