"""Static parameters of one model instance (protocol.md §13 "configuration").

Python-level values fix the shape of the state (ranks, pool, depth); the token quantities
(L, bs, the default allocation, stale aux rows) stay symbolic within the ranges given here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# KVPoll (protocol.md §3), with -1 for "room absent from request_status"
FAILED, BOOTSTRAPPING, WAITING_FOR_INPUT, TRANSFERRING, SUCCESS = 0, 1, 2, 3, 4
ABSENT = -1
STATUS_NAMES = {0: "Failed", 1: "Bootstrapping", 2: "WaitingForInput", 3: "Transferring",
                4: "Success", -1: "absent"}


@dataclass(frozen=True)
class ModelConfig:
    tp_size: int  # T, language ranks
    topology: Literal["a", "b"]
    embedding_tp_size: int = 1  # E (topology a); topology b uses one sender per language rank
    receivers: tuple[int, ...] | None = None  # topology b: fixed receiver set, None = symbolic
    depth: int = 8  # scheduler steps unrolled
    pool_blocks: int = 4  # P, per language rank
    block_sizes: tuple[int, ...] = (1, 2)
    length_range: tuple[int, int] = (1, 6)  # L
    default_alloc_range: tuple[int, int] = (1, 2)  # SGLANG_EMBEDDING_DEFAULT_ALLOCATE_BUFFER_SIZE
    stale: Literal["zeros", "any"] = "any"  # initial aux rows: zeros, or earlier occupants'
    faults: bool = True  # aborts and transfer failures
    alloc_fail: Literal["none", "uniform", "per_rank"] = "uniform"  # pool pressure
    progress_bound: int = 3  # B: eager steps within which the request must leave the queue
    mrope_delta: int = 7
    hidden: int = 4  # only for log-line shapes
    rid: str = "req-0"
    room: int = 1

    def __post_init__(self) -> None:
        if self.tp_size < 1:
            raise ValueError("tp_size must be >= 1")
        if self.topology not in ("a", "b"):
            raise ValueError("topology must be 'a' or 'b'")
        if self.topology == "a" and not (1 <= self.embedding_tp_size <= self.tp_size):
            raise ValueError("topology a needs 1 <= embedding_tp_size <= tp_size (E > T leaves "
                             "embedding ranks without a session; not modelled)")
        if self.receivers is not None:
            if self.topology != "b":
                raise ValueError("receivers only apply to topology b")
            if not self.receivers or any(not 0 <= r < self.tp_size for r in self.receivers):
                raise ValueError("receivers must be a nonempty subset of range(tp_size)")
        if not self.block_sizes or min(self.block_sizes) < 1:
            raise ValueError("block_sizes must be positive")
        lo, hi = self.length_range
        if not 1 <= lo <= hi:
            raise ValueError("length_range must satisfy 1 <= lo <= hi")
        dlo, dhi = self.default_alloc_range
        if not 1 <= dlo <= dhi:
            raise ValueError("default_alloc_range must satisfy 1 <= lo <= hi")
        if self.pool_blocks < 1 or self.depth < 1:
            raise ValueError("pool_blocks and depth must be >= 1")

    # -- topology ------------------------------------------------------------------------
    @property
    def n_senders(self) -> int:
        """Embedding ranks that hold sessions (E in a; T in b)."""
        return self.embedding_tp_size if self.topology == "a" else self.tp_size

    def sender_of(self, r: int) -> int:
        return r % self.n_senders

    def sessions_of(self, e: int) -> list[int]:
        """Language ranks whose session embedding rank e holds, in processing order (§4)."""
        return [r for r in range(self.tp_size) if self.sender_of(r) == e]

    @property
    def max_blocks(self) -> int:
        """Longest allocation representable: the pool (a larger request cannot be served)."""
        return self.pool_blocks
