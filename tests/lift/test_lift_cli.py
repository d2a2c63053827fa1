"""`ranksync explain --ranks T` above 4: the lifted counterexample, its JSON, exit codes."""

from __future__ import annotations

import json

from click.testing import CliRunner
from ranksync.checker.cli import main


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_explain_64_ranks_topology_b():
    r = run("explain", "prefix", "agreement", "--topology", "b", "--ranks", "64",
            "--receivers", "0,2", "--shorter-budget", "0")
    assert r.exit_code == 0, r.output
    out = r.output
    assert out.startswith("VIOLATED: prefix / topology b / T=64: agreement")
    assert "found by: lift" in out and "receivers=TP0, TP2" in out
    assert "[TP0, TP2 (2 ranks alike)]" in out and "(62 ranks alike)" in out
    assert "what is shortest:" in out and "not checked" in out  # the budget was 0
    assert "reproduce: ranksync explain prefix agreement --topology b --ranks 64" in out


def test_explain_json_carries_the_trace():
    r = run("explain", "seed", "integrity", "--ranks", "8", "--shorter-budget", "0", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["verdict"] == "VIOLATED" and d["tp_size"] == 8
    assert d["trace"]["scenario"]["tp_size"] == 8 and d["trace"]["version"] == 2
    assert len(d["trace"]["expected"][d["step"]]["ranks"]) == 8
    assert d["lift"]["method"] == "lift" and len(d["lift"]["copy_of"]) == 8


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
