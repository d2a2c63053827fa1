"""The composite action (action.yml) and the example workflow an engine repository copies
(docs/ci/ranksync.yml): the action's run step, executed here as the runner would, fails on
the deliberately broken config with an ::error at the declaring line and its exit code as an
output; the example uses the action's inputs only."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BROKEN = Path(__file__).parent / "data" / "broken.toml"


def action() -> dict:
    return yaml.safe_load((ROOT / "action.yml").read_text())


def test_action_inputs_and_steps():
    a = action()
    assert a["runs"]["using"] == "composite"
    assert {"args", "working-directory"} <= set(a["inputs"])
    steps = a["runs"]["steps"]
    assert any("pip install" in s.get("run", "") and "GITHUB_ACTION_PATH" in s["run"]
               for s in steps)
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload"))
    assert upload["if"].startswith("failure()")


def test_example_workflow_uses_the_action_as_is():
    wf = yaml.safe_load((ROOT / "docs" / "ci" / "ranksync.yml").read_text())
    inputs = set(action()["inputs"])
    uses = [s for job in wf["jobs"].values() for s in job["steps"]
            if s.get("uses") == "./.ranksync"]
    assert uses and all(set(s.get("with", {})) <= inputs for s in uses)
    checkout = next(s for job in wf["jobs"].values() for s in job["steps"]
                    if s.get("with", {}).get("path") == ".ranksync")
    assert "vars.RANKSYNC_REPOSITORY" in checkout["with"]["repository"]


def test_the_self_test_job_runs_the_action_on_the_broken_config():
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "ranksync.yml").read_text())
    steps = wf["jobs"]["action"]["steps"]
    use = next(s for s in steps if s.get("uses") == "./")
    assert "tests/output/data/broken.toml" in use["with"]["args"]
    assert "--format github" in use["with"]["args"] and use.get("continue-on-error") is True
    check = steps[steps.index(use) + 1]
    assert use["id"] in check["run"] and "exit-code" in check["run"]


def test_run_step_as_the_runner_runs_it(tmp_path):
    """The run step of action.yml under bash, with the runner's files and variables."""
    run = next(s for s in action()["runs"]["steps"] if s.get("id") == "run")
    work = tmp_path / "repo"
    work.mkdir()
    shutil.copy(BROKEN, work / "broken.toml")
    out, summary = tmp_path / "output", tmp_path / "summary.md"
    script = run["run"].replace("${{ inputs.args }}", "")
    bindir = str(Path(sys.executable).parent)  # `ranksync` of this environment
    env = {**os.environ, "PATH": bindir + os.pathsep + os.environ["PATH"],
           "RANKSYNC_ARGS": "prove --config broken.toml --format github --artifacts arts",
           "GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary),
           "GITHUB_WORKSPACE": str(work), "NO_COLOR": "1"}
    p = subprocess.run(["bash", "-e", "-c", script], cwd=work, env=env, capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 1, p.stderr
    line = BROKEN.read_text().splitlines().index('integrity = "PROVED"') + 1
    errors = [ln for ln in p.stdout.splitlines() if ln.startswith("::error")]
    assert any(e.startswith(f"::error file=broken.toml,line={line},") for e in errors), errors
    assert "exit-code=1" in out.read_text()
    assert "integrity" in summary.read_text()
    arts = {x.name for x in (work / "arts").iterdir()}
    assert {"seed-a-t1-property-integrity.explain.txt",
            "seed-a-t1-property-integrity.trace.json"} <= arts
