"""Reading traces (docs/trace-format.md, versions 1 and 2) with one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BASE_VARIANTS = ("seed", "prefix")
SCENARIO_INTS = ("tp_size", "block_size", "default_allocate_tokens", "pool_blocks", "hidden",
                 "embedding_length", "mrope_delta", "room")


class TraceError(Exception):
    """A trace file that cannot be used (message is one line, user-facing)."""


def _need(cond: bool, path: str, what: str) -> None:
    if not cond:
        raise TraceError(f"{path}: {what}")


def validate(data: Any, path: str) -> dict[str, Any]:
    """Check the parts of a trace the harness relies on; return it unchanged."""
    if not isinstance(data, dict):
        raise TraceError(f"{path}: top level is not a JSON object")
    _need(data.get("format") == "ranksync-trace", path, "format is not 'ranksync-trace'")
    _need(data.get("version") in (1, 2), path, f"unsupported version {data.get('version')!r}")
    _need(isinstance(data.get("variant"), str), path, "missing variant")
    sc: Any = data.get("scenario")
    _need(isinstance(sc, dict), path, "missing scenario")
    for key in SCENARIO_INTS:
        _need(isinstance(sc.get(key), int) and not isinstance(sc.get(key), bool), path,
              f"scenario.{key} is not an integer")
    t = sc["tp_size"]
    _need(t >= 1, path, "scenario.tp_size < 1")
    for key in ("block_size", "pool_blocks", "hidden"):
        _need(sc[key] >= 1, path, f"scenario.{key} < 1")
    _need(isinstance(sc.get("rid"), str), path, "scenario.rid is not a string")
    aux = sc.get("initial_aux", [])
    _need(isinstance(aux, list) and (aux == [] or len(aux) == t), path,
          "scenario.initial_aux must have one entry per rank")
    for per_rank in aux:
        _need(isinstance(per_rank, list) and len(per_rank) <= sc["pool_blocks"]
              and all(isinstance(r, list) and len(r) == 2 for r in per_rank), path,
              "scenario.initial_aux entries must be [aux0, aux1] per block")
    for key in ("initial_free", "initial_held"):  # version 2: the pool at the start
        val = sc.get(key)
        _need(val is None or (isinstance(val, list) and len(val) == t and all(
            isinstance(r, list) and all(isinstance(b, int) and 0 <= b < sc["pool_blocks"]
                                        for b in r) for r in val)), path,
              f"scenario.{key} must hold one list of block ids per rank")
    content = sc.get("initial_content")
    _need(content is None or (isinstance(content, list) and len(content) == t and all(
        isinstance(r, list) and len(r) <= sc["pool_blocks"] and all(
            isinstance(b, list) and len(b) <= sc["block_size"]
            and all(isinstance(c, int) for c in b) for b in r) for r in content)), path,
          "scenario.initial_content must be [rank][block] -> content ids per slot")
    sched: Any = data.get("schedule")
    exp: Any = data.get("expected")
    _need(isinstance(sched, list) and isinstance(exp, list), path,
          "schedule and expected must be lists")
    _need(len(sched) == len(exp), path,
          f"expected has {len(exp)} steps, schedule has {len(sched)}")
    for i, (s, e) in enumerate(zip(sched, exp, strict=True)):
        _need(isinstance(s, dict) and isinstance(e, dict), path, f"step {i} is not an object")
        ranks = e.get("ranks")
        _need(isinstance(ranks, list) and len(ranks) == t
              and all(isinstance(r, list) for r in ranks), path,
              f"expected[{i}].ranks must hold one event list per rank ({t})")
        for key in ("writes", "delivered"):
            val = e.get(key, [[] for _ in range(t)])
            _need(isinstance(val, list) and len(val) == t
                  and all(isinstance(r, list) for r in val), path,
                  f"expected[{i}].{key} must hold one list per rank ({t})")
        for w in (w for r in e.get("writes", []) for w in r):
            _need(isinstance(w, dict) and isinstance(w.get("block"), int)
                  and isinstance(w.get("count"), int)
                  and 0 <= w["block"] < sc["pool_blocks"]
                  and 0 <= w["count"] <= sc["block_size"], path,
                  f"expected[{i}].writes has a malformed write {w!r}")
        for key in ("alloc_fail", "others_free", "others_alloc"):
            val = s.get(key, [])
            _need(isinstance(val, list) and all(isinstance(r, int) for r in val), path,
                  f"schedule[{i}].{key} must be a list of ranks")
    return data


def load_trace(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise TraceError(f"{p}: not a UTF-8 JSON trace ({e.reason} at byte {e.start})") from e
    except OSError as e:
        raise TraceError(f"{p}: cannot read ({e.strerror or e})") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise TraceError(f"{p}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from e
    return validate(data, str(p))


def base_variant(variant: str) -> str | None:
    """``seed``/``prefix`` for the two engine variants, else None (a mutant of the project)."""
    return variant if variant in BASE_VARIANTS else None


def same_event(expected: Any, actual: Any) -> bool:
    """An engine event equals a trace's: a hand-off's mrope values the trace leaves null
    (written before the block's last write: the model does not track them) match anything."""
    if expected == actual:
        return True
    if not (isinstance(expected, dict) and isinstance(actual, dict)
            and expected.get("ev") == "handoff" == actual.get("ev")
            and isinstance(expected.get("mrope"), list) and isinstance(actual.get("mrope"), list)):
        return False
    rest = {k: v for k, v in expected.items() if k != "mrope"}
    if rest != {k: v for k, v in actual.items() if k != "mrope"}:
        return False
    em, am = expected["mrope"], actual["mrope"]
    return len(em) == len(am) and all(
        len(x) == len(y) and all(a is None or a == b for a, b in zip(x, y, strict=True))
        for x, y in zip(em, am, strict=True))
