"""A small-T counterexample lifted to T = 8 and 64 reproduces on the concrete model, rank by
rank: each copy does exactly what its original did."""

from __future__ import annotations

import copy

import pytest
from lift_cases import smallest_hit
from ranksync.checker import bmc
from ranksync.checker.lift import lift, rank_maps, target_config, violation_at
from ranksync.checker.symmetric import admissible
from ranksync.spec.observe import step_events
from ranksync.spec.ops import PyOps
from ranksync.spec.properties import PROPERTIES
from ranksync.spec.variants import get_variant

CASES = [("seed", "a", "integrity"), ("prefix", "b", "agreement")]


def same_per_rank(small, big, copy_of) -> bool:
    """Every rank of `big` logs and does what its original in `small` did, at every step."""
    v = get_variant(small.variant)
    r1, r2 = small.replay(), big.replay()
    for k in range(len(r1.steps)):
        e1, e2 = step_events(small.cfg, v, r1, k), step_events(big.cfg, v, r2, k)
        for r, q in enumerate(copy_of):
            mine = repr(e2["ranks"][r]).replace(f"rank={r} ", "rank=* ")
            if mine != repr(e1["ranks"][q]).replace(f"rank={q} ", "rank=* "):
                return False
    return True


@pytest.mark.parametrize("case", CASES, ids=["/".join(c) for c in CASES])
@pytest.mark.parametrize("tp", [8, 64])
def test_lift_reproduces(case, tp):
    variant, topology, prop = case
    base, k = smallest_hit(variant, topology, prop)
    res = violation_at(base, k, prop, tp, shorter_budget_s=0)
    assert res.verdict == bmc.VIOLATED and res.method == "lift" and res.step == k
    big = res.scenario
    assert big.cfg.tp_size == tp and len(big.aux0) == tp and big.cfg.topology == topology
    # confirmed here again, independently of violation_at
    assert PROPERTIES[prop].bad(PyOps(big.cfg.block_sizes), big.cfg, big.replay(), k)
    assert not any(PROPERTIES[prop].bad(PyOps(big.cfg.block_sizes), big.cfg, big.replay(), j)
                   for j in range(k))
    assert same_per_rank(res.base, big, res.copy_of)
    assert sorted(set(res.copy_of)) == list(range(base.cfg.tp_size))  # every class kept


def test_lift_copies_choices_per_class():
    base, k = smallest_hit("prefix", "b", "agreement")
    target = target_config(base.cfg, 6)
    m = rank_maps(base, target)[0]
    big = lift(base, target, m)
    for s0, s1 in zip(base.schedule, big.schedule, strict=True):
        for f in ("messages", "deliver", "others_free", "others_alloc", "chunks"):
            assert s1[f] == [r for r, q in enumerate(m) if q in s0[f]], f
    assert big.receivers == [r for r, q in enumerate(m) if q in base.receivers]
    assert big.held == [base.held[q] for q in m]


def test_a_wrong_copy_is_caught():
    """The per-rank comparison fails when a copy does not take its original's choices."""
    base, k = smallest_hit("seed", "a", "integrity")
    target = target_config(base.cfg, 4)
    m = rank_maps(base, target)[0]
    big = lift(base, target, m)
    for s in big.schedule:  # the last copy's messages are never drained
        s["messages"] = [r for r in s["messages"] if r != 3]
    assert not same_per_rank(base, big, m)


def test_bad_lifts_are_rejected():
    base, k = smallest_hit("prefix", "b", "agreement")
    target = target_config(base.cfg, 4)
    with pytest.raises(ValueError):
        lift(base, target, [0, 1])  # one entry per target rank
    with pytest.raises(ValueError):
        target_config(base.cfg, base.cfg.tp_size - 1)  # no lifting down
    with pytest.raises(ValueError):  # the base does not violate at that step
        violation_at(base, k + 1 if k == 0 else k - 1, "agreement", 8)


def test_lifted_runs_stay_within_the_bounds():
    """A lift is a run the T'-rank configuration allows (shared history rows, shared pool
    pressure, ranges); a run that breaks them is recognised."""
    base, k = smallest_hit("seed", "a", "integrity")
    target = target_config(base.cfg, 6)
    big = lift(base, target, rank_maps(base, target)[0])
    assert admissible(base) and admissible(big)
    lopsided = copy.deepcopy(big)
    lopsided.schedule[0]["others_alloc"] = [2]  # pool pressure on one rank only: a what-if
    assert not admissible(lopsided)
    rows = copy.deepcopy(big)
    hi = rows.cfg.length_range[1]  # history: receivers share their leftover rows
    rows.aux0[3][0] = (rows.aux0[0][0] + 1) % (hi + 1)
    assert not admissible(rows)
