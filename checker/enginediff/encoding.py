"""Token data as a pure function of the *content id* (docs/trace-format.md "Content ids"), the
decoding back, and the ``intact`` check.

Every content id is distinguishable from every other and from zeros:

* fill id: ``ID_BASE + c`` for ``c >= 0`` (token c of the request), ``0`` for ``-1`` (zeros),
  ``c`` itself for any other negative id (another request's token, garbage);
* embedding row (bf16, exact for small integers): column ``j`` holds byte ``j mod 3`` of
  ``c + 1`` for ``c >= 0`` (values 0..255), zeros for ``-1``, and ``-(1 + byte j mod 3 of -c)``
  for other negative ids;
* mrope positions: row ``d`` of token c holds ``(d + 1) * MROPE_BASE + c`` (``0`` for zeros).

A block written with t tokens holds its mrope positions as a (3, t) matrix flattened row-major
(protocol.md §5.1); decoding reads each value back as ``3 * c + d`` ("row d of content id c"),
as the trace's hand-off does, wherever the reader's stride put it. Version 1 traces' garbage
writes (``start`` null) keep their v1 values: fill id ``-1 - j``, embedding -1, mrope -(d+1).
"""

from __future__ import annotations

from typing import Any

import torch

ID_BASE = 1_000_000
MROPE_BASE = 10_000_000
ZERO = -1
GARBAGE = 10_000  # garbage ids are -(GARBAGE + q)
MIXED = 1 << 30  # a position whose fill id and embedding row name different tokens


def source_ids(start: int, count: int) -> torch.Tensor:
    return torch.arange(start, start + count, dtype=torch.int64).add_(ID_BASE).to(torch.int32)


def source_embeddings(start: int, count: int, hidden: int) -> torch.Tensor:
    idx = torch.arange(start + 1, start + count + 1, dtype=torch.int64).unsqueeze(1)
    shifts = (torch.arange(hidden, dtype=torch.int64) % 3) * 8
    return ((idx >> shifts) & 0xFF).to(torch.float32)


def source_mrope(start: int, count: int) -> torch.Tensor:
    rows = torch.arange(1, 4, dtype=torch.int64).unsqueeze(1) * MROPE_BASE
    cols = torch.arange(start, start + count, dtype=torch.int64).unsqueeze(0)
    return (rows + cols).to(torch.int32)


# ---- any content id ---------------------------------------------------------------------------
def fill_of(ids: list[int]) -> torch.Tensor:
    return torch.tensor([ID_BASE + c if c >= 0 else 0 if c == ZERO else c for c in ids],
                        dtype=torch.int32)


def rows_of(ids: list[int], hidden: int) -> torch.Tensor:
    shifts = (torch.arange(hidden, dtype=torch.int64) % 3) * 8
    out = []
    for c in ids:
        if c == ZERO:
            out.append(torch.zeros(hidden))
        elif c >= 0:
            out.append(((torch.tensor(c + 1) >> shifts) & 0xFF).to(torch.float32))
        else:
            out.append(-(1 + ((torch.tensor(-c) >> shifts) & 0xFF)).to(torch.float32))
    return torch.stack(out) if out else torch.zeros(0, hidden)


def mrope_of(ids: list[int]) -> torch.Tensor:
    """(3, len(ids)): row d of token c."""
    return torch.tensor([[0 if c == ZERO else (d + 1) * MROPE_BASE + c for c in ids]
                         for d in range(3)], dtype=torch.int32)


def garbage_ids(start: int, count: int) -> list[int]:
    return [-(GARBAGE + start + j) for j in range(count)]


def write_ids(buffers: Any, block: int, ids: list[int], hidden: int) -> None:
    """The first len(ids) slots of `block` now hold these tokens (one write: mrope stride
    len(ids))."""
    t = len(ids)
    if t == 0:
        return
    buffers.fill_ids[block, :t] = fill_of(ids)
    buffers.input_embeddings[block, : t * hidden] = rows_of(ids, hidden).flatten().to(
        buffers.input_embeddings.dtype)
    buffers.mrope_positions[block, : 3 * t] = mrope_of(ids).flatten()


def set_aux(buffers: Any, block: int, aux: Any) -> None:
    buffers.aux_datas[block, :] = 0
    buffers.aux_datas[block, 0] = int(aux[0])
    buffers.aux_datas[block, 1] = int(aux[1])


def apply_write(buffers: Any, write: dict[str, Any], hidden: int) -> None:
    """Land one trace ``write`` in an engine ``MultimodalDataBuffers`` instance."""
    block, count, start = int(write["block"]), int(write["count"]), write.get("start")
    if count > 0 and start is None:  # version 1 garbage
        buffers.fill_ids[block, :count] = -1 - torch.arange(count, dtype=torch.int32)
        buffers.input_embeddings[block, : count * hidden] = -1.0
        buffers.mrope_positions[block, : 3 * count] = -torch.arange(
            1, 4, dtype=torch.int32).unsqueeze(1).expand(3, count).flatten()
    elif count > 0 and start is not None:
        s = int(start)
        write_ids(buffers, block, garbage_ids(s, count) if write.get("garbage")
                  else list(range(s, s + count)), hidden)
    if write.get("aux") is not None:
        set_aux(buffers, block, write["aux"])


# ---- decoding what was handed off --------------------------------------------------------------
def decode_fill(v: int) -> int:
    if v >= ID_BASE // 2:
        return v - ID_BASE
    return ZERO if v == 0 else v if v < 0 else -MIXED


def decode_row(row: torch.Tensor) -> int:
    vals = [float(x) for x in row[:3].to(torch.float32).tolist()]
    if len(vals) < 3 or not all(x.is_integer() for x in vals):
        return -MIXED
    n = [int(x) for x in vals]
    if all(x == 0 for x in n) and not bool(row.abs().sum()):
        return ZERO
    if all(x >= 0 for x in n):
        return n[0] + (n[1] << 8) + (n[2] << 16) - 1
    if all(x < 0 for x in n):
        b = [-x - 1 for x in n]
        return -(b[0] + (b[1] << 8) + (b[2] << 16))
    return -MIXED


def content(ids: list[int], embeds: Any, hidden: int) -> list[int]:
    """The content id of each handed-off position (fill id and embedding row); a position whose
    two parts name different tokens gets an id of its own for that pair."""
    rows = embeds.reshape(embeds.shape[0], -1)[:, :hidden] if isinstance(
        embeds, torch.Tensor) and embeds.dim() >= 1 else None
    out = []
    for p, v in enumerate(ids):
        f = decode_fill(int(v))
        r = decode_row(rows[p]) if rows is not None and p < rows.shape[0] else -MIXED
        out.append(f if f == r else -(MIXED + (abs(f) % 4096) * 4096 + abs(r) % 4096))
    return out


def decode_mrope(mrope: torch.Tensor) -> list[list[int]]:
    """[row][position] of a (3, k) mrope tensor, each value as 3 * content id + row."""
    out = []
    for d in range(3):
        line = []
        for v in (int(x) for x in mrope[d].tolist()):
            if v == 0:
                line.append(3 * ZERO + d)
                continue
            dd = (v + MROPE_BASE // 2) // MROPE_BASE - 1
            line.append(3 * (v - (dd + 1) * MROPE_BASE) + dd)
        out.append(line)
    return out


def intact(ids: Any, embeds: Any, mm_inputs: Any, length: int, hidden: int, delta: int) -> bool:
    """trace-format.md ``handoff.intact``: the handed-off data are source tokens [0, L)."""
    ids_list = [] if ids is None else list(ids)
    if len(ids_list) != length:
        return False
    if [int(v) if float(v).is_integer() else v for v in ids_list] != source_ids(0, length).tolist():
        return False
    if not isinstance(embeds, torch.Tensor) or tuple(embeds.shape) != (length, hidden):
        return False
    if not torch.equal(embeds.to(torch.float32), source_embeddings(0, length, hidden)):
        return False
    if mm_inputs is not None:
        mrope = getattr(mm_inputs, "mrope_positions", None)
        if not isinstance(mrope, torch.Tensor) or tuple(mrope.shape) != (3, length):
            return False
        if not torch.equal(mrope.to(torch.int64), source_mrope(0, length).to(torch.int64)):
            return False
        got_delta = getattr(mm_inputs, "mrope_position_delta", None)
        try:
            flat = torch.as_tensor(got_delta).reshape(-1)
        except (TypeError, RuntimeError, ValueError):
            return False
        if flat.numel() != 1 or int(flat[0]) != int(delta):
            return False
    return True


def block_bytes(arr: int, ids: list[int], hidden: int, dtypes: tuple[Any, ...]) -> bytes:
    """What a block holding these tokens (one write) has in array `arr` of
    MultimodalDataBuffers (0 embeddings, 1 fill ids, 2 mrope), as raw bytes."""
    if arr == 0:
        t = rows_of(ids, hidden).flatten().to(dtypes[0])
    elif arr == 1:
        t = fill_of(ids)
    else:
        t = mrope_of(ids).flatten()
    return bytes(t.contiguous().view(torch.uint8).tolist())
