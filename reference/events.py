"""Recorder of the observable language-side events of docs/trace-format.md.

Log lines go through a real ``logging`` logger (tagged with the rank, like the engine's
``[time TPr]`` prefix) *and* into the recorder as ``{"ev": "log", ...}`` events.
"""

from __future__ import annotations

import logging
from typing import Any

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
