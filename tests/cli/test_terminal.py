"""Terminal behaviour: NO_COLOR and pipes give plain, uncut text; machine output on stdout,
human text on stderr; progress advances per obligation, also from worker processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ranksync.checker.config import load
from ranksync.checker.progress import Tracker, group_sizes
from ranksync.checker.prove import run_all

TINY = (Path(__file__).parents[1] / "output" / "data" / "tiny.toml").read_text()


def ranksync(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None
             ) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR",
                                                          "TTY_COMPATIBLE")}
    e.update(env or {})
    # not from the checkout's root, whose ranksync/ folder would shadow the installed package
    return subprocess.run([sys.executable, "-m", "ranksync", *args], capture_output=True,
                          text=True, env=e, cwd=cwd or Path(__file__).parent, timeout=600)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("term") / "tiny.toml"
    p.write_text(TINY)
    return p


def test_no_color_pipe_is_plain_and_uncut(tiny):
    """`NO_COLOR=1 ranksync prove | cat`: no escape codes, no line cut to the pipe's width."""
    r = ranksync("prove", "--config", str(tiny), env={"NO_COLOR": "1"})
    assert r.returncode in (0, 1), r.stderr  # 1: the model moved on from the default's verdicts
    out = r.stdout
    assert "\x1b" not in out and "\x1b" not in r.stderr
    assert "…" not in out  # Rich marks a cut cell or line with an ellipsis
    from ranksync.checker.config import load

    legend = next(ln for ln in out.splitlines() if ln.lstrip().startswith("P1 seed_claim"))
    props = load(tiny).properties_of("seed", "a")  # the legend names the checked properties
    assert legend.rstrip().endswith(f"P{len(props)} {props[-1]}") and len(legend) > 80
    assert "obligations as declared" in out or "not as declared:" in out


def test_columns_is_honoured(tiny):
    r = ranksync("prove", "--config", str(tiny), env={"COLUMNS": "60"})
    widths = [len(ln) for ln in r.stdout.splitlines() if ln.startswith(("┏", "│", "└"))]
    assert widths and max(widths) <= 60


def test_machine_output_on_stdout_human_on_stderr(tiny):
    r = ranksync("witnesses", "--config", str(tiny), "--format", "json")
    assert r.returncode in (0, 1), r.stderr
    doc = json.loads(r.stdout)  # nothing but the document
    assert doc["schema_version"] == 1 and doc["command"] == "witnesses"
    assert all(x["kind"] == "witness" for x in doc["rows"])
    assert "ranksync witnesses" in r.stderr  # the table, for the log


def test_progress_advances_per_obligation_across_workers(tiny):
    pc = load(tiny)
    pc.topologies = ["a", "b"]
    sizes = group_sizes(pc)
    events: list[tuple] = []
    rows = run_all(pc, 2, None, events.append)  # two worker processes
    assert {e[1] for e in events if e[0] == "start"} == set(sizes)
    tr = Tracker(sizes)
    settled = sum(tr.event(e) for e in events)
    assert settled == len(rows) == tr.total
    # every group ticks (with BMC once per solved question: test_tracker_* below)
    assert {tuple(e[1]) for e in events if e[0] == "settled"} == set(sizes)


def test_tracker_names_running_groups():
    tr = Tracker({("seed", "a", 2): 3, ("fixpoint", "hardened", "a", 1): 6})
    assert tr.event(("start", ("seed", "a", 2))) == 0
    assert tr.event(("settled", ("seed", "a", 2), 2)) == 2
    assert tr.describe().startswith("seed/a/T2 ")
    assert tr.event(("settled", ("seed", "a", 2), 5)) == 1  # never beyond the group's size
    assert tr.finished(("fixpoint", "hardened", "a", 1), 6) == 6
    assert tr.done == tr.total == 9
