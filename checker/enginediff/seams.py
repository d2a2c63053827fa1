"""Where the harness watches one language rank: wrappers on the engine's own objects.

Each wrapper records an event and calls the real method. The trace vocabulary
(docs/trace-format.md: alloc, free, poll, all_reduce_max, init, resume, log, handoff,
removed) is compared with the model; events marked ``"seam": True`` are extra observations
for the property checks of `ranksync history` and are never compared:

* ``get_buf``: every `MultimodalDataBuffers.get_buf` call (blocks, the count it read);
* ``log`` at DEBUG (the engine logs some decisions only there);
* ``handoff_data``: what was handed off, position by position, as content ids (fill ids and
  embedding rows decoded, encoding.py), with a mock's mrope positions and delta;
* ``snap``: the allocator's free list and the request's phase at the end of the step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch

from . import encoding

Sink = Callable[[dict[str, Any]], None]
LOG_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


class LogCapture(logging.Handler):
    """INFO and up are trace events; DEBUG lines are kept as seam events."""

    def __init__(self, sink: Callable[[], Sink]) -> None:
        super().__init__(level=logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelname not in LOG_LEVELS:
            return
        ev: dict[str, Any] = {"ev": "log", "level": record.levelname, "msg": record.getMessage()}
        if record.levelname == "DEBUG":
            ev["seam"] = True
        self.sink()(ev)


def capture_logger(name: str, sink: Callable[[], Sink]) -> None:
    logger = logging.getLogger(name)
    logger.handlers[:] = [LogCapture(sink)]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False


def wrap_allocator(allocator: Any, sink: Sink, failing: Callable[[], bool]) -> None:
    real_alloc, real_free = allocator.alloc, allocator.free

    def alloc(num_tokens: Any = None, req_id: Any = None, fake: bool = False) -> Any:
        if failing() and not fake:
            result = None  # blocks held by other requests (the schedule's alloc_fail)
        else:
            result = real_alloc(num_tokens=num_tokens, req_id=req_id, fake=fake)
        ev: dict[str, Any] = {"ev": "alloc",
                              "num_tokens": None if num_tokens is None else int(num_tokens),
                              "result": None if result is None else [int(b) for b in result]}
        if fake:
            ev["fake"] = True
        sink(ev)
        return result

    def free(block_indices: Any = None, req_id: Any = None, fake: bool = False) -> Any:
        ev: dict[str, Any] = {"ev": "free", "blocks": None if block_indices is None
                              else [int(b) for b in block_indices]}
        if fake:
            ev["fake"] = True
        sink(ev)
        return real_free(block_indices=block_indices, req_id=req_id, fake=fake)

    allocator.alloc, allocator.free = alloc, free


def wrap_get_buf(buffers: Any, sink: Sink) -> None:
    real = buffers.get_buf

    def get_buf(*args: Any, **kwargs: Any) -> Any:
        out = real(*args, **kwargs)
        blocks = kwargs.get("block_indices", args[0] if args else None)
        ids = out[1] if isinstance(out, tuple) and len(out) > 1 else None
        sink({"ev": "get_buf", "seam": True,
              "blocks": None if blocks is None else [int(b) for b in blocks],
              "total": kwargs.get("actual_total_length"),
              "k": None if ids is None else int(len(ids))})
        return out

    buffers.get_buf = get_buf


def tag_queue(obj: Any, method: str, set_tag: Callable[[str | None], None], tag: str) -> None:
    real = getattr(obj, method)

    def tagged(*args: Any, **kwargs: Any) -> Any:
        set_tag(tag)
        try:
            return real(*args, **kwargs)
        finally:
            set_tag(None)

    setattr(obj, method, tagged)


def wrap_failure_handler(queue: Any, sink: Sink) -> None:
    real = queue._handle_failed_request

    def handler(language_req: Any) -> Any:
        out = real(language_req)
        sink({"ev": "removed", "reason": "failed"})
        return out

    queue._handle_failed_request = handler


def handoff(req: Any, buffers: Any, sc: dict[str, Any], version: int = 2
            ) -> list[dict[str, Any]]:
    """The trace's `handoff` event (version 2: with the handed-off content ids, and a mock's
    delta and mrope positions) and a seam event with the same data for the properties."""
    ids = list(req.origin_input_ids or [])
    deleted = getattr(req, "ranksync_deleted_aux", None)
    if deleted is not None:
        n = int(deleted[0])
    else:
        blocks = getattr(req, "embedding_indices", None) or [0]
        n = int(buffers.aux_datas[int(blocks[0]), 0])
    mm = req.multimodal_inputs
    hidden = int(sc["hidden"])
    ok = encoding.intact(ids, req.input_embeds, mm, sc["embedding_length"], hidden,
                         sc["mrope_delta"])
    ev: dict[str, Any] = {"ev": "handoff", "length": len(ids), "embedding_length": n,
                          "mm_inputs": "none" if mm is None else "mock", "intact": ok}
    data: dict[str, Any] = {"ev": "handoff_data", "seam": True,
                            "content": encoding.content(ids, req.input_embeds, hidden),
                            "blocks": [int(b) for b in (getattr(req, "embedding_indices", None)
                                                        or [])]}
    if mm is not None:
        mrope = getattr(mm, "mrope_positions", None)
        delta = getattr(mm, "mrope_position_delta", None)
        data["mrope"] = encoding.decode_mrope(mrope) if isinstance(mrope, torch.Tensor) \
            and mrope.dim() == 2 and mrope.shape[0] == 3 else None
        try:
            data["delta"] = int(torch.as_tensor(delta).reshape(-1)[0])
        except (TypeError, RuntimeError, ValueError, IndexError):
            data["delta"] = None
    if version >= 2:
        ev["content"] = data["content"]
        if mm is not None:
            ev["delta"], ev["mrope"] = data["delta"], data["mrope"]
    return [ev, data]


def snapshot(allocator: Any, phase: str, indices: Any, held: list[int]) -> dict[str, Any]:
    free = getattr(allocator, "free_blocks", None)
    return {"ev": "snap", "seam": True, "phase": phase,
            "free": None if free is None else [int(b) for b in free],
            "indices": None if indices is None else [int(b) for b in indices],
            "held": list(held)}
