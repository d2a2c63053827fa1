"""The hardened design's invariants (spec/invariants/hardened.{a,b}.inv) can fail: a mutant of
the design gives a counterexample to induction, a chain that skips a stage a counterexample to
the stage. The proofs themselves are `ranksync prove --config configs/every-t.toml` (a CI step;
minutes)."""

from __future__ import annotations

import pytest
from ranksync.checker import everyt
from ranksync.checker.induction.clauses import Clause
from ranksync.checker.induction.prover import Prover, chain
from ranksync.spec.variants import get_variant


@pytest.fixture(scope="module")
def pc():
    from ranksync.checker.cliutil import DEFAULT_CONFIG
    from ranksync.checker.config import load as _load

    return _load(DEFAULT_CONFIG)


def _prover(pc, variant: str, topology: str) -> Prover:
    clauses, meta = everyt.read_invariant("hardened", topology)
    base = everyt.domain(pc.model_config(2, topology), meta)
    return Prover(base, get_variant(variant), meta["env"], clauses, 600_000)


def test_the_invariant_states_its_domain(pc):
    _, meta = everyt.read_invariant("hardened", "a")
    d = everyt.domain(pc.model_config(2, "a"), meta)
    assert (d.pool_blocks, d.length_range, d.block_sizes) == (3, (1, 3), (1,))
    with pytest.raises(everyt.InvariantError, match="KEY=VALUE"):
        everyt.domain(d, {"domain": "pool=3"})


@pytest.mark.parametrize("mutant", ["hardened-minus-cancel", "hardened-minus-no_refree"])
def test_an_ablation_breaks_the_hardened_invariant(pc, mutant):
    """The invariant written for `hardened`, checked against a design without one of its
    changes: a counterexample to induction (the proof can fail)."""
    a = _prover(pc, mutant, "b").inductive()
    assert a.verdict == "CTI", a


@pytest.mark.slow
def test_a_chain_that_skips_an_iteration_fails(pc):
    """Liveness: demanding the goal one iteration early gives a counterexample."""
    pv = _prover(pc, "hardened", "b")
    assert pv.inductive().verdict == "PROVED"
    start = [Clause("g.encoded")]
    goal = [Clause("i.phase == DONE or i.phase == FAILED_OUT"), Clause("not g.deadlock")]
    _, _, chains = everyt.read_all("hardened", "b")
    stages = chains["progress"][:2]  # one env + one lang stage, then the goal
    assert chain(pv, start, stages, goal).verdict == "CTI"
