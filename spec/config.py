"""Static parameters of one model instance (protocol.md §13 "configuration").

Python-level values fix the shape of the state (ranks, pool, depth); the token quantities
(L, bs, the default allocation, stale aux rows, blocks held by other requests) stay symbolic
within the ranges given here.

Two settings choose between the engine and a what-if (protocol.md §13, §5.2):

- `stale`: what earlier requests left in the buffers. `"history"` (default, the engine): every
  rank runs the same alloc/free sequence on an identical FIFO pool, so a block's leftover aux
  row and data are those of the same earlier request on every rank that received it (a rank
  of topology b that receives no data holds zeros). `"per_rank"` (what-if): independent
  leftovers per rank, which no engine history produces. `"zeros"`: fresh buffers.
- `pool_pressure`: other live requests that hold blocks of the pool. `"shared"` (default, the
  engine): they allocate and free the same blocks at the same time on every rank. `"per_rank"`
  (what-if): on some ranks only, which needs an earlier asymmetric event. `"none"`: no other
  request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# KVPoll (protocol.md §3), with -1 for "room absent from request_status"
FAILED, BOOTSTRAPPING, WAITING_FOR_INPUT, TRANSFERRING, SUCCESS = 0, 1, 2, 3, 4
ABSENT = -1
STATUS_NAMES = {0: "Failed", 1: "Bootstrapping", 2: "WaitingForInput", 3: "Transferring",
                4: "Success", -1: "absent"}

Stale = Literal["history", "per_rank", "zeros"]
Pressure = Literal["none", "shared", "per_rank"]
WHAT_IF = {"stale": "per_rank", "pool_pressure": "per_rank"}


@dataclass(frozen=True)
class ModelConfig:
    tp_size: int  # T, language ranks
    topology: Literal["a", "b"]
    embedding_tp_size: int = 1  # E (topology a), any E >= 1; topology b: one sender per rank
    receivers: tuple[int, ...] | None = None  # topology b: fixed receiver set, None = symbolic
    depth: int = 8  # scheduler steps unrolled
    pool_blocks: int = 4  # P, per language rank
    block_sizes: tuple[int, ...] = (1, 2)
    length_range: tuple[int, int] = (1, 6)  # L
    default_alloc_range: tuple[int, int] = (1, 2)  # SGLANG_EMBEDDING_DEFAULT_ALLOCATE_BUFFER_SIZE
    stale: Stale = "history"
    faults: bool = True  # aborts and transfer failures
    pool_pressure: Pressure = "shared"
    held_range: tuple[int, int] | None = None  # blocks other requests hold at the start (0..P)
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
        if self.topology == "a" and self.embedding_tp_size < 1:
            raise ValueError("topology a needs embedding_tp_size >= 1")
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
        if self.stale not in ("history", "per_rank", "zeros"):
            raise ValueError("stale must be 'history', 'per_rank' or 'zeros'")
        if self.pool_pressure not in ("none", "shared", "per_rank"):
            raise ValueError("pool_pressure must be 'none', 'shared' or 'per_rank'")
        h0, h1 = self.held
        if not 0 <= h0 <= h1 <= self.pool_blocks:
            raise ValueError("held_range must satisfy 0 <= lo <= hi <= pool_blocks")

    # -- topology ------------------------------------------------------------------------
    @property
    def n_senders(self) -> int:
        """Embedding ranks that hold sessions (E in a; T in b)."""
        return self.embedding_tp_size if self.topology == "a" else self.tp_size

    def sender_of(self, r: int) -> int:
        """§4: T <= E -> r mod T (= r), T > E -> r mod E; both are r mod E for r < T."""
        return r % self.n_senders

    def sessions_of(self, e: int) -> list[int]:
        """Language ranks whose session embedding rank e holds, in processing order (§4).
        Empty for e >= T when E > T: such a rank gets no init message, so its sender stays
        Bootstrapping (the engine's MooncakeEmbeddingSender starts there and nothing moves
        it), the embedding scheduler's bootstrap MIN never passes and `encode` never fires."""
        return [r for r in range(self.tp_size) if self.sender_of(r) == e]

    # -- shapes --------------------------------------------------------------------------
    @property
    def max_blocks(self) -> int:
        """Longest allocation representable: the pool (a larger request cannot be served)."""
        return self.pool_blocks

    @property
    def slots(self) -> int:
        """Token slots per block in the state (the largest block size)."""
        return max(self.block_sizes)

    @property
    def positions(self) -> int:
        """Longest hand-off the model tracks position by position: a read is driven by an
        aux[0] (this request's L or a leftover, both at most the top of `length_range`) or by
        the cached total, so no hand-off is longer."""
        return self.length_range[1]

    @property
    def held(self) -> tuple[int, int]:
        """Blocks held by other requests at the start."""
        if self.pool_pressure == "none":
            return (0, 0)
        return self.held_range if self.held_range is not None else (0, self.pool_blocks)

    @property
    def what_ifs(self) -> list[str]:
        """The settings of this instance that depart from the engine (labelled in reports)."""
        out = []
        if self.stale == "per_rank":
            out.append("stale rows drawn independently per rank")
        if self.pool_pressure == "per_rank":
            out.append("pool pressure on some ranks only")
        if self.topology == "b":
            out.append("topology b (ranks that receive status but no data)")
        return out
