"""History outputs on a synthetic result: the table, JUnit, the report section."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

from ranksync.checker.history import output
from ranksync.checker.history.cli import compare
from ranksync.checker.report import table_of

PROPS = ["integrity", "progress", "no_leak"]
COMMITS = [
    {"label": "aaa", "commit": "a" * 40, "verdict": "ran", "runs": 2, "modes": {"driven": 2},
     "connection": "driven",
     "properties": {"integrity": {"status": "violated", "run": "r1", "step": 3, "ranks": [1]},
                    "progress": {"status": "holds"}, "no_leak": {"status": "not exercised"}},
     "conforms": {"seed": {"exact": 2, "behaviour": 2}, "prefix": {"exact": 0, "behaviour": 1}}},
    {"label": "bbb", "commit": "b" * 40, "verdict": "could not load",
     "reason": "importing x failed", "properties": {}},
]


def test_text_junit_section_and_declarations(tmp_path: Path):
    d = output.doc(COMMITS, PROPS, {})
    text = output.text(d)
    assert "integrity: violated, first at r1 iteration 3, TP1" in text
    assert "not exercised: no_leak" in text and "conforms to: seed" in text
    assert "why: importing x failed" in text
    root = ET.fromstring(output.junit(d))
    a, b = root.findall("testsuite")
    assert (a.get("failures"), a.get("skipped"), b.get("errors")) == ("1", "1", "1")
    sec = output.section(d)
    t = table_of(sec["data"])
    assert t is not None and t["head"][1:3] == ["verdict", "integrity"]
    assert t["rows"][0][:3] == ["aaa", "ran", "✗ r1 it3"]
    f = tmp_path / "h.json"
    f.write_text(json.dumps(d))
    assert output.section_from_file(str(f))["status"] == "ok"
    f.write_text("{}")
    assert output.section_from_file(str(f))["status"] == "error"
    assert output.section_from_file(None)["status"] == "not run"
    assert compare(COMMITS, None) == ["aaa: ran, violates integrity", "bbb: could not load"]
    decl = {"aaa": {"verdict": "ran", "violated": ["integrity"]},
            "bbb": {"verdict": "could not load"}}
    assert compare(COMMITS, decl) == []
    decl["aaa"]["violated"] = []
    assert compare(COMMITS, decl) == ["aaa: violates ['integrity'], declared []"]


def test_report_shows_the_history_section():
    from ranksync.checker import report as rep

    sections = {k: rep._not_run(k, "not run here") for k in ("mutants", "replay", "engine_diff")}
    sections["history"] = output.section(output.doc(COMMITS, PROPS, {}))
    meta = {"versions": {"python": "3"}, "config_path": "c", "config_text": "",
            "tp_sizes": [1], "variants": [], "topologies": ["a"], "source": "s",
            "generated": "now", "command": "ranksync report", "reused": [],
            "wall": {"prove": 1.0}}
    bound = {"depth": 6, "length": [1, 5], "block_sizes": [1], "pool_blocks": 3,
             "default_allocate_tokens": [1], "stale": "history", "faults": True,
             "pool_pressure": "shared", "progress_bound": 3, "tp_size": 1}
    rows = [{"variant": "seed", "topology": "a", "tp_size": 1, "kind": "property",
             "name": "integrity", "verdict": "PROVED", "expected": "PROVED", "method": "bmc",
             "seconds": 0.1, "step": None, "reason": "", "bound": bound}]
    doc = rep.build(rows, [], sections, meta)
    html, md = rep.render(doc)
    assert "## Engine history" in md and "✗ r1 it3" in md
    assert 'id="history"' in html and "could not load" in html
