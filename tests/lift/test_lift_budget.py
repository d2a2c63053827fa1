"""The searches' time budget is a hard limit: the child is killed at it."""

from __future__ import annotations

import time

from ranksync.checker.symmetric import ERROR, TIMEOUT, budgeted


def test_budget_kills_the_search():
    t0 = time.perf_counter()
    assert budgeted(time.sleep, (30,), 0.5) == (TIMEOUT, None)
    assert time.perf_counter() - t0 < 10


def test_results_and_errors_come_back():
    assert budgeted(sum, ([1, 2],), 30) == ("ok", 3)
    status, msg = budgeted(int, ("x",), 30)
    assert status == ERROR and msg.startswith("ValueError")
    assert budgeted(sum, ([1],), 0) == (TIMEOUT, None)
