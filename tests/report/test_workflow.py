"""The example GitHub Actions workflow has the steps a user needs, in a working order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

WF = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "ranksync.yml"


def load() -> dict[str, Any]:
    data = yaml.safe_load(WF.read_text())
    assert isinstance(data, dict)
    return data


def steps(name: str = "evidence") -> list[dict[str, Any]]:
    job = load()["jobs"][name]
    assert "ubuntu" in job["runs-on"]
    return list(job["steps"])


def index(pred: Any) -> int:
    for i, s in enumerate(steps()):
        if pred(s):
            return i
    raise AssertionError("step not found")


def runs(s: dict[str, Any], *words: str) -> bool:
    return all(w in str(s.get("run", "")) for w in words)


def test_triggers() -> None:
    wf = load()
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as True
    assert "push" in on and "pull_request" in on


def test_steps_in_order() -> None:
    st = steps()
    checkout = index(lambda s: str(s.get("uses", "")).startswith("actions/checkout@"))
    py = index(lambda s: str(s.get("uses", "")).startswith("actions/setup-python@"))
    assert str(st[py]["with"]["python-version"]) == "3.11"
    torch = index(lambda s: runs(s, "pip install torch==2.13.0",
                                 "--index-url https://download.pytorch.org/whl/cpu"))
    install = index(lambda s: runs(s, "pip install", "-c .ci/constraints.txt", "-e", ".[test]"))
    prove = index(lambda s: runs(s, "ranksync prove", "--junit"))
    report = index(lambda s: runs(s, "ranksync report", "--out report"))
    tests = index(lambda s: runs(s, "pytest"))
    upload = index(lambda s: str(s.get("uses", "")).startswith("actions/upload-artifact@"))
    assert checkout < py < torch < install < prove < report < upload
    assert install < tests < upload


def test_report_and_upload_run_even_when_prove_fails() -> None:
    st = steps()
    prove = st[index(lambda s: runs(s, "ranksync prove"))]
    assert prove.get("continue-on-error") is True and prove.get("id")
    for pred in (lambda s: runs(s, "ranksync report"),
                 lambda s: str(s.get("uses", "")).startswith("actions/upload-artifact@")):
        assert st[index(pred)].get("if") == "always()"
    upload = st[index(lambda s: str(s.get("uses", "")).startswith("actions/upload-artifact@"))]
    assert "report" in upload["with"]["path"]
    # the job still fails when prove did
    gate = st[-1]
    assert prove["id"] in str(gate.get("if")) and "exit 1" in gate["run"]


def test_browser_for_screenshot_test() -> None:
    assert index(lambda s: runs(s, "apt-get install -y chromium")) < index(
        lambda s: runs(s, "pytest"))


def test_wheel_and_lowest_z3_jobs() -> None:
    """The packaging checks run as jobs of their own, through the scripts .ci/run also runs."""
    root = WF.parents[2]
    for job, script in (("wheel", ".ci/wheel-smoke"), ("z3-lowest", ".ci/z3-lowest")):
        assert any(runs(s, f"bash {script}") for s in steps(job)), job
        assert (root / script).is_file()
        assert f"bash {script}" in (root / ".ci" / "run").read_text()


def test_slow_tests_have_their_own_step() -> None:
    assert index(lambda s: runs(s, "pytest -m slow")) > index(lambda s: runs(s, "pip install -c"))


def test_prove_annotates_uploads_counterexamples_and_sarif() -> None:
    st = steps()
    prove = st[index(lambda s: runs(s, "ranksync prove"))]
    assert "--format github" in prove["run"] and "--artifacts ranksync-artifacts" in prove["run"]
    assert "--sarif ranksync.sarif" in prove["run"]
    sarif = st[index(lambda s: str(s.get("uses", "")).startswith(
        "github/codeql-action/upload-sarif@"))]
    assert sarif["with"]["sarif_file"] == "ranksync.sarif"
    assert load()["jobs"]["evidence"]["permissions"]["security-events"] == "write"
    upload = st[index(lambda s: str(s.get("uses", "")).startswith("actions/upload-artifact@"))]
    assert "ranksync-artifacts/" in upload["with"]["path"]
