"""[prove] memory_limit_mb: a worker past the cap makes its obligations UNKNOWN (exit 3, the
cap named), never a pass and never an OOM kill of the run; a cap below 256 MB is bad input."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from ranksync.checker.cli import main

CAPPED = """extends = "ranksync:full.toml"
[prove]
tp_sizes = [2]
variants = ["seed"]
topologies = ["a"]
witnesses = "none"
memory_limit_mb = {mb}
[prove.properties]
seed = ["agreement"]
"""


def _prove(tmp_path: Path, mb: int):
    cfg = tmp_path / "capped.toml"
    cfg.write_text(CAPPED.format(mb=mb))
    return CliRunner().invoke(main, ["prove", "--config", str(cfg)])


def test_a_query_past_the_cap_is_undecided(tmp_path: Path) -> None:
    r = _prove(tmp_path, 256)  # BMC of agreement at T = 2 needs more than 256 MB
    assert r.exit_code == 3, r.output
    assert "exceeded the memory cap of 256 MB" in r.output, r.output[-1500:]
    assert "Traceback" not in r.output


def test_a_cap_below_the_floor_is_bad_input(tmp_path: Path) -> None:
    r = _prove(tmp_path, 100)
    assert r.exit_code == 2 and "memory_limit_mb" in r.output
