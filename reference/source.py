"""The request's source data (trace-format "Content ids"): token i has content id i, encoded
into fill ids, embedding rows and mrope positions by :mod:`.content`."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .content import embedding_rows, fill_ids, garbage_id, mrope_positions


@dataclass
class SourceData:
    """The source request of a scenario (length L, hidden width, mrope delta)."""

    length: int
    hidden: int
    delta: int

    def __post_init__(self) -> None:
        self.ids = torch.arange(self.length, dtype=torch.int64)
        self.fill_ids = fill_ids(self.ids)
        self.embedding = embedding_rows(self.ids, self.hidden)
        self.mrope_positions = mrope_positions(self.ids)
        # What the source blocks hold once freed: garbage ids, same layout (see
        # EmbeddingRank.free_source).
        garbage = torch.tensor([garbage_id(q) for q in range(self.length)], dtype=torch.int64)
        self.garbage_fill_ids = fill_ids(garbage)
        self.garbage_embedding = embedding_rows(garbage, self.hidden)
        self.garbage_mrope_positions = mrope_positions(garbage)

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
