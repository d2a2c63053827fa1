"""The pytest plugin an engine repository uses: opt-in, light to load, one item per
obligation with a stable node id, a failing item says what differs and how to see it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TINY = (Path(__file__).parents[1] / "output" / "data" / "broken.toml").read_text()


def test_loading_the_plugin_imports_nothing_heavy():
    code = ("import sys, ranksync.pytest_plugin\n"
            "heavy = ('z3', 'torch', 'rich', 'jinja2', 'jsonschema', 'numpy')\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in heavy\n"
            "             or m.startswith(('ranksync.checker', 'ranksync.spec')))\n"
            "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_opt_in(pytester: pytest.Pytester):
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    r = pytester.runpytest("-p", "no:cacheprovider", "-n", "0")
    r.assert_outcomes(passed=1)


def test_one_item_per_obligation(pytester: pytest.Pytester):
    pytester.makefile(".toml", tiny=TINY)
    r = pytester.runpytest("--ranksync", "--ranksync-config", "tiny.toml", "--collect-only",
                           "-q", "-p", "no:cacheprovider", "-n", "0")
    from ranksync.checker.config import load
    from ranksync.checker.obligations import obligation_keys

    ids = [ln for ln in r.outlines if "::" in ln]
    assert "tiny.toml::seed-a-T1-property-integrity" in ids
    assert "tiny.toml::seed-a-T1-witness-premise:_seed_claim" in ids
    n = len(obligation_keys(load(pytester.path / "tiny.toml")))
    assert len(ids) == n == len(set(ids))


def test_a_differing_verdict_fails_its_item(pytester: pytest.Pytester):
    pytester.makefile(".toml", tiny=TINY)
    r = pytester.runpytest("--ranksync", "--ranksync-config", "tiny.toml", "-p",
                           "no:cacheprovider", "-n", "0")
    got = r.parseoutcomes()
    assert got["failed"] >= 1 and got["passed"] > got["failed"]
    r.stdout.fnmatch_lines(["*FAILED tiny.toml::seed-a-T1-property-integrity*"], consecutive=False)
    r.stdout.fnmatch_lines(["*seed/a/T=1 integrity: VIOLATED, declared PROVED*",
                            "*explain: ranksync explain seed integrity --topology a --ranks 1 "
                            "--config tiny.toml*"])


def test_bad_config_is_a_usage_error(pytester: pytest.Pytester):
    pytester.makefile(".toml", bad="[prove]\ntp_sizes = 3\n")
    r = pytester.runpytest("--ranksync", "--ranksync-config", "bad.toml", "-p",
                           "no:cacheprovider", "-n", "0")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines(["*ranksync: *bad.toml*"])
