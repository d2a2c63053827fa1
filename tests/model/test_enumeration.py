"""Stateright-style pins: the reachable state count of a tiny configuration. Any change to
the model's behaviour changes these numbers; update them only for an intended change."""

from __future__ import annotations

import pytest
from ranksync.checker.enumerate import enumerate_states
from ranksync.spec.config import ModelConfig

TINY = ModelConfig(tp_size=2, topology="a", depth=3, block_sizes=(1,), length_range=(1, 3),
                   default_alloc_range=(1, 1), stale="zeros", faults=False, pool_pressure="none",
                   pool_blocks=3)


@pytest.mark.parametrize(("variant", "per_depth", "violated"), [
    ("seed", [3, 3, 36, 106], {"resume_validity", "block_ownership", "integrity",
                               "handoff_agreement"}),
    # prefix re-reads zeroed aux rows after a resume ("Unexpected"), so no second resume here
    ("prefix", [3, 3, 36, 84], {"block_ownership", "integrity", "handoff_agreement"}),
])
def test_tiny_state_space(variant, per_depth, violated):
    r = enumerate_states(TINY, variant)
    assert r.states_per_depth == per_depth
    assert set(r.violations) == violated


def test_enumeration_agrees_with_bmc_on_tiny_domain():
    """Brute force and the solver reach the same verdicts on the same small domain."""
    from ranksync.checker import bmc
    from ranksync.spec.properties import PROPERTIES
    from ranksync.spec.variants import get_variant

    r = enumerate_states(TINY, "prefix")
    u = bmc.build(TINY, get_variant("prefix"))
    for name in ("integrity", "agreement", "conservation", "seed_claim"):
        v = bmc.check_property(u, PROPERTIES[name]).verdict
        assert (v == bmc.VIOLATED) == (name in r.violations), name
