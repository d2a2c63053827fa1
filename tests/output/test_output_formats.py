"""The CI formats of prove/witnesses: findings located at the declaring config line and the
spec function, GitHub annotations (escaped, capped), the job summary, SARIF 2.1.0 (validated
against the OASIS schema), versioned JSON (validated against the published schema), JUnit."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import pytest
from ranksync.checker.output import github, sarif
from ranksync.checker.output.locate import Location
from ranksync.checker.output.model import Finding
from ranksync.checker.prove_out import outcome

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"
LINE = (DATA / "broken.toml").read_text().splitlines().index('integrity = "PROVED"') + 1


def published_schema() -> dict:
    text = resources.files("ranksync.checker.output").joinpath(
        "ranksync-output-v1.schema.json").read_text("utf-8")
    return json.loads(text)


def _outcome(tiny, monkeypatch):
    pc, rows, d = tiny
    monkeypatch.chdir(d)
    return outcome("prove", rows, pc, 1.0, "tiny.toml", root=ROOT)


def test_finding_points_at_the_declaring_line_and_the_spec(tiny, monkeypatch):
    pc, rows, d = tiny
    out = outcome("prove", rows, pc, 1.0, str(d / "tiny.toml"), root=d)
    assert out.exit_code == 1
    # the model evolves: other obligations may differ too; the integrity one must be there
    f = next(x for x in out.findings if x.rule == "property/integrity")
    lines = (d / "tiny.toml").read_text().splitlines()
    assert f.location == Location("tiny.toml", lines.index('integrity = "PROVED"') + 1, True)
    assert f.rule == "property/integrity"
    label, spec = f.related[0]
    src = Path(spec.path).read_text().splitlines()
    assert label == "spec function" and src[spec.line - 1].startswith("def integrity_bad(")
    assert f.command.startswith("ranksync explain seed integrity --topology a --ranks 1")


def test_escaping_and_the_per_severity_cap():
    assert github.escape_data("50% a\r\nb") == "50%25 a%0D%0Ab"
    assert github.escape_property("a:b,c%") == "a%3Ab%2Cc%25"
    line = github.annotation("error", "x\ny", "d/c.toml", 3, "t: a, b")
    assert line == "::error file=d/c.toml,line=3,title=t%3A a%2C b::x%0Ay"
    loc = Location("c.toml", 1, True)
    fs = [Finding("r", "error", f"t{i}", "m", loc) for i in range(25)]
    cmds = github.workflow_commands(fs)
    assert len(cmds) == github.PER_SEVERITY
    assert cmds[-1].startswith("::error title=") and "16 more" in cmds[-1]
    outside = Finding("r", "warning", "t", "m", Location("/elsewhere/c.toml", 4, False))
    (cmd,) = github.workflow_commands([outside])
    assert "file=" not in cmd and "declared at /elsewhere/c.toml:4" in cmd


def test_job_summary_is_appended_and_capped(tmp_path, monkeypatch):
    p = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(p))
    assert github.append_summary("# one\n")
    monkeypatch.setattr(github, "SUMMARY_LIMIT", 2000)
    assert github.append_summary("".join(f"line {i}\n" for i in range(1000)))
    text = p.read_text()
    assert text.startswith("# one\n") and "summary truncated" in text
    assert len(text.encode()) <= 2000
    monkeypatch.delenv("GITHUB_STEP_SUMMARY")
    assert not github.append_summary("x")


def test_github_format_end_to_end(tiny, tmp_path, monkeypatch, capsys):
    from ranksync.checker.output.emit import emit
    from ranksync.checker.prove_out import spec_notices

    pc, rows, d = tiny
    monkeypatch.chdir(d)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "s.md"))
    monkeypatch.setenv("GITHUB_WORKSPACE", str(d))
    out = outcome("prove", rows, pc, 1.0, "tiny.toml")
    emit(out, "github", None, spec_notices(out.findings))
    cap = capsys.readouterr()
    errors = [ln for ln in cap.out.splitlines() if ln.startswith("::error ")]
    assert len(errors) == len(out.findings) <= 10
    assert any(e.startswith(f"::error file=tiny.toml,line={LINE},title=ranksync%3A seed/a/T=1 "
                            "integrity") for e in errors)
    assert "ranksync prove: properties" in cap.err  # the human table goes to stderr
    summary = (tmp_path / "s.md").read_text()
    assert f"| seed/a/T=1 integrity | VIOLATED, declared PROVED | `tiny.toml:{LINE}` |" in summary


def test_sarif_validates_against_the_oasis_schema(tiny, monkeypatch):
    out = _outcome(tiny, monkeypatch)
    doc = sarif.sarif("prove", "0.1.0", out.rules, out.findings, ROOT, out.exit_code, "x")
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text())
    jsonschema.validate(doc, schema)
    run = doc["runs"][0]
    ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    from ranksync.spec.properties import PROPERTIES

    assert ids[:len(PROPERTIES)] == [f"property/{p}" for p in PROPERTIES]  # stable order
    assert len(run["results"]) == len(out.findings)
    res = next(x for x in run["results"] if x["ruleId"] == "property/integrity")
    assert res["ruleId"] == "property/integrity" and ids[res["ruleIndex"]] == res["ruleId"]
    rel = res["relatedLocations"][0]["physicalLocation"]["artifactLocation"]
    assert rel == {"uri": "spec/properties.py", "uriBaseId": "SRCROOT"}
    assert res["partialFingerprints"] == {
        "ranksyncObligation/v1": "property:seed:a:T1:integrity"}
    # the validator can fail: a level SARIF does not have
    bad = json.loads(json.dumps(doc))
    bad["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_json_carries_schema_version_and_matches_the_published_schema(tiny, monkeypatch):
    out = _outcome(tiny, monkeypatch)
    doc = json.loads(json.dumps(out.document))
    assert doc["schema_version"] == 1 and doc["command"] == "prove"
    schema = published_schema()
    jsonschema.validate(doc, schema)
    assert any(f["location"]["line"] == LINE for f in doc["findings"])
    for broken in ({k: v for k, v in doc.items() if k != "schema_version"},
                   {**doc, "schema_version": 2}, {**doc, "rows": [{"variant": "seed"}]}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)


def test_junit_has_one_case_per_obligation(tiny, monkeypatch):
    out = _outcome(tiny, monkeypatch)
    ts = ET.fromstring(out.junit)
    assert int(ts.get("tests")) == len(tiny[1])
    assert int(ts.get("failures")) == len(out.findings) >= 1


def test_sarif_alongside_another_format(tiny, monkeypatch, tmp_path, capsys):
    from ranksync.checker.output.emit import emit

    out = _outcome(tiny, monkeypatch)
    emit(out, "junit", None, None, str(tmp_path / "x.sarif"))
    assert capsys.readouterr().out.startswith("<testsuite")
    doc = json.loads((tmp_path / "x.sarif").read_text())
    jsonschema.validate(doc, json.loads((DATA / "sarif-schema-2.1.0.json").read_text()))
    assert len(doc["runs"][0]["results"]) == len(out.findings)
