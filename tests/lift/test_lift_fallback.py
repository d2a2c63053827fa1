"""A lift that does not reproduce falls back (symmetric simulation, then symmetric BMC) and
says so; when nothing is found the answer is UNKNOWN, never a made-up counterexample."""

from __future__ import annotations

import pytest
from lift_cases import config, smallest_hit
from ranksync.checker import bmc
from ranksync.checker.lift import violation_at
from ranksync.checker.scenario import Scenario
from ranksync.spec.ops import PyOps
from ranksync.spec.properties import PROPERTIES, Property


def _inits_equal(target):
    """A made-up violation that counts sessions: the embedding rank has processed exactly
    target(T) init messages (copies of a rank add sessions, so a lift changes the count)."""
    def bad(o, cfg, run, k):
        return run.states[k + 1].send[0].inits == target(cfg.tp_size)
    return Property("inits_count", "always", "test only", bad, bad)


def _base() -> Scenario:
    """T = 2, topology a, E = 1: both ranks send init at iteration 0; only rank 0's is
    drained at iteration 1, so exactly one init is processed there."""
    cfg = config().model_config(2, "a")
    zeros = [[0] * cfg.pool_blocks for _ in range(2)]
    return Scenario(cfg=cfg, variant="seed", length=2, bs=1, default_tokens=1,
                    receivers=[0, 1], aux0=zeros, aux1=[list(r) for r in zeros], held=[0, 0],
                    schedule=[{"lang": True}, {"messages": [0], "lang": True}])


def test_count_dependent_violation_found_by_symmetric_simulation(monkeypatch):
    monkeypatch.setitem(PROPERTIES, "inits_count", _inits_equal(lambda t: 1 if t <= 2 else t))
    res = violation_at(_base(), 1, "inits_count", 8, budget_s=60, shorter_budget_s=0)
    lifts = [a for a in res.attempts if a.startswith("lift (")]
    assert len(lifts) >= 2 and all("does not violate" in a for a in lifts), res.attempts
    assert res.verdict == bmc.VIOLATED and res.method == "symmetric simulation", res.attempts
    sc = res.scenario
    assert sc.cfg.tp_size == 8
    run = sc.replay()
    assert run.states[res.step + 1].send[0].inits == 8  # confirmed on the concrete model
    # the run found is class-symmetric: ranks of one class take the same choices
    for s in sc.schedule:
        for q in set(res.copy_of):
            members = {r for r, c in enumerate(res.copy_of) if c == q}
            assert members <= set(s["messages"]) or not members & set(s["messages"])


def test_no_counterexample_is_unknown(monkeypatch):
    """With classes of sizes 7 and 1 (or 4 and 4) no symmetric run processes 6 inits."""
    monkeypatch.setitem(PROPERTIES, "inits_count",
                        _inits_equal(lambda t: 1 if t <= 2 else t - 2))
    res = violation_at(_base(), 1, "inits_count", 8, budget_s=4, shorter_budget_s=0)
    assert res.verdict == bmc.UNKNOWN and res.scenario is None and res.step is None
    assert any(a.startswith("symmetric simulation: none") for a in res.attempts), res.attempts
    assert any(a.startswith("symmetric BMC at T=8") for a in res.attempts), res.attempts
    assert res.reason


def test_engine_model_lift_that_does_not_reproduce():
    """hardened-minus-wait, topology a, E = 1: each processed resume queues a chunk for its
    own session (per_session), one chunk per step, so copies of the one rank get their data
    later than the original did and the hand-off is not corrupt at the same iteration."""
    base, k = smallest_hit("hardened-minus-wait", "a", "integrity")
    res = violation_at(base, k, "integrity", 8, budget_s=6, shorter_budget_s=0)
    lifts = [a for a in res.attempts if a.startswith("lift (")]
    assert lifts and all("does not violate" in a for a in lifts), res.attempts
    assert res.method != "lift"
    if res.verdict == bmc.VIOLATED:  # a fallback found one: it must be a real run at T = 8
        assert res.method.startswith("symmetric")
        sc = res.scenario
        assert PROPERTIES["integrity"].bad(PyOps(sc.cfg.block_sizes), sc.cfg, sc.replay(),
                                           res.step)
    else:
        assert res.verdict == bmc.UNKNOWN and res.scenario is None


def test_lifting_down_is_refused():
    base, k = smallest_hit("prefix", "b", "agreement")
    with pytest.raises(ValueError):
        violation_at(base, k, "agreement", base.cfg.tp_size - 1)
