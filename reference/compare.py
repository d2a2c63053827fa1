"""Comparison of a run with a trace's ``expected`` (docs/trace-format.md, version 2).

Exact, except where the format says otherwise:
* a ``handoff``'s ``mrope`` value that is null in the expected trace matches any value;
* a write without ``garbage`` means ``"garbage": false``;
* ``taken`` is compared by block ids (what other requests leave there is the trace's input);
* a step whose expected events end in ``deadlock`` on every rank only needs the run to end
  that step in ``deadlock`` on every rank (what each rank did before blocking is not compared).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _mrope_matches(expected: Any, got: Any) -> bool:
    if not isinstance(expected, list) or not isinstance(got, list) or len(expected) != len(got):
        return False
    for erow, grow in zip(expected, got, strict=True):
        if not isinstance(erow, list) or not isinstance(grow, list) or len(erow) != len(grow):
            return False
        if any(e is not None and e != g for e, g in zip(erow, grow, strict=True)):
            return False
    return True


def event_matches(expected: Mapping[str, Any], got: Mapping[str, Any]) -> bool:
    if expected.get("ev") != "handoff" or got.get("ev") != "handoff" or "mrope" not in expected:
        return dict(expected) == dict(got)
    rest = {k: v for k, v in expected.items() if k != "mrope"}
    return rest == {k: v for k, v in got.items() if k != "mrope"} and _mrope_matches(expected["mrope"], got.get("mrope"))


def events_match(expected: Sequence[Mapping[str, Any]], got: Sequence[Mapping[str, Any]]) -> bool:
    return len(expected) == len(got) and all(event_matches(e, g) for e, g in zip(expected, got, strict=True))


def _write(w: Mapping[str, Any]) -> dict[str, Any]:
    return {"garbage": False, **w}


def _ends_in_deadlock(ranks: Sequence[Sequence[Mapping[str, Any]]]) -> bool:
    return bool(ranks) and all(evs and evs[-1].get("ev") == "deadlock" for evs in ranks)


def _per_rank(step: int, key: str, expected: Sequence[Any], got: Sequence[Any], same: Any) -> list[str]:
    out = [
        f"step {step} {key}[{r}]: expected {e!r}, got {g!r}"
        for r, (e, g) in enumerate(zip(expected, got, strict=False))
        if not same(e, g)
    ]
    if len(expected) != len(got):
        out.append(f"step {step} {key}: expected {len(expected)} ranks, got {len(got)}")
    return out


def step_mismatches(step: int, expected: Mapping[str, Any], got: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    if "ranks" in expected:
        if _ends_in_deadlock(expected["ranks"]):
            if not _ends_in_deadlock(got["ranks"]):
                out.append(f"step {step} ranks: expected a deadlock on every rank, got {got['ranks']!r}")
        else:
            out += _per_rank(step, "ranks", expected["ranks"], got["ranks"], events_match)
    if "writes" in expected:
        out += _per_rank(
            step, "writes", expected["writes"], got["writes"],
            lambda e, g: [_write(w) for w in e] == [_write(w) for w in g],
        )
    if "delivered" in expected:
        out += _per_rank(step, "delivered", expected["delivered"], got["delivered"], lambda e, g: e == g)
    if "taken" in expected:
        out += _per_rank(
            step, "taken", expected["taken"], got["taken"],
            lambda e, g: [x["block"] for x in e] == [x["block"] for x in g],
        )
    return out


def mismatches(expected: Sequence[Mapping[str, Any]], got: Sequence[Mapping[str, Any]]) -> list[str]:
    """Human-readable differences, first step first (empty: the run conforms)."""
    out: list[str] = []
    if len(got) != len(expected):
        out.append(f"steps: expected {len(expected)}, got {len(got)}")
    for i, (e, g) in enumerate(zip(expected, got, strict=False)):
        out += step_mismatches(i, e, g)
    return out
