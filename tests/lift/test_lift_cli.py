"""`ranksync explain --ranks T` above 4: the lifted counterexample, its side-by-side view and
causes, its JSON, --cause, exit codes (1 violated, 3 nothing found: never 0, never PROVED)."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner
from ranksync.checker.cli import main


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_explain_64_ranks_topology_b():
    r = run("explain", "prefix", "agreement", "--topology", "b", "--ranks", "64",
            "--receivers", "0,2", "--shorter-budget", "0")
    assert r.exit_code == 1, r.output
    out = r.output
    assert out.startswith("VIOLATED: prefix / topology b / T=64: agreement")
    assert "found by: lift" in out and "receivers=TP0, TP2" in out
    assert "[TP0, TP2 (2 ranks alike)]" in out and "(62 ranks alike)" in out
    assert "what is shortest:" in out and "not checked" in out  # the budget was 0
    # side by side: the receivers share a column, the 62 status-only ranks another
    assert "the branches at iteration" in out
    head = next(ln for ln in out.splitlines() if ln.lstrip().startswith("TP0, TP2"))
    assert "TP1, TP3..TP63" in head
    assert "reproduce: ranksync explain prefix agreement --topology b --ranks 64" in out


def test_explain_json_carries_the_trace():
    r = run("explain", "seed", "integrity", "--ranks", "8", "--shorter-budget", "0", "--json")
    assert r.exit_code == 1, r.output
    d = json.loads(r.output)
    assert d["verdict"] == "VIOLATED" and d["tp_size"] == 8
    assert d["trace"]["scenario"]["tp_size"] == 8 and d["trace"]["version"] == 2
    assert len(d["trace"]["expected"][d["step"]]["ranks"]) == 8
    assert d["lift"]["method"] == "lift" and len(d["lift"]["copy_of"]) == 8
    assert d["causes"] is not None and d["level"] is None  # integrity is not a level


def test_explain_lifted_keeps_the_asked_cause():
    """The base is `explain --cause stale` at T=1; the lifted run at T=8 still needs the
    leftover row (but-for replay at T=8), named on every rank."""
    r = run("explain", "prefix", "resume_validity", "--ranks", "8", "--cause", "stale",
            "--shorter-budget", "0", "--json")
    assert r.exit_code == 1, r.output
    d = json.loads(r.output)
    assert d["verdict"] == "VIOLATED" and d["tp_size"] == 8 and d["cause_found"] is True
    assert [c["kind"] for c in d["causes"]["causes"]] == ["stale"]
    # the values depend on the solver's model; the shape does not
    assert re.search(r"cause \(stale\): block \d+'s aux row still holds \d+ from an earlier "
                     r"request \(every rank\)", d["text"]), d["text"]
    assert "reproduce: ranksync explain prefix resume_validity --topology a --ranks 8 " \
        "--cause stale" in d["text"]


def test_explain_lifted_cause_of_no_kind_is_undecided():
    """No counterexample of the asked kind below T: nothing is lifted, exit 3."""
    r = run("explain", "prefix", "resume_validity", "--ranks", "8", "--cause", "fault",
            "--no-faults", "--depth", "3", "--shorter-budget", "0")
    assert r.exit_code == 3, r.output
    assert "no counterexample whose causes include a fault" in r.output


def test_explain_without_counterexample_is_undecided():
    """seed_claim holds for seed at small T: nothing to lift, exit 3, never PROVED."""
    r = run("explain", "seed", "seed_claim", "--ranks", "8", "--budget", "2")
    assert r.exit_code == 3, r.output
    assert r.output.startswith("UNKNOWN: seed / topology a / T=8: seed_claim")
    assert "nothing is claimed at T=8" in r.output


def test_explain_bad_ranks_exit_2():
    assert run("explain", "seed", "integrity", "--ranks", "0").exit_code == 2
    assert run("explain", "prefix", "agreement", "--topology", "b", "--ranks", "16",
               "--receivers", "20").exit_code == 2
