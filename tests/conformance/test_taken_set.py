"""`taken` is a set of blocks (docs/trace-format.md): replay compares it in any order, and
still catches a block that differs or is missing."""

from __future__ import annotations

import copy

from ranksync.checker.conformance import first_divergence


def _step(taken: list[dict]) -> list[dict]:
    return [{"step": 0, "ranks": [[]], "writes": [[]], "delivered": [[]], "taken": [taken]}]


A = {"block": 0, "content": [-2, -3], "aux": [0, 0]}
B = {"block": 3, "content": [-8, -9], "aux": [0, 5]}


def test_order_of_taken_blocks_is_not_a_divergence():
    assert first_divergence(_step([A, B]), _step([B, A])) is None


def test_a_different_or_missing_taken_block_is_a_divergence():
    other = copy.deepcopy(B)
    other["content"] = [-6, -7]
    d = first_divergence(_step([A, B]), _step([other, A]))
    assert d is not None and d.what == "taken" and d.expected == B
    assert first_divergence(_step([A, B]), _step([B])) is not None


def test_a_block_taken_twice_is_one_block_of_the_set():
    """A double free puts a block in the free list twice; others_alloc takes it twice."""
    assert first_divergence(_step([A, B]), _step([A, B, A])) is None
