"""Rendering: the document from rows, counterexamples and sections; HTML and Markdown
(jinja2 templates shipped in ranksync.checker.templates), JUnit XML, the terminal summary."""

from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata as md
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from rich.console import Console
from rich.markup import escape as esc
from rich.table import Table

from .. import svg
from ..ledger import OPEN
from .cells import (
    LEDGER_MARK,
    UNKNOWN,
    VIOLATED,
    claim_verdict,
    designs,
    ledger_of,
    matrix,
    row_objects,
    time_series,
    witness_matrix,
)
from .sections import _status_counts, table_of
from .verdicts import design_sentences


def versions() -> dict[str, str]:
    import z3

    def ver(pkg: str) -> str:
        try:
            return md.version(pkg)
        except md.PackageNotFoundError:
            return "not installed"

    out = {"ranksync": ver("ranksync"), "python": platform.python_version(),
           "z3": z3.get_version_string(), "torch": ver("torch"), "jinja2": ver("jinja2"),
           "rich": ver("rich"), "platform": platform.platform()}
    try:
        root = Path(__file__).resolve().parents[2]  # the checkout, when run from one
        if not (root / ".git").exists():  # an installed package: its version says it all
            return out
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5)
        if rev.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain"],
                                   capture_output=True, text=True, timeout=5).stdout.strip()
            out["git"] = rev.stdout.strip() + (" (modified)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def build(rows: list[dict[str, Any]], cexs: list[dict[str, Any]], sections: dict[str, Any],
          meta: dict[str, Any]) -> dict[str, Any]:
    props = [r for r in rows if r["kind"] == "property"]
    for c in cexs:
        if c.get("verdict") == VIOLATED:
            c["swimlane_svg"] = svg.swimlane(c)
            c["placement_svg"] = svg.placement(c) if c.get("placement") else ""
    bound = dict.fromkeys(("depth", "length", "block_sizes", "default_allocate_tokens",
                           "pool_blocks", "stale", "faults", "pool_pressure", "progress_bound"))
    bound.update(next((r["bound"] for r in props if r.get("bound")), {}))
    entries = ledger_of(rows)
    not_declared = [r for r in rows if r.get("expected") is None]
    mismatched = [r for r in rows if r.get("expected") is not None
                  and r["verdict"] != r["expected"]]
    return {
        "title": "ranksync design-review evidence",
        "claim": claim_verdict(rows), "design_sentences": design_sentences(rows, entries),
        "matrix": matrix(rows, entries),
        "designs": designs(rows, entries), "ledger": [e.to_json() for e in entries],
        "witnesses": witness_matrix(rows),
        "counterexamples": cexs, "sections": sections, "meta": meta, "bound": bound,
        "time_svg": svg.time_plot(time_series(rows), "prove time against T"),
        "time_series": time_series(rows),
        "obligations": {"total": len(rows), "properties": len(props),
                        "fixpoint": sum(r["kind"] == "fixpoint" for r in rows),
                        "undeclared": len(not_declared), "mismatched": len(mismatched),
                        "unknown": sum(r["verdict"] == UNKNOWN for r in rows),
                        "mismatched_rows": [
                            f"{r['variant']}/{r['topology']}/T={r['tp_size']} {r['name']}: "
                            f"{r['verdict']}" + (f", declared {r['expected']}" if r.get("expected")
                                                 else f" ({r.get('reason') or 'no verdict'})")
                            for r in rows if r in mismatched or r["verdict"] == UNKNOWN]},
    }


def render(doc: dict[str, Any]) -> tuple[str, str]:
    from importlib import resources

    import jinja2

    # templates ship as package data of ranksync.checker (pyproject [tool.setuptools])
    loader = jinja2.PackageLoader("ranksync.checker", "templates")
    css = resources.files("ranksync.checker").joinpath("templates", "report.css")
    env = jinja2.Environment(loader=loader,
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["tableof"] = table_of
    env.filters["counts"] = _status_counts
    env.filters["md"] = _md_escape
    html = env.get_template("report.html.j2").render(**doc, css=css.read_text(encoding="utf-8"))
    md_env = jinja2.Environment(loader=loader,
                                autoescape=False, trim_blocks=True, lstrip_blocks=True,
                                undefined=jinja2.StrictUndefined)
    md_env.filters.update(env.filters)
    md_text = md_env.get_template("report.md.j2").render(**doc)
    return html, md_text


def _md_escape(s: Any) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def junit_report(doc: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """<testsuites>: prove obligations, counterexample reproduction, conformance, engine-diff."""
    from ..report_text import junit_xml

    root = ET.Element("testsuites", name="ranksync.report")
    root.append(ET.fromstring(junit_xml(row_objects(rows), "ranksync.prove")))
    cex = doc["counterexamples"]
    ts = ET.SubElement(root, "testsuite", name="ranksync.counterexamples", tests=str(len(cex)),
                       failures=str(sum(c.get("verdict") != VIOLATED for c in cex)))
    for c in cex:
        tc = ET.SubElement(ts, "testcase", classname=f"ranksync.counterexamples.{c['variant']}."
                           f"{c['topology']}", name=f"T{c['tp_size']}.{c['property']}",
                           time=f"{c.get('seconds', 0.0):.3f}")
        if c.get("verdict") != VIOLATED:
            f = ET.SubElement(tc, "failure", message=f"explain: {c.get('verdict')}")
            f.text = c.get("error") or c.get("text", "")
    for key, sec in doc["sections"].items():
        data = sec.get("data")
        lst = data.get("results") if isinstance(data, dict) else None
        if sec["status"] != "ok" or not isinstance(lst, list):
            continue
        ts = ET.SubElement(root, "testsuite", name=f"ranksync.{key}", tests=str(len(lst)))
        nf = 0
        for x in lst:
            if not isinstance(x, dict):
                continue
            tc = ET.SubElement(ts, "testcase", classname=f"ranksync.{key}",
                               name=str(x.get("trace") or x.get("name") or "?"))
            st = str(x.get("status", "pass" if x.get("ok", True) else "failed"))
            if st == "skipped":
                ET.SubElement(tc, "skipped", message=str(x.get("note", "")))
            elif st not in ("pass", "ok", "passed", "True"):
                nf += 1
                f = ET.SubElement(tc, "failure", message=st)
                f.text = json.dumps(x.get("divergence") or x.get("note") or "")
        ts.set("failures", str(nf))
    return ET.tostring(root, encoding="unicode")


def summary_table(con: Console, doc: dict[str, Any], out: Path) -> None:
    t = Table(title="ranksync report")
    for col in ("section", "status", "detail"):
        t.add_column(col)
    ob = doc["obligations"]
    t.add_row("claim", doc["claim"]["claim_css"], esc(doc["claim"]["verdict"]))
    ds = doc["designs"]
    if ds["rows"]:
        t.add_row("designs compared", "ok" if not ds["counts"][OPEN] else "open",
                  f"{len(ds['rows'])} variant·topology × {len(ds['props'])} properties: "
                  + ", ".join(f"{n} {LEDGER_MARK[k]}" for k, n in ds["counts"].items() if n))
    t.add_row("obligations", "ok" if not ob["mismatched"] and not ob["unknown"] else "differs",
              f"{ob['total']} checked, {ob['mismatched']} not as declared, {ob['unknown']} "
              f"unknown, {ob['undeclared']} undeclared")
    cx = doc["counterexamples"]
    t.add_row("counterexamples", "ok" if all(c.get("verdict") == VIOLATED for c in cx)
              else "differs", f"{len(cx)} explained")
    for sec in doc["sections"].values():
        t.add_row(sec["title"], sec["status"],
                  esc(sec.get("note") or _status_counts(sec["data"]))[:300])
    colour = {"violated": "red", "proved": "green", "unknown": "yellow"}
    for d in doc.get("design_sentences", []):
        con.print(f"[{colour.get(d['state'], 'default')}]{esc(d['sentence'])}[/]")
    con.print(t)
    con.print(esc(f"wrote {out / 'index.html'} and {out / 'report.md'}"))
