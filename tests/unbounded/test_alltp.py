"""Per-rank properties for every T (assume-guarantee over one rank): the design proves them,
the ablations that remove the matching change violate them, and the premise is reached."""

from __future__ import annotations

import pytest
from ranksync.checker import alltp, bmc
from ranksync.checker.ledger import ALL_T, ledger
from ranksync.checker.prove import Row
from ranksync.spec.config import ModelConfig

CFG = ModelConfig(tp_size=1, topology="b", depth=6, pool_pressure="per_rank", pool_blocks=3,
                  length_range=(1, 4))


@pytest.mark.parametrize(("variant", "prop", "verdict"), [
    ("hardened", "conservation", bmc.PROVED),
    ("hardened", "block_ownership", bmc.PROVED),
    ("hardened-minus-no_refree", "conservation", bmc.VIOLATED),
    ("hardened-minus-cancel", "block_ownership", bmc.VIOLATED),
])
def test_every_t_verdicts(variant, prop, verdict):
    assert alltp.check(CFG, variant, prop).verdict == verdict


def test_only_per_rank_properties_are_attempted():
    with pytest.raises(ValueError, match="per-rank"):
        alltp.check(CFG, "hardened", "agreement")


def test_rest_of_group_constrains_each_collective():
    """The hook returns fresh values that obey MIN <= own, MAX >= own, AND -> own."""
    import z3

    hook, asm = alltp.rest_of_group(8)
    own = z3.BitVec("own", 8)
    lo, hi, ok = hook("m", own, "min"), hook("x", own, "max"), hook("a", z3.Bool("o"), "and")
    s = z3.Solver()
    s.add(*asm)
    for bad in (lo > own, hi < own, z3.And(ok, z3.Not(z3.Bool("o")))):
        s.push()
        s.add(bad)
        assert s.check() == z3.unsat
        s.pop()


def test_ledger_all_t_needs_the_bounded_proofs_too():
    def row(kind, verdict, t):
        return Row("v", "b", t, kind, "conservation", verdict, verdict, kind, 0.0,
                   bound={"depth": 6, "length": [1, 5]})

    assert ledger([row("property", "PROVED", 2), row("all_t", "PROVED", 0)])[0].strength == ALL_T
    assert ledger([row("property", "VIOLATED", 2), row("all_t", "PROVED", 0)])[0].strength \
        == "violated"
    # an all-T violation may be spurious: it withholds the claim, it is not a violation
    assert ledger([row("property", "PROVED", 2), row("all_t", "VIOLATED", 0)])[0].strength \
        == "bounded"
