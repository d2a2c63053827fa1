"""The "Designs compared" section and the ledger in the property matrix, from synthetic rows
(bounded proofs, all-depth searches, several variants, one the spec does not know): no solver."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from ranksync.checker import report as rep

ROOT = Path(__file__).resolve().parents[2]
BMC_BOUND = {"depth": 6, "length": [1, 5], "block_sizes": [1, 2], "pool_blocks": 3,
             "default_allocate_tokens": [1, 2], "stale": "history", "faults": True,
             "pool_pressure": "per_rank", "progress_bound": 4}
FP_BOUND = {"depth": 17, "length": [1, 3], "pool_blocks": 3, "closed": True, "states": 2911,
            "pool_pressure": "shared"}


def row(v: str, t: str, n: int, name: str, verdict: str, step: int | None = None,
        kind: str = "property", expected: str | None = "same", **kw: Any) -> dict[str, Any]:
    bound = dict(FP_BOUND if kind == "fixpoint" else BMC_BOUND, tp_size=n)
    return {"variant": v, "topology": t, "tp_size": n, "kind": kind, "name": name,
            "verdict": verdict, "expected": verdict if expected == "same" else expected,
            "method": "fixpoint" if kind == "fixpoint" else "bmc", "seconds": 0.25,
            "step": step, "reason": "", "bound": bound, **kw}


def rows() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for v in ("seed", "hardened", "hardened-minus-wait", "my_design"):
        for t in ("a", "b"):
            for n in (1, 2):
                for p in ("agreement", "integrity", "no_leak"):
                    out.append(row(v, t, n, p, "PROVED"))
                out.append(row(v, t, n, "premise: agreement", "REACHABLE", kind="witness"))
    def put(v: str, t: str, n: int, p: str, verdict: str, step: int | None = None) -> None:
        for r in out:
            if (r["variant"], r["topology"], r["tp_size"], r["name"], r["kind"]) \
                    == (v, t, n, p, "property"):
                r.update(verdict=verdict, expected=verdict, step=step)
    put("seed", "b", 2, "agreement", "VIOLATED", 3)
    put("seed", "a", 2, "integrity", "VIOLATED", 4)
    put("my_design", "a", 2, "no_leak", "UNKNOWN")
    # the all-depth search: hardened closes; hardened-minus-wait breaks integrity beyond the
    # bound at T=2 (declared PROVED by BMC, so that row is not as declared)
    for t in ("a", "b"):
        for n in (1, 2):
            for p in ("agreement", "no_leak"):
                out.append(row("hardened", t, n, p, "PROVED", kind="fixpoint"))
            out.append(row("hardened", t, n, "integrity", "OPEN", kind="fixpoint"))
    out.append(row("hardened-minus-wait", "b", 1, "integrity", "PROVED", kind="fixpoint"))
    out.append(row("hardened-minus-wait", "b", 2, "integrity", "VIOLATED", 9, kind="fixpoint",
                   expected="PROVED"))
    return out


def rendered(rs: list[dict[str, Any]]) -> tuple[dict[str, Any], str, str]:
    sections = {k: rep._not_run(k, "not run in this test")
                for k in ("mutants", "replay", "engine_diff")}
    meta = {"versions": {"python": "3"}, "config_path": "configs/designs.toml",
            "config_text": "", "tp_sizes": [1, 2], "variants": sorted({r["variant"] for r in rs}),
            "topologies": ["a", "b"], "source": "synthetic", "generated": "now",
            "command": "ranksync report", "reused": [], "wall": {"prove": 1.0}}
    doc = rep.build(rs, [], sections, meta)
    html, md = rep.render(doc)
    return doc, html, md


def cell(doc: dict[str, Any], v: str, t: str, p: str) -> dict[str, Any]:
    d = doc["designs"]
    r = next(x for x in d["rows"] if (x["variant"], x["topology"]) == (v, t))
    return r["cells"][d["props"].index(p)]


# -- the ledger as the report sees it ------------------------------------------------------------
def test_designs_matrix_from_ledger() -> None:
    doc, _, _ = rendered(rows())
    d = doc["designs"]
    assert d["props"] == ["agreement", "integrity", "no_leak"]  # PROPERTIES order
    # every (variant, topology) in the rows, known variants in spec order, unknown ones last
    assert [(r["variant"], r["topology"]) for r in d["rows"]] == [
        ("seed", "a"), ("seed", "b"), ("hardened", "a"), ("hardened", "b"),
        ("hardened-minus-wait", "a"), ("hardened-minus-wait", "b"),
        ("my_design", "a"), ("my_design", "b")]
    c = cell(doc, "hardened", "a", "agreement")
    assert (c["strength"], c["mark"]) == ("all depths (small domain)", "✓ all depths")
    assert c["detail"].startswith("all depths for T in {1,2}, L [1, 3], pool 3")
    c = cell(doc, "hardened", "a", "integrity")  # the search did not close: bounded only
    assert (c["strength"], c["mark"]) == ("bounded", "✓ bounded")
    assert c["detail"] == "T in {1,2}, depth 6, L [1, 5] (bmc) (all-depth search: OPEN)"
    assert cell(doc, "seed", "a", "agreement")["mark"] == "✓ bounded"
    c = cell(doc, "seed", "b", "agreement")
    assert (c["mark"], c["detail"]) == ("✗ violated", "T=2, step 3 (bmc, depth 6)")
    c = cell(doc, "hardened-minus-wait", "b", "integrity")
    assert (c["mark"], c["detail"]) == ("✗ violated", "T=2, step 9 (all-depth search)")
    assert cell(doc, "my_design", "a", "no_leak")["mark"] == "? open"
    assert d["counts"] == {"violated": 3, "every T, every depth": 0, "all depths (small domain)": 4, "bounded": 16,
                           "open": 1}
    assert [(f["variant"], f["topology"], f["tp_size"]) for f in d["fixpoint_runs"]][:2] \
        == [("hardened", "a", 1), ("hardened", "a", 2)]
    assert doc["ledger"][0].keys() == {"variant", "topology", "property", "strength", "detail"}


def test_property_matrix_shows_ledger_strength() -> None:
    doc, _, _ = rendered(rows())
    m = doc["matrix"]
    cols = [(c["variant"], c["topology"]) for c in m["cols"]]
    prow = {r["property"]: r["cells"] for r in m["rows"]}
    ag = prow["agreement"][cols.index(("hardened", "a"))]
    assert ag["state"] == "proved" and ag["ledger"]["strength"] == "all depths (small domain)"
    assert prow["agreement"][cols.index(("seed", "a"))]["ledger"]["strength"] == "bounded"
    # BMC proved it within the bound, the all-depth search did not: the cell says violated,
    # but there is no BMC counterexample to link to
    beyond = prow["integrity"][cols.index(("hardened-minus-wait", "b"))]
    assert beyond["state"] == "violated" and beyond["text"] == "violated beyond the bound"
    assert beyond["anchor"] == ""
    assert prow["agreement"][cols.index(("seed", "b"))]["anchor"] == "cex-seed-b-agreement"
    # fixpoint rows stay out of the BMC chips, the time plot and the claim
    assert all(p["method"] == "bmc" for r in m["rows"] for c in r["cells"] for p in c["per_t"])
    assert all("fixpoint" not in k for k in doc["time_series"])
    assert sum(s for xs in doc["time_series"].values() for _, s in xs) == pytest.approx(
        0.25 * sum(r["kind"] != "fixpoint" for r in rows()))
    assert doc["claim"]["css"] == "violated"
    assert doc["witnesses"]["total"] == 16 and doc["witnesses"]["as_declared"] == 16
    assert doc["obligations"]["fixpoint"] == 14 and doc["obligations"]["mismatched"] == 1


def test_html_designs_section() -> None:
    _, html, _ = rendered(rows())
    assert 'id="designs"' in html and 'href="#designs"' in html
    table = html[html.index('id="designs-matrix"'):html.index('id="matrix"')]
    assert table[:table.index("</table>")].count("<tr") == 1 + 8
    assert ">my_design<" in table and ">hardened-minus-wait<small>hardened without wait<" \
        in table
    # each cell: the mark, its bounds as a tooltip
    assert re.search(r'class="cell ledger proved alldepths" title="agreement \(hardened · a\): '
                     r'all depths \(small domain\) — all depths for T in \{1,2\}, L \[1, 3\]',
                     table)
    assert ('title="integrity (hardened · a): bounded — T in {1,2}, depth 6, L [1, 5] '
            '(bmc) (all-depth search: OPEN)">✓ bounded</td>') in table
    assert ('title="integrity (hardened-minus-wait · b): violated — T=2, step 9 (all-depth '
            'search)">✗ violated</td>') in table
    assert 'title="no_leak (my_design · a): open — not proved at every T">? open</td>' in table
    assert 'id="fixpoint-runs"' in table and '<td data-label="states">2911</td>' in table
    # the property matrix carries the ledger line
    pm = html[html.index('id="property-matrix"'):]
    assert '<div class="ledger-line proved alldepths" title="all depths (small domain): ' in pm
    assert "✓ all depths (small domain)</div>" in pm and "✓ bounded</div>" in pm
    assert "violated beyond the bound" in pm


def test_markdown_designs_section(md_tables_ok) -> None:
    _, _, md = rendered(rows())
    sec = md[md.index("## Designs compared"):md.index("## Property × variant × topology")]
    assert "| variant | topology | agreement | integrity | no_leak |" in sec
    notes = dict(re.findall(r"^- \[(\d+)\] (.*)$", sec, re.M))
    byname = {v: k for k, v in notes.items()}
    bounded = byname["T in {1,2}, depth 6, L [1, 5] (bmc)"]
    alld = next(k for k, v in notes.items() if v.startswith("all depths for T in {1,2}"))
    opn = byname["T in {1,2}, depth 6, L [1, 5] (bmc) (all-depth search: OPEN)"]
    assert f"| `hardened` | a | ✓ all depths [{alld}] | ✓ bounded [{opn}] | ✓ all depths " \
        f"[{alld}] |" in sec
    assert f"| `seed` | a | ✓ bounded [{bounded}] | ✗ violated " in sec
    assert f"✗ violated [{byname['T=2, step 9 (all-depth search)']}] |" in sec
    assert f"| `my_design` | a | ✓ bounded [{bounded}] | ✓ bounded [{bounded}] | ? open " \
        f"[{byname['not proved at every T']}] |" in sec
    assert "All-depth searches: hardened · a · T=1: closed at depth 17, 2911 states" in sec
    # the property matrix: ledger strength with its footnote
    pm = md[md.index("## Property × variant × topology"):]
    assert f"✓ proved T ≤ 2; depth 6; all depths (small domain) [{alld}] |" in pm
    assert f"✓ proved T ≤ 2; depth 6; bounded [{bounded}] |" in pm
    md_tables_ok(md)


def test_without_fixpoint_rows_nothing_is_all_depths() -> None:
    doc, html, md = rendered([r for r in rows() if r["kind"] != "fixpoint"])
    assert doc["designs"]["counts"]["all depths (small domain)"] == 0
    assert doc["designs"]["fixpoint_runs"] == []
    table = html[html.index('id="designs-matrix"'):]
    assert "✓ all depths" not in table[:table.index("</table>")]
    assert "✓ bounded</td>" in table
    assert 'id="fixpoint-runs"' not in html and "All-depth searches" not in md


def test_cli_from_designs_config_json(tmp_path: Path) -> None:
    """`ranksync report --from-json` on rows of configs/designs.toml (fixpoint rows included,
    a minimal hand-made JSON without method/seconds/bound), no solver calls."""
    rs = rows()
    for r in rs[::3]:
        for k in ("method", "seconds", "bound", "reason", "step"):
            r.pop(k, None)
    cfg = ROOT / "configs" / "designs.toml"
    pj = tmp_path / "prove.json"
    pj.write_text(json.dumps({"config": str(cfg), "wall_seconds": 2.0, "ok": False,
                              "rows": rs}))
    out = tmp_path / "out"
    res = CliRunner().invoke(rep.report, [
        "--from-json", str(pj), "--config", str(cfg), "--out", str(out),
        "--no-counterexamples", "--skip", "mutants", "--skip", "replay",
        "--skip", "engine-diff", "--junit", str(tmp_path / "junit.xml")])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert "designs compared" in res.output
    html = (out / "index.html").read_text()
    assert 'id="designs-matrix"' in html and ">hardened-minus-wait<" in html
    data = json.loads((out / "report.json").read_text())
    assert data["meta"]["config_path"].endswith("designs.toml")
    led = {(e["variant"], e["topology"], e["property"]): e["strength"] for e in data["ledger"]}
    assert led[("hardened", "b", "no_leak")] == "all depths (small domain)"
    assert led[("hardened-minus-wait", "b", "integrity")] == "violated"
    assert "## Designs compared" in (out / "report.md").read_text()
    assert 'name="T2.fixpoint.integrity"' in (tmp_path / "junit.xml").read_text()
