"""Proofs for every T and every depth (stored inductive invariants): they hold for the design
they were written for, and each can fail -- a mutant of the design turns the proof into a
counterexample to induction, shown as a per-rank step."""

from __future__ import annotations

import pytest
from ranksync.checker import everyt
from ranksync.checker.induction.clauses import Clause
from ranksync.checker.induction.cti import render
from ranksync.checker.induction.prover import Prover
from ranksync.spec.properties import PROPERTIES
from ranksync.spec.variants import get_variant


@pytest.fixture(scope="module")
def pc():
    from ranksync.checker.cliutil import DEFAULT_CONFIG
    from ranksync.checker.config import load as _load

    return _load(DEFAULT_CONFIG)


@pytest.mark.parametrize("topology", ["a", "b"])
def test_seed_claim_of_the_seed_holds_for_every_t(pc, topology):
    [r] = everyt.prove(pc.model_config(2, topology), "seed", topology, ["seed_claim"], 300_000)
    assert r["verdict"] == "PROVED", r["reason"]
    assert r["env"] == "havoc"


@pytest.mark.parametrize("mutant", ["drop_sync_sent", "local_total_in_cache", "prefix"])
def test_a_mutant_breaks_the_seed_claim_proof(pc, mutant):
    """The seed's invariant, checked against a design that no longer all-reduces S, caches the
    local total, or has no MAX at all: a counterexample to induction, never PROVED."""
    clauses, meta = everyt.read_invariant("seed", "b")
    pv = Prover(pc.model_config(2, "b"), get_variant(mutant), meta["env"], clauses, 300_000)
    ind = pv.inductive()
    a = ind if ind.verdict != "PROVED" else pv.excludes("seed_claim",
                                                         PROPERTIES["seed_claim"].bad)
    assert a.verdict == "CTI", a
    text = render(a)
    assert "counterexample to induction" in text and "[TP0 i]" in text


def test_max_to_min_keeps_the_two_numbers_equal(pc):
    """MIN agrees on all ranks as well as MAX does: seed_claim still holds (other properties
    catch that mutant)."""
    clauses, meta = everyt.read_invariant("seed", "b")
    pv = Prover(pc.model_config(2, "b"), get_variant("max_to_min"), meta["env"], clauses,
                300_000)
    assert pv.inductive().verdict == "PROVED"
    assert pv.excludes("seed_claim", PROPERTIES["seed_claim"].bad).verdict == "PROVED"


def test_clause_syntax_errors_name_the_line(tmp_path, monkeypatch):
    bad = tmp_path / "x.inv"
    bad.write_text("i.phase ==\n")
    monkeypatch.setattr(everyt, "invariant_path", lambda v, t: bad)
    with pytest.raises(everyt.InvariantError, match=r"x.inv:1"):
        everyt.read_invariant("seed", "b")
    assert Clause("i.cached == j.cached").scope == "pair"
