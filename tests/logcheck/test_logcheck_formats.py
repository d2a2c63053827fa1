"""`ranksync logcheck --format ...`: versioned JSON (published schema), SARIF 2.1.0 and
GitHub annotations at the request's first log line; errors only with --strict."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from ranksync.checker.logcheck.cli import logcheck

# logcheck's model query (prefix/b agreement) takes minutes on the history model: not in CI
pytestmark = pytest.mark.heavy

SARIF_SCHEMA = Path(__file__).parents[1] / "output" / "data" / "sarif-schema-2.1.0.json"
SPLIT = ("[TP0] Partial transfer detected for rid=r1: received 1/2 tokens, need to resume "
         "for 1 more tokens\n"
         "[TP1] Unexpected: Transferring status but sent_tokens=0 >= actual_total_length=0\n"
         "[TP0] Resume transfer initiated for rid=r1: allocated 1 blocks (1 tokens)\n")
LIGHT = str(Path(__file__).parent / "data" / "light.toml")
ARGS = ["--match", "exact", "--variants", "prefix", "--topologies", "b",
        "--properties", "agreement", "--traces", "none", "--jobs", "1", "--config", LIGHT]


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    f = tmp_path_factory.mktemp("logs") / "split.log"
    f.write_text(SPLIT, encoding="utf-8")
    return f


def run(log: Path, *extra: str, env: dict[str, str] | None = None):
    return CliRunner(env=env).invoke(logcheck, [log.name, *ARGS, *extra])


def test_json_schema_and_findings(log, monkeypatch):
    monkeypatch.chdir(log.parent)
    r = run(log, "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    schema = json.loads(resources.files("ranksync.checker.output").joinpath(
        "ranksync-output-v1.schema.json").read_text("utf-8"))
    jsonschema.validate(doc, schema)
    assert doc["schema_version"] == 1 and doc["command"] == "logcheck" and not doc["ok"]
    rules = {f["rule"]: f for f in doc["findings"]}
    assert set(rules) == {"property/agreement"}  # prefix/b explains the lines, decided
    f = rules["property/agreement"]
    assert f["level"] == "warning" and f["location"] == {"path": "split.log", "line": 1,
                                                        "in_root": True}


def test_strict_github_and_sarif(log, monkeypatch, tmp_path):
    monkeypatch.chdir(log.parent)
    summary = tmp_path / "summary.md"
    r = run(log, "--strict", "--format", "github", env={"GITHUB_STEP_SUMMARY": str(summary),
                                                         "GITHUB_WORKSPACE": str(log.parent)})
    assert r.exit_code == 1
    (ann,) = [ln for ln in r.stdout.splitlines() if ln.startswith("::")]
    assert ann.startswith("::error file=split.log,line=1,title=ranksync logcheck%3A request")
    assert "| prefix/b |" in summary.read_text()
    out = tmp_path / "lc.sarif"
    r = run(log, "--strict", "--format", "sarif", "--output", str(out))
    assert r.exit_code == 1 and r.stdout == ""
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, json.loads(SARIF_SCHEMA.read_text()))
    (res,) = doc["runs"][0]["results"]
    assert res["ruleId"] == "property/agreement" and res["level"] == "error"
