"""Where models compute: ``--device auto|cpu|cuda|cuda:N|mps`` (or ``SEARCHTUNE_DEVICE``), once per process.

The device belongs to the process, not to a step (like ``CUDA_VISIBLE_DEVICES``): a command sets it as it starts
(:func:`use`) and every model load asks :func:`resolve`. ``auto`` takes a GPU when torch sees one; under
``torchrun`` each process takes its own (``LOCAL_RANK``). Asking for a GPU that torch cannot see is an error that
says why (most often the CPU build of torch: docs/scaling.md says how to install the CUDA one).
"""

from __future__ import annotations

import os
import re

from .errors import SearchtuneError

ENV = "SEARCHTUNE_DEVICE"
CHOICES = "auto, cpu, cuda, cuda:N or mps"
_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check(name: str) -> str:
    """``name`` if it is a device searchtune knows, else an error listing them."""
    name = str(name).strip().lower()
    if not _PATTERN.match(name):
        raise SearchtuneError(f"--device {name!r} is not one of: {CHOICES}")
    return name


def use(name: str | None) -> None:
    """Make ``name`` this process's device (and its children's: jobs, torchrun workers); None leaves it."""
    if name:
        resolve(name)  # a GPU that is not there fails now, before any data is read
        os.environ[ENV] = check(name)


def _local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0") or 0)


def resolve(name: str | None = None) -> str:
    """The torch device string for ``name`` (default: this process's, else ``auto``)."""
    import torch

    name = check(name or os.environ.get(ENV) or "auto")
    if name == "auto":
        if torch.cuda.is_available():
            return f"cuda:{_local_rank() % torch.cuda.device_count()}"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            why = ("this torch is the CPU build" if torch.version.cuda is None
                   else f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no GPU; check the driver")
            raise SearchtuneError(f"--device {name}: {why}. Install the CUDA build (docs/scaling.md) or use "
                                  "--device cpu")
        index = int(name.split(":")[1]) if ":" in name else _local_rank()
        if index >= torch.cuda.device_count():
            raise SearchtuneError(f"--device {name}: torch sees {torch.cuda.device_count()} GPU(s), numbered from 0")
        return f"cuda:{index}"
    if name == "mps" and not torch.backends.mps.is_available():
        raise SearchtuneError("--device mps: this machine has no Apple GPU that torch can use; use --device cpu")
    return name


def describe() -> str:
    """The device in words, for reports: 'cpu', or the GPU's name."""
    import torch

    device = resolve()
    if device.startswith("cuda"):
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return device
