"""Hand-written scenarios (from protocol.md) shared by the reference tests."""

from __future__ import annotations

from typing import Any

RID = "req-1"
ROOM = 77


def scenario(**over: Any) -> dict[str, Any]:
    """bs = 4 tokens, first allocation 1 block, L = 10: first send 4 tokens, resume 6 (2 blocks)."""
    base: dict[str, Any] = {
        "topology": "a",
        "tp_size": 2,
        "embedding_tp_size": 1,
        "block_size": 4,
        "default_allocate_tokens": 4,
        "pool_blocks": 8,
        "hidden": 2,
        "embedding_length": 10,
        "mrope_delta": -3,
        "rid": RID,
        "room": ROOM,
    }
    base.update(over)
    return base


def trace(variant: str, sc: dict[str, Any], schedule: list[Any], name: str = "t") -> dict[str, Any]:
    return {
        "format": "ranksync-trace",
        "version": 2,
        "name": name,
        "variant": variant,
        "scenario": sc,
        "schedule": schedule,
    }


def ev_log(level: str, msg: str) -> dict[str, Any]:
    return {"ev": "log", "level": level, "msg": msg}


def init_step_events(blocks: list[int], tokens: int) -> list[dict[str, Any]]:
    """Step 0 of every scenario: handshake MIN, first allocation, init, transfer MIN."""
    return [
        {"ev": "poll", "queue": "prealloc", "result": [2]},
        {"ev": "alloc", "num_tokens": tokens, "result": blocks},
        {"ev": "init", "blocks": blocks, "allocated_tokens": tokens},
        {"ev": "poll", "queue": "transfer", "result": [2]},
    ]


def failed_msg(rank: int, reason: str) -> str:
    return (
        f"MultiModalLanguage transfer failed for request rank={rank} language_req.req.rid={RID!r} "
        f"language_req.req.bootstrap_room={ROOM} with exception "
        f"EmbeddingTransferError(bootstrap_room={ROOM}): {reason}"
    )


UNKNOWN = "Failed due to an unknown reason from another rank"
ABORTED = "Aborted by AbortReq."


def write(block: int, start: int, count: int, aux: list[int] | None = None, garbage: bool = False) -> dict[str, Any]:
    """A write record (trace-format v2)."""
    return {"block": block, "start": start, "count": count, "aux": aux, "garbage": garbage}


def handoff(
    content: list[int],
    embedding_length: int,
    intact: bool,
    mock: tuple[int, list[list[int]]] | None = None,
) -> dict[str, Any]:
    """A handoff event; ``mock`` = (delta, mrope rows) for a mock multimodal input."""
    ev: dict[str, Any] = {
        "ev": "handoff",
        "length": len(content),
        "embedding_length": embedding_length,
        "mm_inputs": "none" if mock is None else "mock",
        "intact": intact,
        "content": content,
    }
    if mock is not None:
        ev["delta"], ev["mrope"] = mock
    return ev


def mrope_of(content: list[int]) -> list[list[int | None]]:
    """The doc's mrope rows of tokens read with the writer's own layout: 3 * c + row (null
    for zeros, content -1)."""
    return [[None if c == -1 else 3 * c + r for c in content] for r in range(3)]


INTACT10 = handoff(list(range(10)), 10, True)
