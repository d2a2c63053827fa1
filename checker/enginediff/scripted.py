"""Scripted stand-ins for the engine's connection layer on the language side.

The engine's language queues talk to a ``MooncakeEmbeddingManager`` (per-room status store)
and ``MooncakeEmbeddingReceiver`` objects. The harness replaces both with the objects below,
written from protocol.md §3.1/§3.2 and §6: status values only change when the trace says a
status message is delivered (``expected[step].delivered``), an abort arrives, or the queue calls
``failure_exception()``. ``init`` and ``resume_transfer`` send nothing; they are recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# KVPoll values (protocol.md §3); the engine's KVPoll class uses the same plain ints.
FAILED = 0
BOOTSTRAPPING = 1
WAITING_FOR_INPUT = 2
TRANSFERRING = 3
SUCCESS = 4

DEFAULT_FAILURE_REASON = "Failed due to an unknown reason from another rank"
ABORT_REASON = "Aborted by AbortReq."

EventSink = Callable[[dict[str, Any]], None]


def _no_sink(event: dict[str, Any]) -> None:
    del event


class EmbeddingTransferError(Exception):
    """Raised by ``failure_exception()``; ``str()`` is the form quoted in trace-format.md."""

    def __init__(self, bootstrap_room: int, failure_reason: str) -> None:
        super().__init__(failure_reason)
        self.bootstrap_room = bootstrap_room
        self.failure_reason = failure_reason

    def __str__(self) -> str:
        return f"EmbeddingTransferError(bootstrap_room={self.bootstrap_room}): {self.failure_reason}"


class ScriptedManager:
    """Per-rank status store (``request_status``) and failure reasons (``failure_records``)."""

    instances: list[ScriptedManager] = []

    def __init__(self, args: Any = None, disaggregation_mode: Any = None, server_args: Any = None,
                 *more: Any, **kwargs: Any) -> None:
        del more, kwargs
        self.args = args
        self.disaggregation_mode = disaggregation_mode
        self.server_args = server_args
        self.request_status: dict[int, int] = {}
        self.failure_records: dict[int, str] = {}
        self.sink: EventSink = _no_sink
        ScriptedManager.instances.append(self)

    def update_status(self, room: int, status: int) -> None:
        status = int(status)
        if room not in self.request_status:
            self.request_status[room] = status
        elif status == FAILED:
            self.request_status[room] = FAILED
        else:
            self.request_status[room] = max(self.request_status[room], status)

    def check_status(self, room: int) -> int:
        return self.request_status[room]

    def record_failure(self, room: int, reason: str) -> None:
        self.failure_records[room] = reason

    def get_session_id(self) -> str:
        return "127.0.0.1:0"


class ScriptedReceiver:
    """Language-side receiver whose bootstrap handshake is already done (WaitingForInput)."""

    def __init__(self, mgr: ScriptedManager, bootstrap_addr: str,
                 bootstrap_room: int | None = None, prefill_dp_rank: int | None = None) -> None:
        self.embedding_mgr = mgr
        self.bootstrap_addr = bootstrap_addr
        self.bootstrap_room = int(bootstrap_room or 0)
        self.data_parallel_rank = prefill_dp_rank
        self.conclude_state: int | None = None
        mgr.update_status(self.bootstrap_room, BOOTSTRAPPING)
        mgr.update_status(self.bootstrap_room, WAITING_FOR_INPUT)

    def init(self, embedding_indices: list[int] | None = None,
             allocated_tokens: int | None = None) -> None:
        self.embedding_mgr.sink({"ev": "init", "blocks": _ints(embedding_indices),
                                 "allocated_tokens": _int_or_none(allocated_tokens)})

    def resume_transfer(self, embedding_indices: list[int], sent_tokens: int,
                        allocated_tokens: int) -> None:
        self.embedding_mgr.sink({"ev": "resume", "blocks": _ints(embedding_indices),
                                 "sent_tokens": _int_or_none(sent_tokens),
                                 "allocated_tokens": _int_or_none(allocated_tokens)})

    def poll(self) -> int:
        if self.conclude_state is not None:
            return self.conclude_state
        status = self.embedding_mgr.check_status(self.bootstrap_room)
        if status in (SUCCESS, FAILED):
            self.conclude_state = status
        return status

    def clear(self) -> None:
        self.embedding_mgr.request_status.pop(self.bootstrap_room, None)

    def failure_exception(self) -> None:
        self.clear()
        if self.conclude_state is None:
            self.conclude_state = FAILED
        reason = self.embedding_mgr.failure_records.pop(self.bootstrap_room,
                                                        DEFAULT_FAILURE_REASON)
        raise EmbeddingTransferError(self.bootstrap_room, reason)

    def abort(self) -> None:
        self.embedding_mgr.record_failure(self.bootstrap_room, ABORT_REASON)
        self.conclude_state = FAILED


def _ints(values: Any) -> list[int] | None:
    if values is None:
        return None
    return [int(v) for v in values]


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)
