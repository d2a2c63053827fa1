"""`ranksync explain` end to end: --cause, the hand-offs side by side, the headline's level and
configuration label, the PROVED witness, and the exit codes (0 proved, 1 violated or vacuous,
2 bad input, 3 undecided). Depths are cut to what each run needs, to keep the solver short."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from ranksync.checker.cli import main


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_cause_stale_is_shown_with_its_cause():
    """An engine counterexample (topology a, shared history) whose cause is a leftover row."""
    r = run("explain", "prefix", "resume_validity", "--topology", "a", "--ranks", "1",
            "--cause", "stale", "--depth", "3")
    assert r.exit_code == 1, r.output
    assert "configuration: engine: topology a, leftovers from a shared history" in r.output
    line = next(ln for ln in r.output.splitlines() if ln.startswith("cause (stale): "))
    assert re.search(r"block \d's aux row still holds \d from an earlier request", line)
    assert "get_buf reads" in line and "without it, at iteration" in line
    assert "--cause stale --depth 3" in r.output  # the reproduce line
    out = json.loads(run("explain", "prefix", "resume_validity", "--topology", "a", "--ranks",
                         "1", "--cause", "stale", "--depth", "3", "--json").output)
    assert out["cause_found"] is True
    assert "stale" in {c["kind"] for c in out["causes"]["causes"]}


def test_cause_none_on_it_says_none_exists():
    """The same violation cannot happen without some leftover row, fault or pool event."""
    r = run("explain", "prefix", "resume_validity", "--topology", "a", "--ranks", "1",
            "--cause", "none", "--depth", "3")
    assert r.exit_code == 1, r.output
    assert "no counterexample without any leftover aux row, fault or pool event exists " \
           "within the bound; the property is violated by other runs" in r.output


def test_cause_none_finds_a_clean_run_when_there_is_one():
    r = run("explain", "seed", "handoff_agreement", "--topology", "a", "--ranks", "2",
            "--cause", "none", "--depth", "3", "--json")
    out = json.loads(r.output)
    assert r.exit_code == 1 and out["verdict"] == "VIOLATED" and out["cause_found"] is True
    assert out["causes"]["ingredients"] == [] and out["causes"]["causes"] == []


def test_handoffs_side_by_side_engine_t2():
    """seed, topology a, T = 2: in one iteration TP0 and TP1 hand the forward different
    inputs, one intact, one not; the table shows both and marks where they differ."""
    r = run("explain", "seed", "handoff_agreement", "--topology", "a", "--ranks", "2",
            "--depth", "3", "--json")
    assert r.exit_code == 1
    out = json.loads(r.output)
    k = out["step"]
    hand = [[e for e in evs if e["ev"] == "handoff"] for evs in out["trace"]["expected"][k]["ranks"]]
    assert all(len(h) == 1 for h in hand)  # both ranks hand off in the violating iteration
    assert sorted(h[0]["intact"] for h in hand) == [False, True]
    text = out["text"]
    assert '-- "the inputs to the forward agree" does NOT hold' in text.splitlines()[0]
    lines = text.splitlines()
    i = lines.index(f"what each rank hands to the TP forward at iteration {k}:")
    table = lines[i + 1: i + 8]
    assert table[0].split() == ["TP0", "TP1"]
    content = next(ln for ln in table if ln.strip().startswith("content"))
    assert "tokens 0..1 of the request" in content and "leftover" in content
    assert content.endswith("<>")
    length = next(ln for ln in table if ln.strip().startswith("length"))
    assert not length.endswith("<>")  # same length, different data


def test_proved_witness_exercises_the_property():
    r = run("explain", "seed", "agreement", "--topology", "b", "--ranks", "2", "--depth", "4")
    assert r.exit_code == 0, r.output
    out = r.output
    assert out.startswith('PROVED: seed / topology b / T=2: agreement (always) -- "the '
                          'branches agree" holds within the bound')
    assert "configuration: model what-if: topology b" in out
    assert "<== violation" not in out
    assert "<== the property is exercised here" in out
    # the marked iteration runs the Transferring procedure, and the run goes on to a hand-off
    marked = out.split("<== the property is exercised here", 1)[1].split("-- iteration")[0]
    assert "Synced aux_datas across ranks" in marked
    assert "hand-off:" in out.split("<== the property is exercised here", 1)[1]


def test_vacuous_proof_exits_1():
    """At depth 1 no rank reaches the Transferring procedure: agreement holds vacuously."""
    r = run("explain", "seed", "agreement", "--topology", "a", "--ranks", "2", "--depth", "1")
    assert r.exit_code == 1, r.output
    assert "the proof is vacuous" in r.output


def test_undecided_exits_3(tmp_path: Path):
    p = tmp_path / "c.toml"
    p.write_text("[prove]\ntp_sizes=[1]\nvariants=['seed']\ntopologies=['a']\n"
                 "timeout_seconds = 0.001\n")
    r = run("explain", "seed", "agreement", "--ranks", "2", "--config", str(p))
    assert r.exit_code == 3, r.output
    assert "UNKNOWN" in r.output


def test_bad_cause_exits_2():
    assert run("explain", "seed", "agreement", "--cause", "nosuch").exit_code == 2


@pytest.mark.parametrize("prop,cause,expect", [
    ("block_ownership", "fault", "cause (fault): an abort request reaches every rank"),
    ("conservation", "pool", "cause (pool): other requests take every free block"),
])
def test_cause_fault_and_pool(prop, cause, expect):
    """The solver's but-for query for faults and pool events agrees with the replay (explain
    re-checks it and stops with an internal error otherwise)."""
    r = run("explain", "seed", prop, "--ranks", "1", "--depth", "3", "--cause", cause,
            "--json")
    out = json.loads(r.output)
    assert r.exit_code == 1 and out["cause_found"] is True
    assert cause in {c["kind"] for c in out["causes"]["causes"]}
    assert expect in out["text"]
