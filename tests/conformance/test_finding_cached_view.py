"""Finding: in `prefix` (28ac79bbe) `partial_aux_datas` is get_buf's aux row itself, a view of
the first block's row. The resume frees that block; when another request takes it and writes
its own row before the resumed data lands, the resumed assembly reads the other request's
total (here 0) and the request fails. The model, the reference and (opt-in) the engine's own
code at 28ac79bbe give the same run; the seed's copy (a new tensor) does not have it."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from ranksync.checker.conformance import first_divergence, load_trace, model_expected
from ranksync.reference.runner import run_trace

TRACE = Path(__file__).parent / "findings" / "prefix-a-t1-cached-aux-row-reused.json"


def _logs(expected: list[dict]) -> str:
    return "\n".join(e.get("msg", "") for st in expected for r in st["ranks"] for e in r)


def test_model_and_reference_fail_the_request_on_the_reused_row():
    tr = load_trace(TRACE)
    assert first_divergence(tr["expected"], model_expected(tr)) is None
    assert first_divergence(tr["expected"], run_trace(tr).to_expected()) is None
    logs = _logs(tr["expected"])
    assert "total_expected=0, remaining_expected=-1" in logs
    assert "transfer failed for request" in logs


def test_with_a_copy_the_same_schedule_hands_the_request_off():
    """The same schedule on `seed`'s cache (a copy): no reused row is read, nothing fails
    for that reason (the run differs from the prefix's at the resumed assembly)."""
    tr = copy.deepcopy(load_trace(TRACE))
    tr["variant"] = "seed"
    logs = _logs(model_expected(tr))
    assert "total_expected=3" in logs and "total_expected=0" not in logs
    assert _logs(run_trace(tr).to_expected()) == logs


@pytest.mark.skipif(not os.environ.get("RANKSYNC_ENGINE_SRC"),
                    reason="RANKSYNC_ENGINE_SRC not set (an engine checkout at 28ac79bbe)")
def test_the_engine_at_28ac79bbe_runs_it():
    from ranksync.checker.enginediff.cli import engine_diff

    srcs = [p for p in os.environ["RANKSYNC_ENGINE_SRC"].split(os.pathsep) if p]
    r = CliRunner().invoke(engine_diff, ["--engine-src", srcs[0], str(TRACE)])
    assert r.exit_code == 0 and "PASS" in r.output, r.output
