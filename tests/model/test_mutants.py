"""Each mutant breaks at least one property the seed satisfies (mutation adequacy, model side):
seeded simulation finds the mutant's violation at T = 2, on a property the configuration
declares PROVED for the seed (proved by BMC in CI, `configs/full.toml`, or for every T)."""

from __future__ import annotations

import pytest
from ranksync.checker import bmc
from ranksync.checker.simulate import simulate
from ranksync.spec.properties import PROPERTIES
from ranksync.spec.variants import MUTANTS, get_variant

KILLS = {  # mutant -> (topology, property the seed proves and the mutant violates)
    "max_to_min": ("b", "progress"),
    "drop_sync_sent": ("b", "seed_claim"),
    "local_total_in_cache": ("b", "agreement"),
    "skip_cache": ("a", "progress"),  # a rare schedule: BMC at T = 1 finds it
    "recache_every_iteration": ("a", "no_spurious_failure"),
    "stale_resume_sent": ("a", "progress"),
    "alloc_before_free": ("a", "no_spurious_failure"),
}


def test_every_mutant_has_a_killer():
    assert set(KILLS) == set(MUTANTS)


@pytest.mark.parametrize("mutant", sorted(set(KILLS) - {"skip_cache"}))
def test_mutant_breaks_a_proved_property(pc, mutant):
    topo, prop = KILLS[mutant]
    assert pc.expected("seed", topo, prop, 2) == bmc.PROVED
    sim = simulate(pc.model_config(2, topo), mutant, 600, 0, lambda s: prop in s.violations)
    assert prop in sim.violations, f"{mutant} survives {prop} under topology {topo} " \
                                   f"({sim.runs} runs: {sorted(sim.violations)})"
    # the seed itself does not violate it in the same number of runs
    base = simulate(pc.model_config(2, topo), "seed", sim.runs, 0)
    assert prop not in base.violations


def test_skip_cache_breaks_progress(pc):
    """1,500 simulations do not find it; the solver does, at T = 1."""
    topo, prop = KILLS["skip_cache"]
    assert pc.expected("seed", topo, prop, 1) == bmc.PROVED
    u = bmc.build(pc.model_config(1, topo), get_variant("skip_cache"))
    assert bmc.check_property(u, PROPERTIES[prop]).verdict == bmc.VIOLATED
