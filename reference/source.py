"""The request's source data: a pure function of the token index (trace-format "Scenario").

Every token must differ from every other token and from zeros. bf16 holds integers exactly
only up to 256, so embeddings are built from raw bf16 *bit patterns*: column j holds digit j
of the token index in base ``EMB_BASE``, mapped onto positive normal finite bf16 values.
Garbage (data read from freed source blocks) uses negative values, never produced here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

FILL_ID_BASE = 100_000
MROPE_ROW_BASE = 10_000_000
# bf16 bit patterns 0x0080 (smallest positive normal) .. 0x7F7F (largest finite).
EMB_MIN_BITS = 0x0080
EMB_BASE = 0x7F7F - EMB_MIN_BITS + 1
GARBAGE_INT = -7
GARBAGE_EMB_BITS = -16512  # 0xBF80 as int16, i.e. bf16 -1.0


def fill_id(i: int) -> int:
    return FILL_ID_BASE + i


def embedding_bits(i: int, hidden: int) -> list[int]:
    return [EMB_MIN_BITS + (i // EMB_BASE**j) % EMB_BASE for j in range(hidden)]


def mrope_position(axis: int, i: int) -> int:
    return (axis + 1) * MROPE_ROW_BASE + i


@dataclass
class SourceData:
    """The source request of a scenario (length L, hidden width, mrope delta)."""

    length: int
    hidden: int
    delta: int

    def __post_init__(self) -> None:
        idx = torch.arange(self.length, dtype=torch.int64)
        self.fill_ids = (FILL_ID_BASE + idx).to(torch.int32)
        cols = [EMB_MIN_BITS + (idx // EMB_BASE**j) % EMB_BASE for j in range(self.hidden)]
        bits = torch.stack(cols, 1) if cols else torch.empty((self.length, 0), dtype=torch.int64)
        self.embedding = bits.to(torch.int16).view(torch.bfloat16).reshape(self.length, self.hidden)
        self.mrope_positions = torch.stack(
            [(a + 1) * MROPE_ROW_BASE + idx for a in range(3)], 0
        ).to(torch.int32)

    def is_intact(
        self,
        origin_input_ids: list[int],
        input_embeds: torch.Tensor,
        mock: bool,
        mrope: torch.Tensor | None,
        delta: int | None,
    ) -> bool:
        """trace-format ``handoff.intact``: tokens [0, L) in order (and mrope/delta if mock)."""
        if len(origin_input_ids) != self.length:
            return False
        if [int(x) for x in origin_input_ids] != self.fill_ids.tolist():
            return False
        if tuple(input_embeds.shape) != (self.length, self.hidden):
            return False
        got = input_embeds.to(torch.bfloat16).contiguous().view(torch.int16)
        if not torch.equal(got, self.embedding.view(torch.int16)):
            return False
        if mock:
            if mrope is None or tuple(mrope.shape) != (3, self.length):
                return False
            if not torch.equal(mrope.to(torch.int64), self.mrope_positions.to(torch.int64)):
                return False
            if delta != self.delta:
                return False
        return True
