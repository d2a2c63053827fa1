"""Source data of the request as a pure function of the token index, and the ``intact`` check.

Every token ``i`` in ``[0, L)`` is distinguishable from every other token and from zeros:

* fill id: ``ID_BASE + i``;
* embedding row (bf16, exact only for small integers): column ``c`` holds byte ``c mod 3`` of
  ``i + 1`` (values 0..255, so exact in bf16); with ``hidden >= 3`` rows are distinct for
  ``L < 2**24`` and never all zero; the fill id alone already identifies the token;
* mrope positions ``(3, L)``: row ``d`` holds ``(d + 1) * MROPE_BASE + i``.

"Garbage" (a write whose source blocks were already freed, ``start`` null in the trace) uses
values the source never produces: fill id ``-1 - j``, embedding ``-1.0``, mrope ``-(d + 1)``.
"""

from __future__ import annotations

from typing import Any

import torch

ID_BASE = 1_000_000
MROPE_BASE = 10_000_000


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


def garbage_ids(count: int) -> torch.Tensor:
    return -1 - torch.arange(count, dtype=torch.int32)


def garbage_embeddings(count: int, hidden: int) -> torch.Tensor:
    return torch.full((count, hidden), -1.0)


def garbage_mrope(count: int) -> torch.Tensor:
    return -torch.arange(1, 4, dtype=torch.int32).unsqueeze(1).expand(3, count).contiguous()


def apply_write(buffers: Any, write: dict[str, Any], hidden: int) -> None:
    """Land one trace ``write`` in an engine ``MultimodalDataBuffers`` instance."""
    block = int(write["block"])
    count = int(write["count"])
    start = write.get("start")
    if count > 0:
        if start is None:
            ids, emb, mrope = (garbage_ids(count), garbage_embeddings(count, hidden),
                               garbage_mrope(count))
        else:
            s = int(start)
            ids, emb, mrope = (source_ids(s, count), source_embeddings(s, count, hidden),
                               source_mrope(s, count))
        buffers.fill_ids[block, :count] = ids
        buffers.input_embeddings[block, : count * hidden] = emb.flatten().to(
            buffers.input_embeddings.dtype)
        buffers.mrope_positions[block, : 3 * count] = mrope.flatten()
    aux = write.get("aux")
    if aux is not None:
        buffers.aux_datas[block, :] = 0
        buffers.aux_datas[block, 0] = int(aux[0])
        buffers.aux_datas[block, 1] = int(aux[1])


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
