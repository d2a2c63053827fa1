"""[prove] memory_limit_mb: a worker past the cap makes its group's obligations UNKNOWN (exit
3, the cap named), never a pass and never an OOM kill of the run; a cap below 256 MB is bad
input. The group here stands in for a query that needs more than the cap (a GiB at once), so
the outcome does not depend on how large the solver happens to grow on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from ranksync.checker import prove
from ranksync.checker.cli import main

CAPPED = """extends = "ranksync:default.toml"
[prove]
tp_sizes = [2]
variants = ["seed"]
topologies = ["a"]
memory_limit_mb = {mb}
"""


def _hog(_pc: Any, *_g: Any) -> list[Any]:
    bytearray(1 << 30)  # past any cap of a few hundred MB
    return []


def _prove(tmp_path: Path, mb: int):
    cfg = tmp_path / "capped.toml"
    cfg.write_text(CAPPED.format(mb=mb))
    return CliRunner().invoke(main, ["prove", "--config", str(cfg)])


def test_a_group_past_the_cap_is_undecided(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    real = prove.tasks
    monkeypatch.setattr(prove, "tasks", lambda pc: [(_hog, g) for _fn, g in real(pc)])
    r = _prove(tmp_path, 256)
    assert r.exit_code == 3, r.output[-1500:]
    assert "exceeded the memory cap of 256 MB" in r.output and "Traceback" not in r.output
    assert "as declared" not in r.output.splitlines()[-1]


def test_without_the_stand_in_the_same_run_passes(tmp_path: Path) -> None:
    """A cap the run fits in changes nothing (4 GB: the test process may hold torch, ~0.7 GB
    of address space, which the forked workers inherit)."""
    assert _prove(tmp_path, 4096).exit_code == 0


def test_a_cap_below_the_floor_is_bad_input(tmp_path: Path) -> None:
    r = _prove(tmp_path, 100)
    assert r.exit_code == 2 and "memory_limit_mb" in r.output
