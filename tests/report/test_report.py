"""The report's content and shape: self-contained HTML, Markdown, JSON, JUnit, traces."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from click.testing import CliRunner
from ranksync.checker import report as rep
from ranksync.spec.properties import PROPERTIES


def row(v: str, t: str, n: int, name: str, verdict: str, step: int | None = None,
        expected: str | None = None, **kw: Any) -> dict[str, Any]:
    return {"variant": v, "topology": t, "tp_size": n, "kind": "property", "name": name,
            "verdict": verdict, "expected": expected, "method": "bmc", "seconds": 0.5,
            "step": step, "reason": "", "bound": {"depth": 6, "length": [1, 6]}, **kw}


# -- pure logic --------------------------------------------------------------------------------
def test_strength_texts() -> None:
    s = rep.strength([row("seed", "a", n, "agreement", "PROVED") for n in (1, 2, 4)])
    assert s["state"] == "proved" and s["text"] == "proved T ∈ {1,2,4}"
    s = rep.strength([row("seed", "a", n, "agreement", "PROVED") for n in (1, 2, 3)])
    assert s["text"] == "proved T ≤ 3" and "depth 6" in s["detail"]
    s = rep.strength([row("p", "b", 1, "x", "PROVED"), row("p", "b", 2, "x", "VIOLATED", 3),
                      row("p", "b", 4, "x", "VIOLATED", 2)])
    assert s["state"] == "violated" and s["text"] == "violated from T=2 (iteration 3)"
    assert s["detail"] == "proved T = 1" and s["min_violated"] == 2
    s = rep.strength([row("p", "b", 1, "x", "PROVED"), row("p", "b", 2, "x", "UNKNOWN")])
    assert s["state"] == "unknown"
    # room for unbounded results
    s = rep.strength([row("p", "b", 1, "x", "PROVED", method="induction")])
    assert s["text"] == "proved for all T"
    s = rep.strength([row("p", "b", 1, "x", "PROVED", expected="VIOLATED")])
    assert s["mismatch"]
    assert rep.strength([])["state"] == "none"


def test_claim_verdict() -> None:
    ok = [row("seed", t, n, p, "PROVED") for t in "ab" for n in (1, 2)
          for p in ("seed_claim", "agreement")]
    c = rep.claim_verdict(ok)
    assert c["verdict"].startswith("HOLDS") and c["css"] == c["claim_css"] == "proved"
    c = rep.claim_verdict(ok + [row("seed", "a", 1, "integrity", "VIOLATED", 3)])
    # the claim holds, the design does not: the box is red
    assert c["verdict"].startswith("HOLDS") and c["claim_css"] == "proved"
    assert c["css"] == "violated" and c["design_violates"] == 1
    assert [b["property"] for b in c["beyond"]] == ["integrity"]
    c = rep.claim_verdict(ok + [row("seed", "b", 4, "agreement", "VIOLATED", 1)])
    assert c["verdict"] == "REFUTED"
    assert c["parts"][1]["anchors"] == ["cex-seed-b-agreement"]
    assert rep.claim_verdict([row("prefix", "a", 1, "agreement", "VIOLATED")])["css"] \
        == "unknown"


def test_counterexample_targets_smallest_t() -> None:
    rows = [row("prefix", "b", 4, "agreement", "VIOLATED", 1),
            row("prefix", "b", 2, "agreement", "VIOLATED", 3),
            row("prefix", "b", 1, "agreement", "PROVED"),
            row("seed", "b", 2, "agreement", "PROVED")]
    assert rep.counterexample_targets(rows) == [("prefix", "agreement", "b", 2)]


def test_kill_table_and_generic_tables(kills: list[dict[str, Any]]) -> None:
    t = rep.kill_table(kills)
    assert t["matrix"]["max_to_min"]["agreement"].startswith("killed")
    assert t["matrix"]["alloc_before_free"]["verdict"] == "NOT KILLED"
    tab = rep.table_of(t)
    assert tab is not None and tab["head"][0] == "" and len(tab["rows"]) == 2
    tab = rep.table_of({"backend": "inprocess", "traces": 2, "divergent": 0,
                        "results": [{"name": "a", "ok": True, "divergence": None}]})
    assert tab is not None and tab["summary"]["traces"] == 2 and tab["rows"] == [["a", "yes", "—"]]
    assert rep.table_of(None) is None


def test_load_rows_rejects_other_json(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"rows": [{"variant": "seed"}]}))
    res = CliRunner().invoke(rep.report, ["--from-json", str(bad), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "lacks" in res.output


def test_missing_module_is_not_run() -> None:
    s = rep.optional_section("x", None, "ranksync.checker.no_such_module", "f")
    assert s["status"] == "not run"
    s = rep.optional_section("x", None, "json", "loads", s="[1]")
    assert s["status"] == "ok" and s["data"] == [1]
    s = rep.optional_section("x", None, "json", "loads")
    assert s["status"] == "error"


# -- the generated report -----------------------------------------------------------------------
def test_html_is_self_contained(report_dir: Path) -> None:
    html = (report_dir / "index.html").read_text()
    assert "<script" not in html and "<link" not in html and "@import" not in html
    urls = set(re.findall(r"""(?:src|href)=['"]([^'"#][^'"]*)""", html))
    assert not urls, f"external references: {urls}"
    assert not re.search(r"url\(", html)
    ext = {u for u in re.findall(r"https?://[^\s'\"<)]+", html)
           if u != "http://www.w3.org/2000/svg"}
    assert not ext, ext


def test_html_sections(report_dir: Path) -> None:
    html = (report_dir / "index.html").read_text()
    data = json.loads((report_dir / "report.json").read_text())
    for anchor in ("claim", "matrix", "counterexamples", "witnesses", "mutants", "conformance",
                   "engine-diff", "timing", "environment", "property-matrix", "verdict",
                   "designs", "designs-matrix"):
        assert f'id="{anchor}"' in html, anchor
    cexs = data["counterexamples"]
    assert cexs and all(c["verdict"] == "VIOLATED" for c in cexs)
    # one counterexample per violated (variant, property, topology), with its own swimlane
    assert len(cexs) == len({(c["variant"], c["property"], c["topology"]) for c in cexs})
    assert html.count('<figure class="swimlane">') == len(cexs)
    assert html.count('<figure class="placement">') == sum(bool(c["placement"]) for c in cexs)
    for c in cexs:
        assert f'id="{c["id"]}"' in html and c["reproduce"] in html
        assert (report_dir / "traces" / f"{c['id']}.json").is_file()
    # the headline bug: the seed's ranks hand different inputs to the forward at T = 2
    ag = next(c for c in cexs if (c["variant"], c["property"], c["topology"])
              == ("seed", "handoff_agreement", "b"))
    assert ag["tp_size"] == 2
    focus = next(s for s in ag["steps"] if s["step"] == ag["step"])
    assert any(r["diverges"] for r in focus["ranks"])
    assert ag["placement"]["ranks"][0]["blocks"], "block placement missing"
    # the first screen: a sentence per design, before everything else, whose links resolve
    # (the default explains every violated cell of the three levels)
    assert html.index('id="answers"') < html.index('id="claim"') < html.index('id="designs"')
    sentences = data["design_sentences"]
    # one per design with a verdict on a property (hardened's every-T proofs are not in
    # the shared test run: its rows there are witnesses only)
    judged = {r["variant"] for r in data["rows"] if r["kind"] in ("property", "every_t")}
    assert {d["variant"] for d in sentences} == judged
    for d in sentences:
        assert f'id="answer-{d["variant"]}"' in html
        for c in d["clauses"]:
            for a in c["anchors"]:
                assert f'id="{a}"' in html, a
    levels = {"seed_claim", "agreement", "handoff_agreement"}
    assert {c["property"] for c in cexs} <= levels
    violated = {(r["variant"], r["name"], r["topology"]) for r in data["rows"]
                if r["kind"] == "property" and r["verdict"] == "VIOLATED" and r["name"] in levels}
    assert {(c["variant"], c["property"], c["topology"]) for c in cexs} == violated
    # every property the run decided appears as a matrix row; the claim has a verdict
    decided = {r["name"] for r in data["rows"] if r["kind"] == "property"}
    assert decided and decided <= set(PROPERTIES)
    for p in decided:
        assert f">{p} <span" in html
    # every-T rows have no T: the header lists the T checked and says "every T" apart
    assert data["meta"]["tp_sizes"] == [1, 2] and data["meta"]["every_t"]
    assert "T ∈ {1,2} and every T (inductive invariants)" in html
    assert data["claim"]["verdict"]
    assert "killed" in html and "NOT KILLED" in html  # the kill matrix given as JSON
    assert "engine-diff" in html and "not configured" in html


def test_markdown_reads_alone(report_dir: Path, md_tables_ok) -> None:
    md = (report_dir / "report.md").read_text()
    assert md.startswith("# ranksync design-review evidence")
    assert "## Claim under review" in md and "**Claim: " in md
    assert "| property | prefix · b | seed · b |" in md
    assert "## Designs compared" in md and "| `seed` | b |" in md
    assert "<svg" not in md and "<div" not in md
    assert "ranksync explain prefix handoff_agreement --topology b --ranks 2" in md
    assert "## Mutation kill matrix" in md and "max_to_min" in md
    md_tables_ok(md)


def test_junit(report_dir: Path) -> None:
    root = ET.parse(report_dir.parent / "junit" / "report.xml").getroot()
    assert root.tag == "testsuites"
    names = [s.get("name") for s in root]
    assert names[:2] == ["ranksync.prove", "ranksync.counterexamples"]
    cex = root[1]
    assert int(cex.get("tests") or 0) > 0 and cex.get("failures") == "0"


def test_traces_are_valid(report_dir: Path) -> None:
    import jsonschema
    from ranksync.checker.conformance import trace_schema

    schema = trace_schema()
    for p in sorted((report_dir / "traces").glob("*.json"))[:5]:
        jsonschema.validate(json.loads(p.read_text()), schema)


def test_terminal_summary_without_colour(report_dir: Path) -> None:
    # CliRunner's stdout is not a TTY: a plain summary table, no ANSI escapes, no progress bar
    out = (report_dir.parent / "stdout.txt").read_text()
    assert "ranksync report" in out and "counterexamples" in out and "wrote " in out
    assert "\x1b[" not in out
    data = json.loads((report_dir / "report.json").read_text())
    assert data["meta"]["versions"]["z3"] and data["meta"]["versions"]["python"]
