"""The result cache (checker/cache.py): keyed by sources and inputs, off on request, and
`ranksync report` reuses the rows an earlier prove stored instead of proving again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from ranksync.checker import cache
from ranksync.checker.config import load
from ranksync.checker.report import report

TINY = Path(__file__).parents[1] / "output" / "data" / "tiny.toml"


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("RANKSYNC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("RANKSYNC_NO_CACHE", raising=False)
    return tmp_path / "cache"


def test_round_trip_and_keys(cache_dir, monkeypatch):
    assert cache.get("x", {"a": 1}) is None
    cache.put("x", {"a": 1}, {"rows": [1, 2]})
    assert cache.get("x", {"a": 1}) == {"rows": [1, 2]}
    assert cache.get("x", {"a": 2}) is None and cache.get("y", {"a": 1}) is None
    monkeypatch.setenv("RANKSYNC_NO_CACHE", "1")
    assert cache.get("x", {"a": 1}) is None


def test_a_changed_source_changes_every_key(cache_dir, tmp_path, monkeypatch):
    import importlib.util
    from types import SimpleNamespace

    src = tmp_path / "pkg"
    src.mkdir()
    (src / "m.py").write_text("x = 1\n")
    fake = SimpleNamespace(submodule_search_locations=[str(src)])
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: fake)
    cache.source_hash.cache_clear()
    try:
        k1 = cache.key("prove", {"a": 1})
        (src / "m.py").write_text("x = 2\n")
        cache.source_hash.cache_clear()
        assert cache.key("prove", {"a": 1}) != k1
    finally:
        cache.source_hash.cache_clear()


def test_report_reuses_the_rows_of_an_earlier_prove(cache_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pc = load(TINY)
    rows = [{"variant": "seed", "topology": "a", "tp_size": 1, "kind": "property",
             "name": "seed_claim", "verdict": "PROVED", "expected": "PROVED", "method": "bmc",
             "seconds": 0.5, "step": None, "reason": "", "bound": {"depth": 6}, "ok": True}]
    cache.put("prove", cache.prove_inputs(pc), {"rows": rows, "wall_seconds": 12.5})
    r = CliRunner().invoke(report, ["--config", str(TINY), "--out", "rep", "--skip", "replay",
                                    "--counterexamples", "none"])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert doc["rows"] == rows and doc["meta"]["wall"]["prove"] == 12.5
    assert doc["meta"]["source"].startswith("reused from the cache") and \
        "prove" in doc["meta"]["reused"]
    from ranksync.checker.cliutil import has_torch

    assert doc["sections"]["mutants"]["status"] == "not run"  # minutes: never by default
    note = doc["sections"]["mutants"]["note"]
    assert ("ranksync mutants" if has_torch() else "ranksync[torch]") in note
