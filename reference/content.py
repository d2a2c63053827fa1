"""Content ids in real buffers (docs/trace-format.md "Content ids"): the reference's encoding.

A content id ``c`` names the data of one token: ``c >= 0`` token c of the request, ``-1`` the
zeros of never-written buffers, ``-(10000 + q)`` garbage copied from freed source token q,
any other negative id a token of some other request. The reference stores ``n = c + 1`` so
that content -1 is the all-zero data of a freshly created buffer:

* fill id (int32): ``n``.
* embedding row (bf16, ``hidden`` columns): ``n`` in balanced base ``B = 65279``, digit j in
  column j; the digit ``d`` in ``[-32639, 32639]`` *is* the bf16 bit pattern
  ``sign(d) << 15 | |d|`` (magnitude 0..0x7F7F: zero, subnormals and normals, never -0, inf
  or NaN). Every pattern is a finite bf16 number built from its bits, so no rounding ever
  applies; distinct digits are distinct numbers, so decoding is exact from the bits and
  from the values alike (a bf16 -> f32 -> bf16 round trip changes nothing).
* mrope position (int32) of row ``r``: ``3 * n + r`` (the doc's value ``3 * c + r`` plus 3),
  except content -1, whose positions are 0 in every row: zeros carry no row. Decoding:
  ``c = v // 3 - 1``, ``r = v % 3``; a value of content -1 decodes to null ("row unknown").

All three maps are injective on the ids that fit (:func:`max_abs_id`): distinct ids give
distinct fill ids, distinct embedding rows and distinct position columns, and each decodes
exactly. Content -1 is all-zero bits in every array, so the engine's zero-initialised
buffers need no translation, and zeros handed off on two ranks are identical whatever
layout each rank read them with (as in the engine). Blocks written whole (initial content,
what other requests leave) use the full-block layout: mrope as (3, bs) row-major.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .buffers import MultimodalDataBuffers

GARBAGE_BASE = 10_000
ZEROS = -1
EMB_DIGIT_MAX = 0x7F7F  # largest finite bf16 magnitude pattern
EMB_BASE = 2 * EMB_DIGIT_MAX + 1
# mrope: 3 * n + 2 must fit int32.
_MROPE_MAX_N = (2**31 - 1 - 2) // 3


def garbage_id(q: int) -> int:
    """What a chunk copies from source token q after the source blocks were freed."""
    return -(GARBAGE_BASE + q)


def max_abs_id(hidden: int) -> int:
    """Largest |c + 1| encodable in every buffer for this embedding row width."""
    emb = (EMB_BASE ** min(hidden, 3) - 1) // 2  # 3 columns already exceed int32
    return min(emb, _MROPE_MAX_N)


def check_id(c: int, hidden: int) -> str | None:
    """None if content id ``c`` is encodable, else why not (for TraceError messages)."""
    m = max_abs_id(hidden)
    if not -m <= c + 1 <= m:
        return f"content id {c} does not fit the encoding for hidden={hidden} (need {-m - 1} <= id <= {m - 1})"
    return None


# -- encode ------------------------------------------------------------------------------------


def fill_ids(ids: torch.Tensor) -> torch.Tensor:
    return (ids.to(torch.int64) + 1).to(torch.int32)


def embedding_rows(ids: torch.Tensor, hidden: int) -> torch.Tensor:
    """[k] content ids -> [k, hidden] bf16 rows (built from bit patterns, never rounded)."""
    n = ids.to(torch.int64) + 1
    cols = []
    for _ in range(hidden):
        d = torch.remainder(n + EMB_DIGIT_MAX, EMB_BASE) - EMB_DIGIT_MAX
        cols.append(d)
        n = torch.div(n - d, EMB_BASE, rounding_mode="floor")
    if bool((n != 0).any()):
        raise ValueError(f"content id outside the range encodable with hidden={hidden}")
    digits = torch.stack(cols, 1) if cols else torch.empty((len(ids), 0), dtype=torch.int64)
    bits = torch.where(digits < 0, 0x8000 - digits, digits)  # sign-magnitude, 0..0xFF7F
    return (bits - 65536 * (bits >= 32768)).to(torch.int16).view(torch.bfloat16)


def mrope_positions(ids: torch.Tensor) -> torch.Tensor:
    """[k] content ids -> (3, k) int32 positions: row r of token c is 3 * (c + 1) + r, and 0
    for content -1 (zeros)."""
    n = ids.to(torch.int64) + 1
    return torch.stack([torch.where(n == 0, 0, 3 * n + r) for r in range(3)], 0).to(torch.int32)


# -- decode ------------------------------------------------------------------------------------


def decode_fill_ids(ids: torch.Tensor | Sequence[int]) -> list[int]:
    return [int(x) - 1 for x in (ids.tolist() if isinstance(ids, torch.Tensor) else ids)]


def decode_embedding_rows(emb: torch.Tensor) -> list[int]:
    """[k, hidden] bf16 -> content ids. Raises ValueError on a pattern no id encodes."""
    bits = emb.contiguous().view(torch.int16).to(torch.int64) & 0xFFFF
    mag, neg = bits & 0x7FFF, bits >= 0x8000
    if bool((mag > EMB_DIGIT_MAX).any()) or bool((neg & (mag == 0)).any()):
        raise ValueError("embedding row holds a bf16 pattern outside the content encoding")
    digits = torch.where(neg, -mag, mag)
    out: list[int] = []
    for row in digits.tolist():
        n = 0
        for d in reversed(row):
            n = n * EMB_BASE + d
        out.append(n - 1)
    return out


def decode_mrope(mrope: torch.Tensor) -> list[list[int | None]]:
    """(3, k) positions -> the doc's values ``3 * c + row``; None (JSON null) for zeros
    (content -1), whose row cannot be told."""
    return [[None if v // 3 == 0 else v - 3 for v in row] for row in mrope.to(torch.int64).tolist()]


# -- whole blocks ------------------------------------------------------------------------------


def write_block(bufs: MultimodalDataBuffers, block: int, ids: Sequence[int]) -> None:
    """Write all ``bs`` token slots of one block, full-block layout (mrope (3, bs) row-major):
    what a whole-block writer (an earlier occupant, another live request) leaves there."""
    if len(ids) != bufs.block_size:
        raise ValueError(f"a block holds {bufs.block_size} tokens, got {len(ids)} content ids")
    t = torch.tensor(list(ids), dtype=torch.int64)
    bufs.fill_ids[block] = fill_ids(t)
    bufs.input_embeddings[block] = embedding_rows(t, bufs.embedding_dim).reshape(-1)
    bufs.mrope_positions[block] = mrope_positions(t).reshape(-1)


def leave_block(bufs: MultimodalDataBuffers, block: int, ids: Sequence[int], aux: tuple[int, int]) -> None:
    """What an earlier or another request leaves in a block: its data and aux row
    ``[aux0, aux1, 0, ...]`` (no room: trace-format "Designs", gate)."""
    write_block(bufs, block, ids)
    bufs.aux_datas[block].zero_()
    bufs.aux_datas[block, 0] = aux[0]
    bufs.aux_datas[block, 1] = aux[1]


def read_block_ids(bufs: MultimodalDataBuffers, block: int) -> list[int]:
    """The content ids of a block's token slots, from its fill ids."""
    return decode_fill_ids(bufs.fill_ids[block])
