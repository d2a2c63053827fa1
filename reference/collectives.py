"""Collectives behind one small interface (protocol.md §3.3, §8.2).

Two backends implement :class:`CollectiveGroup`:

* :class:`InProcessGroup` runs the T language ranks' iterations as threads of one process
  and matches their collectives in a coordinator. When no rank can make progress and the
  ranks are not all waiting in the *same* collective (one finished, or the call signatures
  differ), the iteration is a deadlock (trace-format: ``{"ev": "deadlock"}``).
* :class:`GlooGroup` wraps a torch.distributed gloo process group; a deadlock shows up as
  the group's timeout.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Protocol

import torch

from . import lifeline
from .kvpoll import KVPoll


class ReduceOp(Enum):
    MIN = "min"
    MAX = "max"


class DeadlockError(RuntimeError):
    """Raised inside a rank blocked in a collective that the other ranks never enter."""


class CollectiveGroup(Protocol):
    def all_reduce(self, tensor: torch.Tensor, op: ReduceOp) -> None:
        """In-place all-reduce over the group, like ``torch.distributed.all_reduce``."""
        ...


class Poller(Protocol):
    def poll(self) -> KVPoll: ...


def poll_and_all_reduce(pollers: Sequence[Poller], gloo_group: CollectiveGroup) -> list[int]:
    """protocol.md §3.3: local polls in queue order -> uint8 tensor -> MIN all-reduce."""
    polls = [int(p.poll()) for p in pollers]
    tensor = torch.tensor(polls, dtype=torch.uint8)
    gloo_group.all_reduce(tensor, ReduceOp.MIN)
    return [int(x) for x in tensor.tolist()]


def signature(tensor: torch.Tensor, op: ReduceOp) -> tuple[str, str, tuple[int, ...]]:
    """What two ranks' calls must share to be *the same* collective (what gloo would pair)."""
    return (op.value, str(tensor.dtype), tuple(tensor.shape))


def _reduce(tensors: list[torch.Tensor], op: ReduceOp) -> torch.Tensor:
    stacked = torch.stack(tensors, 0)
    return stacked.min(0).values if op is ReduceOp.MIN else stacked.max(0).values


class InProcessGroup:
    """T ranks in one process: each rank's iteration is a thread; the caller's thread is the
    coordinator. Results depend only on matched collectives, so runs are deterministic."""

    def __init__(self, world_size: int) -> None:
        self.world_size = world_size
        self._cond = threading.Condition()
        self._state: list[str] = []
        self._pending: list[tuple[tuple[str, str, tuple[int, ...]], torch.Tensor] | None] = []
        self._results: list[torch.Tensor | None] = []
        self._abort = False

    def rank_group(self, rank: int) -> _RankHandle:
        return _RankHandle(self, rank)

    def run(self, fns: Sequence[Callable[[], None]]) -> bool:
        """Run one iteration per rank; True if it deadlocked (blocked ranks are unwound)."""
        n = self.world_size
        assert len(fns) == n
        self._state = ["running"] * n
        self._pending = [None] * n
        self._results = [None] * n
        self._abort = False
        errors: list[BaseException | None] = [None] * n

        def wrap(rank: int, fn: Callable[[], None]) -> None:
            final = "done"
            try:
                fn()
            except DeadlockError:
                final = "unwound"
            except BaseException as exc:  # surfaced to the caller after cleanup
                errors[rank] = exc
                final = "error"
            with self._cond:
                self._state[rank] = final
                self._cond.notify_all()

        threads = [
            threading.Thread(target=wrap, args=(r, fn), name=f"lang-rank-{r}", daemon=True)
            for r, fn in enumerate(fns)
        ]
        for t in threads:
            t.start()
        deadlock = False
        with self._cond:
            while True:
                self._cond.wait_for(lambda: all(s != "running" for s in self._state))
                if all(s == "done" for s in self._state):
                    break
                if any(s == "error" for s in self._state):
                    self._abort = True
                    self._cond.notify_all()
                    break
                pending = self._pending
                sigs = {p[0] for p in pending if p is not None}
                if all(s == "waiting" for s in self._state) and len(sigs) == 1:
                    op = ReduceOp(next(iter(sigs))[0])
                    out = _reduce([p[1] for p in pending if p is not None], op)
                    for r in range(n):
                        self._results[r] = out.clone()
                        self._pending[r] = None
                        self._state[r] = "running"
                    self._cond.notify_all()
                    continue
                deadlock = True
                self._abort = True
                self._cond.notify_all()
                break
        for t in threads:
            t.join()
        for exc in errors:
            if exc is not None:
                raise exc
        return deadlock

    def _all_reduce(self, rank: int, tensor: torch.Tensor, op: ReduceOp) -> None:
        with self._cond:
            self._pending[rank] = (signature(tensor, op), tensor.clone())
            self._state[rank] = "waiting"
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._state[rank] == "running" or self._abort)
            if self._state[rank] != "running":
                raise DeadlockError(f"rank {rank} blocked in all_reduce({op.value})")
            result = self._results[rank]
            assert result is not None
            tensor.copy_(result)


class _RankHandle:
    def __init__(self, group: InProcessGroup, rank: int) -> None:
        self._group = group
        self.rank = rank

    def all_reduce(self, tensor: torch.Tensor, op: ReduceOp) -> None:
        self._group._all_reduce(self.rank, tensor, op)


def is_timeout_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "timed out" in text or "timeout" in text


class GlooGroup:
    """The protocol's ``attn_tp_cpu_group`` on torch.distributed/gloo (one process per rank).

    ``signatures`` records this rank's calls of the current iteration so the driver can
    compare them across ranks on a separate group."""

    def __init__(self, process_group: object) -> None:
        self.process_group = process_group
        self.signatures: list[tuple[str, str, tuple[int, ...]]] = []

    def all_reduce(self, tensor: torch.Tensor, op: ReduceOp) -> None:
        import torch.distributed as dist

        self.signatures.append(signature(tensor, op))
        dist_op = dist.ReduceOp.MIN if op is ReduceOp.MIN else dist.ReduceOp.MAX
        try:
            lifeline.mark("collective")
            dist.all_reduce(tensor, op=dist_op, group=self.process_group)  # type: ignore[arg-type]
            lifeline.mark("local")
        except RuntimeError as exc:
            # Timeout: the others never entered this collective. A closed connection means
            # a peer left first - after its own timeout, or by dying, which the spawner sees
            # from that peer's exit status. Either way this rank is stuck here.
            kind = "timed out" if is_timeout_error(exc) else "failed"
            raise DeadlockError(f"all_reduce({op.value}) {kind}: {exc}") from exc
