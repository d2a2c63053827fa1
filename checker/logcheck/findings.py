"""`ranksync logcheck` in every output format: a finding per request no variant/topology
explains, per property the lines decide violated, per UNKNOWN check; each located at the
request's first log line. Errors with --strict (they fail the run), warnings without."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from rich.console import Console
from rich.markup import escape

from ..output.emit import version
from ..output.locate import relative, root_dir
from ..output.model import Finding, Level, Outcome, Rule

SCHEMA_VERSION = 1
UNEXPLAINED = "logcheck/unexplained"
UNKNOWN = "logcheck/unknown"


def rules(props: list[str]) -> list[Rule]:
    from ranksync.spec.properties import PROPERTIES

    from ..prove_out import _pascal

    return [
        Rule(UNEXPLAINED, "LogUnexplained", "no model run produces these log lines",
             "No variant/topology of the model, within the bound, emits the request's "
             "lines (as a subsequence or exactly, per --match)."),
        Rule(UNKNOWN, "LogCheckUnknown", "a solver check gave up (UNKNOWN)",
             "Undecided is never success: raise --timeout or narrow the bound."),
        *[Rule(f"property/{p}", _pascal(p), f"{p} decided by the log lines",
               PROPERTIES[p].doc if p in PROPERTIES else "") for p in props],
    ]


def _first_line(req: dict[str, Any]) -> tuple[str, int] | None:
    lines = [(o["file"], int(o["line"])) for seq in req["lines"].values() for o in seq]
    return min(lines) if lines else None


def findings(rep: dict[str, Any], strict: bool, root: Path) -> list[Finding]:
    level: Level = "error" if strict else "warning"
    out = []
    for r in rep["requests"]:
        first = _first_line(r)
        loc = relative(first[0], first[1], root) if first and first[0] != "-" else None
        cmd = f"ranksync logcheck {first[0] if first else 'FILE'} --rid {r['rid'] or '?'}"
        fp = f"logcheck:{r['request']}"
        if not r["explained_by"]:
            why = "; ".join(f"{c['variant']}/{c['topology']}: {c['reason']}"
                            for c in r["combos"] if c["verdict"] == "inconsistent")
            out.append(Finding(UNEXPLAINED, level, f"ranksync logcheck: request {r['request']}:"
                               " no variant/topology produces these lines", why or "-", loc,
                               [], fp + ":unexplained", cmd))
        for p, per in r["property_verdicts"].items():
            bad = [k for k, v in per.items() if v == "violated"]
            if bad:
                out.append(Finding(f"property/{p}", level, f"ranksync logcheck: request "
                                   f"{r['request']}: {p} violated",
                                   f"the lines decide {p} violated under " + ", ".join(bad),
                                   loc, [], f"{fp}:{p}", cmd))
        if r["unknown"]:
            out.append(Finding(UNKNOWN, level, f"ranksync logcheck: request {r['request']}: "
                               "solver UNKNOWN", "UNKNOWN under " + ", ".join(r["unknown"]),
                               loc, [], fp + ":unknown", cmd))
    return out


def summary_md(rep: dict[str, Any], fs: list[Finding]) -> str:
    out = [f"### ranksync logcheck: {len(rep['requests'])} request(s) analysed, "
           f"{len(fs)} finding(s)\n", "| request | explained by | property verdicts |",
           "|---|---|---|"]
    for r in rep["requests"]:
        pv = "; ".join(f"{p}: {', '.join(sorted(set(v.values())))}"
                       for p, v in r["property_verdicts"].items())
        out.append(f"| {r['request']} | {', '.join(r['explained_by']) or '**none**'} | "
                   f"{pv or '-'} |".replace("\n", " "))
    return "\n".join(out) + "\n"


def junit(rep: dict[str, Any], fs: list[Finding]) -> str:
    bad = {f.fingerprint.split(":")[1] for f in fs}
    ts = ET.Element("testsuite", name="ranksync.logcheck", tests=str(len(rep["requests"])),
                    failures=str(len(bad)))
    for r in rep["requests"]:
        tc = ET.SubElement(ts, "testcase", classname="ranksync.logcheck", name=r["request"])
        mine = [f for f in fs if f.fingerprint.split(":")[1] == r["request"]]
        if mine:
            f = ET.SubElement(tc, "failure", message=mine[0].title)
            f.text = "\n".join(f"{x.title}: {x.message}" for x in mine)
    return ET.tostring(ts, encoding="unicode")


def outcome(rep: dict[str, Any], strict: bool, text: str) -> Outcome:
    fs = findings(rep, strict, root_dir())
    code = 1 if strict and rep["strict_failures"] else 0
    doc = {"schema_version": SCHEMA_VERSION, "command": "logcheck", "ranksync": version(),
           "ok": not rep["strict_failures"], "exit_code": code, **rep,
           "findings": [f.to_json() for f in fs]}

    def render(con: Console) -> None:
        con.print(escape(text))

    return Outcome("logcheck", code, fs, rules(list(rep["properties"])), doc,
                   summary_md(rep, fs), junit(rep, fs), render)
