"""Shared pieces of the fuzz suite (issue 14): example counts, the stubs that keep valid
inputs cheap, a sandbox that sees every file a run writes, and saving failing inputs.

Counts: the default run generates FUZZ_DEFAULT inputs per surface (>= 2,000 in total);
`RANKSYNC_FUZZ_EXAMPLES=10000 python -m pytest -n 0 tests/reliability -k fuzz` runs 10,000
per surface (README "Fuzzing"). A failing input is written to $RANKSYNC_FUZZ_SAVE (when set)
so it can be added to tests/reliability/corpus/, which test_corpus.py replays on every run.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, Phase, settings

from .contract import Run, check, invoke, snapshot

FUZZ_DEFAULT = {"config": 700, "trace": 500, "log": 500, "argv": 500}
CORPUS = Path(__file__).parent / "corpus"


def fuzz_settings(surface: str) -> Any:
    n = int(os.environ.get("RANKSYNC_FUZZ_EXAMPLES", FUZZ_DEFAULT[surface]))
    # RANKSYNC_FUZZ_NOSHRINK=1: report failures as generated (a long run finds more of them)
    phases = [Phase.explicit, Phase.generate] if os.environ.get("RANKSYNC_FUZZ_NOSHRINK") \
        else list(Phase)
    return settings(max_examples=n, deadline=None, database=None, derandomize=False,
                    phases=phases, report_multiple_bugs=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


class _NoWork:
    """Stands in for the expensive part of a run whose input was accepted: the fuzz suite
    checks validation and everything around it, not the prover (tests/cli runs that)."""

    @staticmethod
    def run_with_progress(_pc: Any, _jobs: Any) -> tuple[list[Any], float]:
        return [], 0.0


@contextmanager
def stubbed() -> Iterator[None]:
    with mock.patch("ranksync.checker.progress.run_with_progress", _NoWork.run_with_progress):
        yield


@contextmanager
def sandbox() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="ranksync-fuzz-") as d:
        yield Path(d)


def run_in(box: Path, args: list[str], outputs: tuple[str, ...] = (),
           allowed: tuple[int, ...] = (0, 1, 2, 3), cap: float = 20.0,
           saved: tuple[str, bytes] | None = None) -> Run:
    """Run the CLI in `box` and check the contract; nothing may appear in `box` but the
    named `outputs` (paths relative to it)."""
    before = snapshot(box)
    r = invoke(args, cwd=box)
    try:
        check(r, allowed, cap)
        new = snapshot(box) - before
        extra = {p for p in new if not any(p == o or p.startswith(o.rstrip("/") + "/")
                                           for o in outputs)}
        assert not extra, f"wrote outside the named outputs: {sorted(extra)}"
    except AssertionError:
        if saved is not None:
            save_failure(*saved)
        raise
    return r


def save_failure(surface: str, data: bytes) -> None:
    where = os.environ.get("RANKSYNC_FUZZ_SAVE")
    if not where:
        return
    d = Path(where) / surface
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha256(data).hexdigest()[:16]).write_bytes(data)
