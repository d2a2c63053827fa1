"""The history's outputs: the text table (commit x property), JSON (schema_version), JUnit, and
the section `ranksync report` shows. Works on the results of runs.py only."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

SCHEMA_VERSION = 1
MARK = {"violated": "✗", "holds": "✓", "not exercised": "–"}


def doc(results: list[dict[str, Any]], props: list[str], meta: dict[str, Any]) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "properties": props, "meta": meta,
            "commits": results}


def _cell(p: dict[str, Any] | None) -> str:
    if p is None:
        return "·"
    return MARK.get(p["status"], "?")


def _where(p: dict[str, Any]) -> str:
    ranks = p.get("ranks")
    who = f", TP{','.join(map(str, ranks))}" if ranks else ""
    more = f" ({p['violations']} runs)" if p.get("violations", 0) > 1 else ""
    return f"{p['run']} iteration {p['step']}{who}{more}"


def layouts(d: dict[str, Any]) -> str:
    """Per commit, each property per rank layout (T, E)."""
    props = d["properties"]
    out = []
    for c in d["commits"]:
        lays = c.get("layouts") or {}
        if not lays:
            continue
        out.append(f"== {c['label']} by layout")
        out.append(f"   {'layout':8} " + " ".join(f"{p[:10]:>10}" for p in props))
        for lay in sorted(lays, key=lambda x: [int(t[1:]) for t in x.split()]):
            out.append(f"   {lay:8} " + " ".join(f"{MARK.get(lays[lay].get(p, ''), '·'):>10}"
                                                  for p in props))
    return "\n".join(out)


def text(d: dict[str, Any]) -> str:
    props = d["properties"]
    short = [p[:10] for p in props]
    head = f"{'commit':10} {'verdict':15} " + " ".join(f"{s:>10}" for s in short)
    out = [head, "-" * len(head)]
    for c in d["commits"]:
        row = f"{c['label'][:10]:10} {c['verdict']:15} "
        row += " ".join(f"{_cell(c.get('properties', {}).get(p)):>10}" for p in props)
        out.append(row)
    out.append("")
    out.append("✗ violated (first run and iteration below), ✓ holds (premise reached, never "
               "violated), – not exercised (no run reached the premise), · not evaluated")
    for c in d["commits"]:
        out.append("")
        line = f"== {c['label']} ({c['commit'][:12]}): {c['verdict'].upper()}"
        if c.get("cached"):
            line += " (cached)"
        out.append(line)
        if c.get("reason"):
            out.append(f"   {'why' if c['verdict'] != 'ran' else 'note'}: {c['reason']}")
        if c["verdict"] == "could not load":
            continue
        modes = ", ".join(f"{n} {m}" for m, n in sorted(c.get("modes", {}).items()))
        conn = "engine code on both sides" if c.get("connection") == "driven" else (
            f"scripted ({c.get('connection_note')})")
        out.append(f"   runs: {c.get('runs', 0)} ({modes}); connection layer: {conn}")
        if c.get("cut_runs"):
            out.append(f"   {c['cut_runs']} scripted runs judged only up to the first step where "
                       "the engine sent another init/resume than the model (the replayed "
                       "embedding side answers the model's messages)")
        for name in props:
            p = c.get("properties", {}).get(name)
            if p and p["status"] == "violated":
                out.append(f"   {name}: violated, first at {_where(p)}")
        ne = [n for n in props if c.get("properties", {}).get(n, {}).get("status")
              == "not exercised"]
        if ne:
            out.append(f"   not exercised: {', '.join(ne)}")
        for cr in c.get("crashes", [])[:3]:
            out.append(f"   engine raised: {cr['type']}: {cr['msg']} ({cr['run']}, iteration "
                       f"{cr['step']}, TP{cr['rank']})")
        if c.get("mapping_error_count"):
            out.append(f"   mapping errors: {c['mapping_error_count']} (first: "
                       f"{c['mapping_errors'][0]['run']} iteration "
                       f"{c['mapping_errors'][0]['step']})")
        out.append("   " + conformance(c))
        best = closest(c)
        if best and best in c.get("divergences", {}):
            dv = c["divergences"][best]
            out.append(f"   divergences from {best}'s traces: {dv['count']} in {dv['runs']} of "
                       f"{c.get('runs', 0)} runs" + (":" if dv["count"] else ""))
            for x in dv["first"][:3]:
                out.append(f"      {x['run']} iteration {x['step']} TP{x['rank']} {x['what']}: "
                           f"expected {_short(x['expected'])}, got {_short(x['actual'])}")
    return "\n".join(out)


def _short(x: Any) -> str:
    import json

    t = json.dumps(x, ensure_ascii=False)
    return t if len(t) <= 140 else t[:137] + "..."


def closest(c: dict[str, Any]) -> str | None:
    conf = c.get("conforms", {})
    if not conf:
        return None
    return max(conf, key=lambda v: (conf[v]["behaviour"], conf[v]["exact"]))


def conformance(c: dict[str, Any]) -> str:
    """Which variants/designs the runs conform to: every run (events, log lines by kind and
    value, writes, statuses), or in behaviour (log lines aside); else the closest."""
    n = c.get("runs", 0)
    conf = c.get("conforms", {})
    exact = [v for v, x in conf.items() if x["exact"] == n]
    beh = [v for v, x in conf.items() if x["behaviour"] == n and v not in exact]
    text = "conforms to: " + (", ".join(exact) or "no variant on every run")
    if beh:
        text += f"; in behaviour (log lines aside): {', '.join(beh)}"
    if conf and not exact:
        best = sorted(conf.items(), key=lambda kv: (-kv[1]["behaviour"], -kv[1]["exact"]))[:3]
        text += "; closest: " + ", ".join(f"{v} ({x['behaviour']}/{n} runs in behaviour, "
                                           f"{x['exact']}/{n} exactly)" for v, x in best)
    return text


def junit(d: dict[str, Any]) -> str:
    root = ET.Element("testsuites", name="ranksync.history")
    for c in d["commits"]:
        ts = ET.SubElement(root, "testsuite", name=f"ranksync.history.{c['label']}")
        n = fails = skips = errs = 0
        if c["verdict"] != "ran":
            tc = ET.SubElement(ts, "testcase", classname=c["label"], name="verdict")
            n += 1
            tag = "error" if c["verdict"] in ("could not load", "error") else "failure"
            ET.SubElement(tc, tag, message=f"{c['verdict']}: {c.get('reason', '')}")
            errs += tag == "error"
            fails += tag == "failure"
        for name in d["properties"]:
            p = c.get("properties", {}).get(name)
            if p is None:
                continue
            n += 1
            tc = ET.SubElement(ts, "testcase", classname=c["label"], name=name)
            if p["status"] == "violated":
                ET.SubElement(tc, "failure", message=f"violated at {_where(p)}")
                fails += 1
            elif p["status"] == "not exercised":
                ET.SubElement(tc, "skipped", message="not exercised: no run reached the premise")
                skips += 1
        ts.set("tests", str(n))
        ts.set("failures", str(fails))
        ts.set("errors", str(errs))
        ts.set("skipped", str(skips))
    return ET.tostring(root, encoding="unicode")


def section(d: dict[str, Any] | None, note: str = "") -> dict[str, Any]:
    """The `ranksync report` section (its tabulator reads `data.matrix`)."""
    if d is None:
        return {"title": "engine history", "status": "not run", "data": None, "source": "",
                "note": note or "no `ranksync history --json` results given", "seconds": 0.0}
    matrix = {}
    for c in d["commits"]:
        row = {"verdict": c["verdict"]}
        for name in d["properties"]:
            p = c.get("properties", {}).get(name)
            row[name] = "—" if p is None else (
                f"✗ {p['run']} it{p['step']}" if p["status"] == "violated" else p["status"])
        row["conforms"] = conformance(c).split("; closest")[0].removeprefix("conforms to: ")
        matrix[c["label"]] = row
    return {"title": "engine history", "status": "ok", "source": "ranksync history",
            "note": note, "seconds": 0.0,
            "data": {"matrix": matrix, "commits": len(d["commits"]),
                     "schema_version": d["schema_version"]}}


def section_from_file(path: str | None) -> dict[str, Any]:
    """The report section from a `ranksync history --json` file (not run without one)."""
    if path is None:
        return section(None, "not configured (--history-json FILE from `ranksync history "
                             "--json`)")
    import json
    from pathlib import Path

    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return {"title": "engine history", "status": "error", "data": None, "source": path,
                "note": f"cannot read {path}: {e}", "seconds": 0.0}
    if not isinstance(d, dict) or d.get("schema_version") != SCHEMA_VERSION:
        return {"title": "engine history", "status": "error", "data": None, "source": path,
                "note": f"{path}: not `ranksync history --json` output (schema_version "
                        f"{SCHEMA_VERSION})", "seconds": 0.0}
    return dict(section(d), source=path)
