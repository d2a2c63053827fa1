"""Which property needs which change of `hardened`, at T = 2 on configs/designs.toml's
bounds: seeded simulation (no solver) finds each ablation's violations, and none for the
design itself (pool pressure per rank, the designs' what-if). The proofs of `hardened` are
`ranksync prove --config configs/every-t.toml`."""

from __future__ import annotations

from pathlib import Path

import pytest
from ranksync.checker.config import load
from ranksync.checker.simulate import simulate

PC = load(Path(__file__).resolve().parents[2] / "configs" / "designs.toml")

LOSES = {
    "wait": ("a", {"handoff_agreement", "resume_validity", "integrity"}),
    "no_refree": ("a", {"conservation"}),
    "alloc_agree": ("a", {"agreement", "handoff_agreement", "progress"}),
    "per_session": ("a", {"handoff_agreement", "integrity", "block_ownership"}),
    "cancel": ("a", {"block_ownership", "no_leak"}),
    "data_to_all": ("b", {"handoff_agreement", "resume_validity", "integrity"}),
}


@pytest.mark.parametrize("change", sorted(LOSES))
def test_each_change_of_hardened_is_needed(change):
    topo, lost = LOSES[change]
    sim = simulate(PC.model_config(2, topo), f"hardened-minus-{change}", 600, 0)
    assert lost <= set(sim.violations), f"without {change}: {sorted(sim.violations)}"
    for prop in lost:  # each ablation's own counterexample, as declared in the config
        assert PC.expected(f"hardened-minus-{change}", topo, prop, 2) == "VIOLATED"


@pytest.mark.parametrize("topo", ["a", "b"])
def test_hardened_survives_the_same_simulations(topo):
    sim = simulate(PC.model_config(2, topo), "hardened", 600, 0)
    assert not sim.violations
