"""Key verdicts of the model at T=2 (BMC), and the seed's log pattern (T=4)."""

from __future__ import annotations

import pytest
from ranksync.checker import bmc
from ranksync.checker.explain import explain
from ranksync.spec.properties import PROPERTIES
from ranksync.spec.variants import get_variant


# Violations BMC finds at T = 2 (the shortest run). The bounded PROVED verdicts are the CI
# step `ranksync prove --config configs/full.toml` (seed, T = 2) and the every-T proofs
# `configs/every-t.toml` (hardened): minutes each on the history model, not unit tests.
@pytest.mark.parametrize(("variant", "topology", "prop", "verdict"), [
    ("prefix", "b", "agreement", bmc.VIOLATED),
    ("prefix", "b", "seed_claim", bmc.VIOLATED),
    ("seed", "a", "handoff_agreement", bmc.VIOLATED),
    ("seed", "b", "handoff_agreement", bmc.VIOLATED),
    ("seed", "a", "integrity", bmc.VIOLATED),
    ("seed", "a", "resume_validity", bmc.VIOLATED),
    ("seed", "a", "conservation", bmc.VIOLATED),
    ("hardened_lang", "a", "integrity", bmc.VIOLATED),
    ("hardened_lang", "b", "resume_validity", bmc.VIOLATED),
    ("hardened-minus-per_session", "a", "integrity", bmc.VIOLATED),
])
def test_bmc_verdict(pc, variant, topology, prop, verdict):
    u = bmc.build(pc.model_config(2, topology), get_variant(variant),
                  int(pc.timeout_seconds * 1000))
    # only strings in the assertion: pytest's report of a z3 term can take minutes to print
    got = bmc.check_property(u, PROPERTIES[prop])
    verdict_, reason = got.verdict, got.reason
    del u, got
    assert verdict_ == verdict, reason


def lines(ex, step):
    return [[e["msg"] for e in r if e["ev"] == "log"] for r in ex.trace["expected"][step]["ranks"]]


def test_seed_log_pattern_prefix_topology_b(pc):
    """The prover finds the seed note's log: two ranks resume, two ranks see 0 >= 0."""
    ex = explain(pc.model_config(4, "b", receivers=(0, 2)), "prefix", "agreement")
    assert ex.verdict == bmc.VIOLATED
    got = lines(ex, ex.step)
    resumed = [r for r, ls in enumerate(got) if any(m.startswith("Resume transfer initiated")
                                                    for m in ls)]
    unexpected = [r for r, ls in enumerate(got) if
                  "Unexpected: Transferring status but sent_tokens=0 >= actual_total_length=0" in ls]
    assert resumed == [0, 2] and unexpected == [1, 3]
    assert "[TP1] WARNING Unexpected: Transferring status but sent_tokens=0" in ex.text


def test_double_free_on_resume_allocation_failure(pc):
    """conservation: the failure handler frees the allocation the resume path just freed."""
    ex = explain(pc.model_config(1, "a"), "seed", "conservation")
    assert ex.verdict == bmc.VIOLATED
    evs = ex.trace["expected"][ex.step]["ranks"][0]
    frees = [e["blocks"] for e in evs if e["ev"] == "free"]
    assert len(frees) == 2 and frees[0] == frees[1]
    assert any(e.get("msg", "").startswith("Not enough memory to resume") for e in evs)


def test_repeated_resume_while_status_pending(pc):
    """resume_validity: the seed's cached path sends a second resume while one is pending."""
    ex = explain(pc.model_config(1, "a"), "seed", "resume_validity")
    assert ex.verdict == bmc.VIOLATED
    resumes = [e for st in ex.trace["expected"] for r in st["ranks"] for e in r
               if e["ev"] == "resume"]
    assert len(resumes) >= 2
