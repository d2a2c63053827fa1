"""Content ids: what a token slot of a language buffer holds (docs/trace-format.md).

A slot holds one token's data (its fill id, embedding row and mrope column), named by an
integer: `i >= 0` is token i of this request; negative ids are data that are not this
request's. Two ranks hold the same data iff they hold the same id, which is what lets
`handoff_agreement` compare what two ranks hand to the TP forward.

- `ZERO`: never written.
- `stale(b, s)`: what earlier requests left in slot s of block b. Under the engine's shared
  history this id is the same on every rank that received those requests' data; under the
  what-if `stale = "per_rank"` it names the rank too (`stale(b, s, r)`), so no two ranks share
  a leftover.
- `garbage(q)`: copied from source token q after the embedding side freed its source blocks;
  the embedding ranks run identical pools, so it is the same wherever it lands.

mrope positions are tracked as values `3 * c + row` ("row `row` of the token with id c"), or
`MROPE_UNKNOWN` where the value comes from a write older than the block's last write.
"""

from __future__ import annotations

from .config import ModelConfig

ZERO = -1
TRACE_GARBAGE = 10000  # docs/trace-format.md: garbage ids are -(10000 + q)


def stale(cfg: ModelConfig, b: int, s: int, r: int | None = None) -> int:
    """Leftover of slot s of block b (shared by every receiving rank), or of rank r's."""
    base = 2 + cfg.pool_blocks * cfg.slots * (0 if r is None else r + 1)
    return -(base + b * cfg.slots + s)


def garbage_base(cfg: ModelConfig) -> int:
    return 2 + cfg.pool_blocks * cfg.slots * (cfg.tp_size + 1)


def mrope_unknown(cfg: ModelConfig) -> int:
    return 3 * -(garbage_base(cfg) + cfg.length_range[1] + 1) - 1


def export(cfg: ModelConfig, c: int) -> int:
    """The trace's id for the model's id `c` (garbage has a fixed base in traces)."""
    gb = garbage_base(cfg)
    return -(TRACE_GARBAGE + (-c - gb)) if c <= -gb else c


def import_id(cfg: ModelConfig, c: int) -> int:
    """The model's id for a trace's id `c` (inverse of `export`)."""
    return -(garbage_base(cfg) + (-c - TRACE_GARBAGE)) if c <= -TRACE_GARBAGE else c


def export_mrope(cfg: ModelConfig, v: int) -> int | None:
    if v == mrope_unknown(cfg):
        return None
    c, row = divmod(v, 3)
    return 3 * export(cfg, c) + row


def max_magnitude(cfg: ModelConfig) -> int:
    """Largest |id| or |mrope value| (for the bit-width of symbolic terms)."""
    return -mrope_unknown(cfg) + 3
