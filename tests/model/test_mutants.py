"""Each mutant flips at least one verdict the seed proves (mutation adequacy, model side)."""

from __future__ import annotations

import pytest
from ranksync.checker import bmc
from ranksync.spec.properties import PROPERTIES
from ranksync.spec.variants import MUTANTS, get_variant

KILLS = {  # mutant -> (topology, property the seed proves and the mutant violates)
    "max_to_min": ("b", "progress"),
    "drop_sync_sent": ("b", "seed_claim"),
    "local_total_in_cache": ("b", "agreement"),
    "skip_cache": ("a", "progress"),
    "recache_every_iteration": ("a", "agreement"),
    "stale_resume_sent": ("a", "progress"),
    "alloc_before_free": ("a", "no_spurious_failure"),
}


def test_every_mutant_has_a_killer():
    assert set(KILLS) == set(MUTANTS)


@pytest.fixture(scope="module")
def seed_verdicts(pc):
    out = {}
    for topo, prop in set(KILLS.values()):
        u = bmc.build(pc.model_config(2, topo), get_variant("seed"))
        out[(topo, prop)] = bmc.check_property(u, PROPERTIES[prop]).verdict
    return out


@pytest.mark.parametrize("mutant", sorted(KILLS))
def test_mutant_flips_a_proved_verdict(pc, seed_verdicts, mutant):
    topo, prop = KILLS[mutant]
    assert seed_verdicts[(topo, prop)] == bmc.PROVED
    u = bmc.build(pc.model_config(2, topo), get_variant(mutant))
    r = bmc.check_property(u, PROPERTIES[prop])
    assert r.verdict == bmc.VIOLATED, f"{mutant} survives {prop} under topology {topo}"
