"""The timeline of many ranks groups ranks that behave alike, and only those."""

from __future__ import annotations

import copy

from lift_cases import smallest_hit
from ranksync.checker.lift import violation_at
from ranksync.checker.timeline import rank_set, render


def test_rank_set():
    assert rank_set([0, 2, 3, 4, 5]) == "TP0, TP2..TP5"
    assert rank_set([0, 1]) == "TP0, TP1"
    assert rank_set([1, 3, 4, 5, 7, 8, 9, 10], ",") == "TP1,TP3..TP5,TP7..TP10"
    assert rank_set([0, 1, 2], ",", "") == "0..2"


def _lifted(tp: int):
    base, k = smallest_hit("prefix", "b", "agreement")
    res = violation_at(base, k, "agreement", tp, shorter_budget_s=0)
    return res.scenario, res.step


def test_grouped_timeline_of_64_ranks():
    sc, k = _lifted(64)
    tr = sc.trace("t")
    text = render(sc, tr, "title", focus=k)
    recv, rest = sc.receivers, [r for r in range(64) if r not in sc.receivers]
    assert f"[{rank_set(recv)}" in text and f"[{rank_set(rest)}" in text
    assert f"({len(rest)} ranks alike)" in text
    assert "[TP5]" not in text and "[TP63]" not in text  # no per-rank lines
    assert len(text.splitlines()) < 60  # readable: independent of T
    flat = render(sc, tr, "title", focus=k, group=False)
    assert "[TP63]" in flat and len(flat.splitlines()) > 64


def test_ranks_that_differ_are_not_grouped():
    """Equal log lines but a different hand-off content: two groups, not one."""
    sc, k = _lifted(8)
    tr = copy.deepcopy(sc.trace("t"))
    step = tr["expected"][k]
    hand = {"ev": "handoff", "length": 2, "embedding_length": 2, "mm_inputs": "none",
            "intact": True, "content": [0, 1]}
    for r in range(8):
        step["ranks"][r] = [dict(hand, content=[0, 1] if r != 5 else [0, -3])]
    text = render(sc, tr, "title", focus=k, group=True)
    assert "[TP0..TP4, TP6, TP7 (7 ranks alike)]" in text and "[TP5]" in text


def test_small_timelines_unchanged():
    """Up to 4 ranks the timeline stays one line per rank and event."""
    base, k = smallest_hit("prefix", "b", "agreement")
    text = render(base, base.trace("t"), "title", focus=k)
    assert "ranks alike" not in text and "[TP0]" in text
