"""One report for the whole tests/report session: the default configuration's obligations for
T <= 2 (proved once, shared with tests/test_obligations.py when both run), topology b, all its
counterexamples explained, written through the CLI from a prove JSON (the `--from-json` path
CI uses) with a kill matrix given as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from ranksync.checker.config import ProveConfig, load
from ranksync.checker.prove import Row, cached_run_all

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "configs" / "default.toml"

KILLS = [  # the shape of `ranksync mutants --json` (checker/mutants.py Kill.to_json)
    {"mutant": "max_to_min", "base": "seed",
     "model_flips": ["seed_claim (topology b, T=2): PROVED -> VIOLATED",
                     "agreement (topology b, T=2): PROVED -> VIOLATED"],
     "killed_model": True, "killed_reference": True, "reference_divergent": 3,
     "reference_traces": 20, "reference_example": "x", "self_divergent": 0, "self_traces": 5,
     "ok": True},
    {"mutant": "alloc_before_free", "base": "seed", "model_flips": [],
     "killed_model": False, "killed_reference": False, "reference_divergent": 0,
     "reference_traces": 20, "reference_example": "", "self_divergent": 0, "self_traces": 5,
     "ok": False},
]


@pytest.fixture()
def kills() -> list[dict[str, Any]]:
    return [dict(k) for k in KILLS]


def small_config() -> ProveConfig:
    pc = load(DEFAULT)
    pc.tp_sizes = [1, 2]
    # as tests/test_obligations.py (one shared run): the hardened every-T proofs are slow tests
    pc.every_t = {v: tops for v, tops in pc.every_t.items() if v != "hardened"}
    return pc


def shared_rows(config: pytest.Config, pc: ProveConfig) -> list[Row]:
    """One prove run per configuration and test session (shared by tests/report and
    tests/test_obligations.py)."""
    return cached_run_all(config.__dict__.setdefault("_ranksync_prove_cache", {}), pc)


@pytest.fixture(scope="session")
def prove_json(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pc = small_config()
    rows = shared_rows(pytestconfig, pc)
    p = tmp_path_factory.mktemp("prove") / "prove.json"
    # topology b only: the same page structure at half the explain time (the full default
    # report is rendered by `ranksync report`; this keeps the suite near its time budget)
    p.write_text(json.dumps({"config": pc.path, "wall_seconds": 1.0, "ok": False,
                             "rows": [r.to_json() for r in rows if r.topology == "b"]}))
    return p


@pytest.fixture(scope="session")
def report_dir(prove_json: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ranksync.checker.report import report

    base = tmp_path_factory.mktemp("report")
    kills = base / "kills.json"
    kills.write_text(json.dumps(KILLS))
    out = base / "out"
    res = CliRunner().invoke(report, ["--from-json", str(prove_json), "--out", str(out),
                                      "--mutants-json", str(kills), "--junit",
                                      str(base / "junit" / "report.xml")])
    assert res.exit_code == 0, res.output + repr(res.exception)
    (base / "stdout.txt").write_text(res.output)
    return out


@pytest.fixture
def md_tables_ok():
    """A checker: every Markdown table row has as many cells as its header."""

    def check(md: str) -> None:
        lines = md.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("|---"):
                for body in lines[i + 1:]:
                    if not body.startswith("|"):
                        break
                    assert body.count("|") - body.count("\\|") == lines[i - 1].count("|"), body

    return check
