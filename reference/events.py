"""Recorder of the observable language-side events of docs/trace-format.md.

Log lines go through a real ``logging`` logger (tagged with the rank, like the engine's
``[time TPr]`` prefix) *and* into the recorder as ``{"ev": "log", ...}`` events.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from .content import decode_embedding_rows, decode_fill_ids, decode_mrope

logger = logging.getLogger("ranksync.reference")

Event = dict[str, Any]


class Recorder:
    """Per language rank: the events of the current step, in the order the rank acts."""

    def __init__(self, rank: int) -> None:
        self.rank = rank
        self.events: list[Event] = []

    def begin_step(self) -> None:
        self.events = []

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def log(self, level: int, msg: str) -> None:
        logger.log(level, "[TP%d] %s", self.rank, msg)
        self.events.append({"ev": "log", "level": logging.getLevelName(level), "msg": msg})

    def info(self, msg: str) -> None:
        self.log(logging.INFO, msg)

    def warning(self, msg: str) -> None:
        self.log(logging.WARNING, msg)

    def error(self, msg: str) -> None:
        self.log(logging.ERROR, msg)


def handoff_event(
    origin_input_ids: list[int],
    input_embeds: torch.Tensor,
    mock: tuple[torch.Tensor, int] | None,
    embedding_length: int,
    intact: bool,
) -> Event:
    """trace-format ``handoff``, decoded from what is handed off: ``content`` from the fill
    ids and from the embedding rows (they must agree), and for a mock multimodal input
    (``mock`` = its mrope positions and delta) ``delta`` and ``mrope``."""
    content = decode_fill_ids(origin_input_ids)
    from_rows = decode_embedding_rows(input_embeds)
    if from_rows != content:  # every copy moves both together: a reference bug
        raise AssertionError(f"handed-off fill ids {content} and embedding rows {from_rows} disagree")
    ev: Event = {
        "ev": "handoff",
        "length": len(content),
        "embedding_length": embedding_length,
        "mm_inputs": "none" if mock is None else "mock",
        "intact": intact,
        "content": content,
    }
    if mock is not None:
        ev["delta"] = int(mock[1])
        ev["mrope"] = decode_mrope(mock[0])
    return ev
