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
        "version": 1,
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
