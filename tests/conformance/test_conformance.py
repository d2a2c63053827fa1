"""Model <-> reference conformance: the model's traces replay on the independent reference
with zero divergences (in-process group for the bulk, real gloo processes for a few)."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ranksync.checker.cliutil import DEFAULT_CONFIG
from ranksync.checker.config import load
from ranksync.checker.conformance import (
    first_divergence,
    load_trace,
    model_expected,
    replay_one,
    trace_set,
)
from ranksync.checker.explain import explain
from ranksync.checker.simulate import random_scenario
from ranksync.reference.runner import run_trace
from ranksync.spec.variants import VARIANTS

PC = load(DEFAULT_CONFIG)
HAND_MADE = sorted(Path(__file__).parents[1].joinpath("enginediff", "traces").glob("*.json"))


@pytest.fixture(scope="module")
def generated() -> dict:
    out = {}
    for v in ("prefix", "seed"):
        for topo in ("a", "b"):
            for t in (1, 2):
                out |= trace_set(PC.model_config(t, topo), v, random_runs=5)
    return out


@pytest.mark.xdist_group("conformance-generated")  # the fixture built once
def test_generated_set_covers_branches_and_counterexamples(generated):
    names = " ".join(generated)
    for frag in ("violation-integrity", "violation-agreement", "cached-path",
                 "transferring-l-s-resume", "success-resumed-assembly"):
        assert frag in names, frag


@pytest.mark.xdist_group("conformance-generated")  # the fixture built once
def test_generated_set_replays_without_divergence(generated):
    bad = {}
    for name, tr in generated.items():
        r = replay_one(Path(name), tr, "inprocess", 30)
        if not r.ok:
            bad[name] = r.error or str(r.divergence)
    assert not bad, json.dumps(bad, indent=1)[:3000]


@pytest.mark.parametrize("path", HAND_MADE, ids=lambda p: p.stem)
def test_hand_made_traces_match_model_and_reference(path):
    """Traces written by hand from protocol.md (and checked against the engine): both the
    model and the reference reproduce them."""
    tr = load_trace(path)
    assert first_divergence(tr["expected"], model_expected(tr)) is None
    assert replay_one(path, tr, "inprocess", 30).ok


@pytest.mark.xdist_group("conformance-generated")  # the fixture built once
def test_divergence_is_reported_at_the_first_difference(generated):
    name, tr = next((n, t) for n, t in generated.items() if "violation-integrity" in n)
    bad = copy.deepcopy(tr)
    for st_ in bad["expected"]:
        for r, evs in enumerate(st_["ranks"]):
            for e in evs:
                if e["ev"] == "handoff":
                    e["intact"] = not e["intact"]
                    d = first_divergence(bad["expected"], run_trace(tr).to_expected())
                    assert d is not None and d.step == st_["step"] and d.rank == r
                    return
    pytest.fail("no hand-off in the integrity counterexample")


@pytest.mark.parametrize("variant", ["gate", "hardened_lang", "hardened"])
def test_design_trace_sets_replay_without_divergence(variant):
    """Witness, counterexample and random traces of the designs (per-rank pool pressure,
    configs/designs.toml bounds) replay on the reference with the same events."""
    pc = load(Path(DEFAULT_CONFIG).with_name("designs.toml"))
    bad = {}
    for topo in ("a", "b"):
        for name, tr in trace_set(pc.model_config(2, topo), variant, random_runs=5,
                                  bmc_witnesses=False).items():
            r = replay_one(Path(name), tr, "inprocess", 30)
            if not r.ok:
                bad[name] = r.error or str(r.divergence)
    assert not bad, json.dumps(bad, indent=1)[:3000]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**31), variant=st.sampled_from(sorted(VARIANTS)),
       topology=st.sampled_from(["a", "b"]), tp=st.integers(1, 4),
       stale=st.sampled_from(["history", "per_rank", "zeros"]),
       pool_pressure=st.sampled_from(["none", "shared", "per_rank"]))
def test_random_scenarios_agree(seed, variant, topology, tp, stale, pool_pressure):
    """Hypothesis: any scenario in the bounds, model and reference produce the same events."""
    cfg = PC.model_config(tp, topology, stale=stale, depth=7, pool_pressure=pool_pressure)
    sc = random_scenario(cfg, variant, random.Random(seed))
    tr = sc.trace("hypothesis")
    got = run_trace(tr).to_expected()
    d = first_divergence(tr["expected"], got)
    assert d is None, f"{variant}/{topology}/T={tp}: {d}"


@pytest.mark.gloo
def test_seed_scenario_on_gloo_processes():
    """The seed's scenario (prefix, topology b, T=4, receivers 0 and 2) on 4 gloo processes:
    per-rank logs equal the model's counterexample trace."""
    ex = explain(PC.model_config(4, "b", receivers=(0, 2)), "prefix", "agreement")
    tr = ex.trace
    got = run_trace(tr, backend="gloo", timeout=90).to_expected()
    assert first_divergence(tr["expected"], got) is None


@pytest.mark.gloo
@pytest.mark.xdist_group("conformance-generated")  # the fixture built once
def test_seed_variant_repeated_resume_on_gloo(generated):
    tr = next(t for n, t in generated.items() if n.startswith("seed-a-T2-two-resumes"))
    got = run_trace(tr, backend="gloo", timeout=90).to_expected()
    assert first_divergence(tr["expected"], got) is None
