"""A memory cap for the prover's worker processes ([prove] memory_limit_mb).

Each worker sets RLIMIT_AS (its address space) when it starts, so a query or a simulation that
needs more fails in that worker -- a MemoryError, or the solver aborting the process -- and
never takes the machine into the OOM killer. The parent survives either way: the groups the
worker had not finished become UNKNOWN rows naming the cap (exit 3, undecided), never a pass.
With a cap the run always uses worker processes, even with jobs = 1.
"""

from __future__ import annotations

import resource
from collections.abc import Callable
from typing import Any

MIN_MB = 256  # an interpreter with z3 loaded is larger: a smaller cap could decide nothing


def reason(mb: int) -> str:
    return (f"the worker exceeded the memory cap of {mb} MB ([prove] memory_limit_mb): "
            f"undecided, raise the cap or shrink the bound")


def _init(mb: int, inner: Callable[..., None] | None, args: tuple[Any, ...]) -> None:
    cap = mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    if inner is not None:
        inner(*args)


def pool_kwargs(mb: int | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    """ProcessPoolExecutor keyword arguments: `kwargs` (an initializer, maybe) plus the cap."""
    if mb is None:
        return kwargs
    return {"initializer": _init,
            "initargs": (mb, kwargs.get("initializer"), tuple(kwargs.get("initargs", ())))}
