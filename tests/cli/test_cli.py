"""Command-line behaviour: verdict exit codes, UNKNOWN and vacuity as failures, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from ranksync.checker.cli import main

SMALL = """
[model]
depth = 6
pool_blocks = 3
block_sizes = [1]
length_range = [1, 3]
default_alloc_range = [1, 1]
[prove]
tp_sizes = [2]
variants = ["seed"]
topologies = ["b"]
timeout_seconds = {timeout}
simulations = {sims}
jobs = 1
[expect.seed.b]
seed_claim = "PROVED"
agreement = "{agreement}"
handoff_agreement = "VIOLATED"
resume_validity = "VIOLATED"
integrity = "VIOLATED"
block_ownership = "VIOLATED"
conservation = "VIOLATED"
no_spurious_failure = "PROVED"
progress = "PROVED"
no_leak = "VIOLATED"
[witnesses.seed.b]
"transfer: Success: ori_input_length > embedding_length -> failure handler" = "UNREACHABLE"
"transfer: Transferring: L <= S -> 'Unexpected' warning" = "UNREACHABLE"
"prealloc: waiting" = "UNREACHABLE"
"""


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def cfg(tmp_path: Path, **kw) -> str:
    vals = {"timeout": 120, "sims": 100, "agreement": "PROVED"} | kw
    p = tmp_path / "c.toml"
    p.write_text(SMALL.format(**vals))
    return str(p)


def test_prove_all_as_declared(tmp_path):
    r = run("prove", "--config", cfg(tmp_path), "--json")
    out = json.loads(r.stdout)
    assert r.exit_code == 0, [x for x in out["rows"] if not x["ok"]]
    assert out["ok"] and all(x["verdict"] != "UNKNOWN" for x in out["rows"])


def test_prove_fails_when_a_verdict_differs(tmp_path):
    r = run("prove", "--config", cfg(tmp_path, agreement="VIOLATED"), "--json")
    assert r.exit_code == 1
    bad = [x for x in json.loads(r.stdout)["rows"] if not x["ok"]]
    assert [(x["name"], x["verdict"]) for x in bad] == [("agreement", "PROVED")]


def test_unknown_is_a_failure(tmp_path):
    """A solver timeout never counts as proved: undecided exits 3, never 0."""
    r = run("prove", "--config", cfg(tmp_path, timeout=0.001, sims=0), "--json")
    assert r.exit_code == 3
    rows = json.loads(r.stdout)["rows"]
    assert any(x["verdict"] == "UNKNOWN" and not x["ok"] for x in rows)


def test_vacuous_witness_is_a_failure(tmp_path):
    """Declaring a branch reachable that the model cannot reach fails the run."""
    text = Path(cfg(tmp_path)).read_text().replace(
        '"prealloc: waiting" = "UNREACHABLE"', '')
    p = tmp_path / "v.toml"
    p.write_text(text)
    r = run("prove", "--config", str(p), "--json")
    assert r.exit_code == 1
    bad = [x for x in json.loads(r.stdout)["rows"] if not x["ok"]]
    assert [(x["name"], x["verdict"]) for x in bad] == [("prealloc: waiting", "UNREACHABLE")]


def test_bad_config_exit_2(tmp_path):
    p = tmp_path / "bad.toml"
    for text in ["[prove\n", "[prove]\ntp_sizes = 'x'\nvariants=['seed']\ntopologies=['a']\n",
                 "[prove]\ntp_sizes=[1]\nvariants=['nope']\ntopologies=['a']\n",
                 "[prove]\ntp_sizes=[1]\nvariants=['seed']\ntopologies=['a']\n"
                 "[model]\nlength_range=[5,1]\n"]:
        p.write_text(text)
        r = run("prove", "--config", str(p))
        assert r.exit_code == 2, text
        assert "error" in r.output and "Traceback" not in r.output
    assert run("prove", "--config", str(tmp_path / "missing.toml")).exit_code == 2


def test_explain_bad_usage_exit_2():
    assert run("explain", "nosuch", "agreement").exit_code == 2
    assert run("explain", "seed", "nosuch").exit_code == 2
    assert run("explain", "seed", "agreement", "--topology", "a", "--receivers", "0").exit_code == 2
    assert run("explain", "seed", "agreement", "--ranks", "2", "--receivers", "5").exit_code == 2


def test_explain_proved_shows_bound_and_witness():
    r = run("explain", "seed", "agreement", "--topology", "b", "--ranks", "2")
    assert r.exit_code == 0
    assert r.output.startswith("PROVED: seed / topology b / T=2: agreement")
    assert "bound: depth 6 iterations" in r.output and "a run that exercises it" in r.output


def test_replay_bad_traces_exit_2(tmp_path):
    pytest.importorskip("torch", reason="replay needs the ranksync[torch] extra")
    (tmp_path / "x.json").write_text("{not json")
    assert run("replay", str(tmp_path / "x.json")).exit_code == 2
    (tmp_path / "y.json").write_text(json.dumps({"format": "ranksync-trace", "version": 9}))
    r = run("replay", str(tmp_path / "y.json"))
    assert r.exit_code == 2 and "not a ranksync trace" in r.output
    assert run("replay", str(tmp_path / "missing.json")).exit_code == 2
