"""All-depth search: its reduction is sound on a domain where both searches close, it closes
for the design with a bounded queue, it cannot close for the engine's design, and it finds
what an ablation breaks."""

from __future__ import annotations

from dataclasses import replace

from ranksync.checker.enumerate import enumerate_states
from ranksync.checker.fixpoint import ALWAYS, search
from ranksync.checker.ledger import ALL_DEPTHS, BOUNDED, EVERY_T_DEPTH, OPEN, VIOLATED, ledger
from ranksync.checker.prove import Row
from ranksync.spec.config import ModelConfig

TINY = ModelConfig(tp_size=1, topology="a", depth=14, block_sizes=(1,), length_range=(1, 3),
                   default_alloc_range=(1, 1), stale="zeros", faults=False, pool_pressure="none",
                   pool_blocks=3)


def test_one_action_steps_reach_exactly_the_states_of_many_action_steps():
    """The interleaving argument of `fixpoint.actions`, checked: breadth-first search with
    every subset of actions per step and with one action per step reach the same states."""
    macro = enumerate_states(TINY, "hardened", check=False)
    assert macro.states_per_depth[-1] == 0, "macro search did not close; raise TINY.depth"
    micro = search(TINY, "hardened")
    assert micro.closed
    assert micro.states == macro.states


def test_hardened_closes_and_proves_every_invariant_on_the_small_domain():
    # pool_pressure "none" (a what-if): with the shared pool's other-request events (held
    # 0..1) the search passed 200 000 states at T = 2 without closing (CI run of 690e9cc);
    # the every-T induction proof (spec/invariants/hardened.*.inv) covers shared pressure
    cfg = replace(TINY, tp_size=2, length_range=(1, 2), faults=True, pool_pressure="none")
    r = search(cfg, "hardened")
    assert r.closed and not r.overflow
    assert {p: r.verdict(p) for p in ALWAYS} == dict.fromkeys(ALWAYS, "PROVED")


def test_the_engine_design_never_closes():
    """seed re-sends a resume on every pending iteration: its message queue has no bound."""
    r = search(TINY, "seed", max_depth=25, max_states=20_000)
    assert not r.closed
    assert r.verdict("agreement") == "OPEN"
    assert r.verdict("resume_validity") == "VIOLATED"


def test_an_ablation_is_caught_beyond_any_fixed_depth():
    cfg = replace(TINY, faults=True)
    r = search(cfg, "hardened-minus-cancel")
    assert r.verdict("block_ownership") == "VIOLATED"


def _row(kind, verdict, t=2, step=None):
    return Row("v", "a", t, kind, "integrity", verdict, verdict, kind, 0.0, step,
               bound={"depth": 6, "length": [1, 5], "pool_blocks": 3})


def test_ledger_never_claims_more_than_was_checked():
    assert ledger([_row("property", "PROVED")])[0].strength == BOUNDED
    both = ledger([_row("property", "PROVED"), _row("fixpoint", "PROVED")])[0]
    assert both.strength == ALL_DEPTHS and "T in {2}" in both.detail
    assert ledger([_row("property", "PROVED"), _row("fixpoint", "OPEN")])[0].strength == BOUNDED
    assert ledger([_row("property", "PROVED"), _row("fixpoint", "VACUOUS")])[0].strength \
        == BOUNDED
    bad = ledger([_row("property", "PROVED", 1), _row("property", "VIOLATED", 2, 4)])[0]
    assert bad.strength == VIOLATED and "T=2, step 4" in bad.detail


def test_an_every_t_witness_holds_when_unreachable_a_property_does_not():
    def every(name: str, verdict: str) -> Row:
        return Row("v", "b", 0, "every_t", name, verdict, verdict, "induction", 0.0, None,
                   bound={"length": [1, 3], "pool_blocks": 3, "env": False})

    w = ledger([every("two resumes of one request", "UNREACHABLE")])[0]
    assert w.strength == EVERY_T_DEPTH
    assert ledger([every("two resumes of one request", "REACHABLE")])[0].strength == OPEN
    assert ledger([every("integrity", "UNREACHABLE")])[0].strength == OPEN  # vacuous
    assert ledger([every("integrity", "PROVED")])[0].strength == EVERY_T_DEPTH
