"""The contract every `ranksync` run keeps, whatever its input (issue 14): an exit code in
{0, 1, 2, 3}, no traceback, at most one line on stderr for bad input, within a time cap, and
nothing written outside the named outputs. Runs the CLI in-process (click's runner)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner
from ranksync.checker.cli import main

CAP_SECONDS = 20.0  # the wall a rejected input may take on a loaded 2-core machine


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float
    exception: BaseException | None


def invoke(args: list[str], cwd: Path | None = None, stdin: str | bytes | None = None) -> Run:
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        t0 = time.perf_counter()
        r = CliRunner().invoke(main, args, input=stdin, catch_exceptions=True,
                               env={"RANKSYNC_DEBUG": None, "COLUMNS": "100"})
        dt = time.perf_counter() - t0
    finally:
        os.chdir(old)
    exc = r.exception if not isinstance(r.exception, SystemExit) else None
    return Run(r.exit_code, r.stdout, r.stderr, dt, exc)


def check(run: Run, allowed: tuple[int, ...] = (0, 1, 2, 3), cap: float = CAP_SECONDS) -> None:
    """The contract; a bad input (exit 2) says why in exactly one line."""
    assert run.exception is None, f"uncaught {run.exception!r}"
    assert "Traceback" not in run.stdout + run.stderr
    assert run.code in allowed, (run.code, run.stderr[-500:])
    assert "internal error" not in run.stderr, run.stderr
    if run.code == 2:
        lines = [ln for ln in run.stderr.split("\n") if ln.strip()]
        assert len(lines) == 1, run.stderr
        assert "error" in lines[0]
    assert run.seconds < cap, f"took {run.seconds:.1f} s"


def snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}
