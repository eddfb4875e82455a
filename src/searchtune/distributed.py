"""Several training processes (``torchrun`` or ``accelerate launch``): who writes, and who waits for whom.

sentence-transformers' trainer runs data-parallel training itself once the launcher has set ``RANK`` and
``WORLD_SIZE``: each process takes its share of every batch, gradients are averaged, and the in-batch negatives
are gathered across processes (``gather_across_devices``). What is searchtune's: the run directory belongs to
rank 0. It claims it, prepares the data (split, synthetic queries) and writes every file: the model, the stats,
the log, the report. The other ranks wait for it (:func:`main_first`), then read what it wrote.
"""

from __future__ import annotations

import contextlib
import os


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def rank() -> int:
    return int(os.environ.get("RANK", "0") or 0)


def is_main() -> bool:
    """Whether this process writes: always, unless it is a launcher's rank other than 0."""
    return rank() == 0


def start() -> None:
    """Join the launcher's process group (gloo on CPUs, nccl on GPUs) if there is one and it is not joined yet."""
    if world_size() < 2:
        return
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        if torch.cuda.is_available():  # nccl speaks through the current GPU: each rank its own
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0") or 0))
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")


def _agree(ok: bool) -> bool:
    """Rank 0's ``ok``, told to every rank (the others' wait ends here)."""
    import torch.distributed as dist

    start()
    flag = [ok]
    dist.broadcast_object_list(flag, src=0)
    return bool(flag[0])


@contextlib.contextmanager
def main_first():
    """Rank 0 runs the block first (claims the run, writes the data files); the others run it once it is done,
    or stop with an error when it failed (rank 0 says why)."""
    if world_size() < 2:
        yield
        return
    if not is_main():
        if not _agree(True):
            from .errors import SearchtuneError

            raise SearchtuneError(f"rank {rank()}: rank 0 stopped before training (its error says why)")
        yield
        return
    try:
        yield
    except BaseException:
        _agree(False)
        raise
    _agree(True)
