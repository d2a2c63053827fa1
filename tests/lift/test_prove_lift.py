"""`ranksync prove` above T = 4: a declared violation that simulation at T misses is lifted
from the smallest T and confirmed by replay at T, without BMC at T; a lift that finds nothing
decides nothing (UNKNOWN without BMC), never a made-up VIOLATED."""

from __future__ import annotations

from ranksync.checker import bmc, prove
from ranksync.checker.config import load
from ranksync.checker.simulate import SimResult
from ranksync.spec.ops import PyOps
from ranksync.spec.properties import PROPERTIES

CONFIG = """
extends = "ranksync:default.toml"
[prove]
tp_sizes = [8]
variants = ["seed"]
topologies = ["b"]
bmc = false
jobs = 1
timeout_seconds = {timeout}
[prove.properties]
seed = ["{prop}"]
[expect.seed.b]
{prop} = "{verdict}"
"""


def _pc(tmp_path, prop: str, verdict: str, timeout: float = 300):
    p = tmp_path / "t8.toml"
    p.write_text(CONFIG.format(prop=prop, verdict=verdict, timeout=timeout))
    return load(p)


def _no_simulation_at(t: int, monkeypatch) -> None:
    """Simulation at T finds nothing (the lift must do the work); other T are untouched."""
    real = prove._simulate

    def sim(pc, cfg, *a):
        return SimResult() if cfg.tp_size == t else real(pc, cfg, *a)
    monkeypatch.setattr(prove, "_simulate", sim)


def _property_rows(rows):
    return [r for r in rows if r.kind == "property"]


def test_declared_violation_at_t8_is_lifted(tmp_path, monkeypatch):
    _no_simulation_at(8, monkeypatch)
    pc = _pc(tmp_path, "integrity", "VIOLATED")
    [row] = _property_rows(prove.check_group(pc, "seed", "b", 8))
    assert (row.verdict, row.method, row.ok) == (bmc.VIOLATED, "lift", True), row
    assert "confirmed by replay at T=8" in row.reason and row.step is not None
    # the lifted run is a real T = 8 run: lift it again here and replay it
    from ranksync.checker.lift import violation_at
    from ranksync.checker.lift_base import base_configs, smallest_counterexample
    cfg = pc.model_config(8, "b")
    base = smallest_counterexample(base_configs(cfg), "seed", "integrity", pc.simulations,
                                   pc.seed, 60)
    res = violation_at(base.scenario, base.step, "integrity", 8, target=cfg,
                       shorter_budget_s=0)
    sc = res.scenario
    assert sc.cfg.tp_size == 8 and res.step == row.step
    assert PROPERTIES["integrity"].bad(PyOps(sc.cfg.block_sizes), sc.cfg, sc.replay(),
                                       res.step)


def test_lift_that_finds_nothing_is_undecided(tmp_path, monkeypatch):
    """no_spurious_failure holds for seed (and has no every-T proof to settle it): declared
    VIOLATED (wrongly), the lift finds no base within its budget (the solver timeout, 4 s,
    caps it), and without BMC the row is UNKNOWN (exit 3), never VIOLATED."""
    _no_simulation_at(8, monkeypatch)
    pc = _pc(tmp_path, "no_spurious_failure", "VIOLATED", timeout=4)
    rows = _property_rows(prove.check_group(pc, "seed", "b", 8))
    assert [(r.verdict, r.method) for r in rows] == [(bmc.UNKNOWN, "none")]
    assert prove.exit_code(rows) == 3


def test_no_lift_at_or_below_t4(tmp_path):
    from ranksync.checker.prove_lift import lift_violations
    pc = _pc(tmp_path, "integrity", "VIOLATED")
    assert lift_violations(pc, pc.model_config(4, "b"), "seed", ["integrity"]) == {}
