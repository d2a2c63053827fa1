"""What a trace must be before the reference replays it, beyond `trace.schema.json`: the
parts must fit one another (one list per rank, as many expected steps as scheduled ones) and
stay within the caps of checker/limits.py, so a malformed or oversized trace is bad input
(exit 2), never a divergence, a traceback or an 8 GB allocation."""

from __future__ import annotations

from typing import Any

from . import limits as L

MAX_STEPS = 1000          # schedule entries
MAX_FLOATS = 1 << 22      # rows x hidden of one buffer (16 MB of float32 per rank)


def problems(tr: dict[str, Any]) -> str | None:
    """None for a replayable trace (already valid under the schema), else the first
    problem as 'at KEY: what is allowed'."""
    sc = tr["scenario"]
    t = sc["tp_size"]
    caps = {"tp_size": L.MAX_TP, "embedding_tp_size": L.MAX_TP, "hidden": L.MAX_HIDDEN,
            "embedding_length": L.MAX_TRACE_TOKENS, "block_size": L.MAX_TRACE_TOKENS,
            "default_allocate_tokens": L.MAX_TRACE_TOKENS, "pool_blocks": L.MAX_TRACE_TOKENS}
    for key, cap in caps.items():
        if sc[key] > cap:
            return f"at scenario.{key}: {sc[key]} is above the cap {cap}"
    hidden = sc["hidden"]
    for what, rows in (("embedding_length", sc["embedding_length"]),
                       ("pool_blocks * block_size", sc["pool_blocks"] * sc["block_size"])):
        if rows * hidden * t > MAX_FLOATS:
            return (f"at scenario: {what} x hidden x tp_size = {rows * hidden * t} floats, "
                    f"above the cap {MAX_FLOATS}")
    if any(r >= t for r in sc["receivers"]):
        return f"at scenario.receivers: ranks must be in 0..{t - 1}"
    for key in ("initial_aux", "initial_free", "initial_held", "initial_content"):
        if key in sc and sc[key] and len(sc[key]) != t:
            return f"at scenario.{key}: one entry per rank expected ({t}), got {len(sc[key])}"
    for key in ("initial_free", "initial_held"):
        for r, blocks in enumerate(sc.get(key) or []):
            if any(not 0 <= b < sc["pool_blocks"] for b in blocks):
                return f"at scenario.{key}.{r}: blocks must be in 0..{sc['pool_blocks'] - 1}"
    sched = tr["schedule"]
    if len(sched) > MAX_STEPS:
        return f"at schedule: {len(sched)} steps, above the cap {MAX_STEPS}"
    for i, s in enumerate(sched):
        for key in ("deliver", "chunk_fail", "others_free", "others_alloc"):
            if any(not 0 <= r < max(t, sc["embedding_tp_size"]) for r in s.get(key, [])):
                return f"at schedule.{i}.{key}: ranks must be in 0..{t - 1}"
    if "expected" not in tr:
        return "at (top level): 'expected' is required to replay a trace"
    exp = tr["expected"]
    if len(exp) != len(sched):
        return f"at expected: {len(exp)} steps, the schedule has {len(sched)}"
    for i, e in enumerate(exp):
        for key in ("ranks", "writes", "delivered", "taken"):
            if key in e and len(e[key]) != t:
                return f"at expected.{i}.{key}: one list per rank expected ({t}), got {len(e[key])}"
    return None
