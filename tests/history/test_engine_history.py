"""Opt-in: `ranksync history` over the fork's listed commits, and `ranksync logcheck` on the
log lines each commit's own code printed in those runs. Runs when RANKSYNC_ENGINE_GIT names
the fork's git directory (e.g. /work/.mirror/ZhengWG+sglang/repo)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from ranksync.checker.history.cli import history
from ranksync.checker.logcheck.cli import logcheck

GIT = os.environ.get("RANKSYNC_ENGINE_GIT", "")
LISTED = ["28ac79bbe", "3552c3739", "d94e4a0ab", "d1bceb411", "7a7a71977", "caff70bd5",
          "2141e0842", "58fe20da8", "845f6c487", "b3f7032d1", "8abf55e3d", "401245261"]

pytestmark = [pytest.mark.gloo,
              pytest.mark.skipif(not GIT, reason="RANKSYNC_ENGINE_GIT not set (the fork)")]


def test_every_listed_commit_gets_a_verdict_and_its_logs_check(small_traces: Path,
                                                               tmp_path: Path):
    r = CliRunner().invoke(history, ["--engine-repo", GIT, *LISTED, "--traces",
                                     str(small_traces), "--cache", str(tmp_path / "cache"),
                                     "--logs", str(tmp_path / "logs"), "--json"])
    assert r.exit_code in (0, 1), r.output
    d = json.loads(r.stdout)
    by = {c["label"]: c for c in d["commits"]}
    assert set(by) == set(LISTED)
    for label, c in by.items():
        assert c["verdict"] in ("ran", "mapping broken"), (label, c.get("reason"))
        if c["verdict"] == "mapping broken":
            assert c["reason"], label  # names what it lost
        assert c["connection"] == ("scripted" if label == "8abf55e3d" else "driven"), label
        log = tmp_path / "logs" / f"{label}.language.log"
        got = CliRunner().invoke(logcheck, [str(log), "--properties", "agreement",
                                            "--max-analyse", "1", "--traces", "none",
                                            "--jobs", "1", "--json"])
        assert got.exit_code == 0, (label, got.output[-500:])
        rep = json.loads(got.stdout)
        assert rep["unmatched"]["count"] == 0, (label, rep["unmatched"])
        assert rep["input"]["language_lines"] > 0 and rep["requests"], label
