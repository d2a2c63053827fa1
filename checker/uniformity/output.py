"""Text and JSON output of `ranksync uniformity` (SARIF is in sarif.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .findings import Finding

SCHEMA_VERSION = 1
CLASS_NAMES = {"collective": "collectives", "queue": "polled queue membership",
               "allocator": "allocator calls", "handoff": "hand-off"}


@dataclass
class Report:
    findings: list[Finding]
    files: int
    branches: int
    rank_local: int
    seconds: float
    root: str
    facts: list[str]
    baseline: str | None = None
    stale: list[str] = field(default_factory=list)  # baseline entries matching nothing

    @property
    def open(self) -> list[Finding]:
        return [f for f in self.findings if f.acknowledged is None]

    def to_json(self, version: str) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION, "tool": "ranksync uniformity",
            "version": version, "root": self.root, "facts": self.facts,
            "baseline": self.baseline,
            "summary": {"files": self.files, "branches": self.branches,
                        "rank_local_branches": self.rank_local,
                        "findings": len(self.findings),
                        "acknowledged": len(self.findings) - len(self.open),
                        "unacknowledged": len(self.open), "seconds": round(self.seconds, 3),
                        "stale_baseline_entries": self.stale},
            "findings": [f.to_json() for f in self.findings],
        }


def model_line(m: dict[str, Any]) -> str | None:
    if not m:
        return None
    status, prop = m["status"], m.get("property")
    props = ", ".join([prop or "", *m.get("also", [])])
    if status == "confirmed":
        return f"model: confirmed, a divergence here violates {props}: {m['command']}" + (
            f"; a run of the model splitting here: {m['trace']}" if m.get("trace") else "") + (
            f" ({m['note']})" if m.get("note") else "")
    if status == "covered":
        return f"model: covered by {props}, but no run of the model splits here: " \
               f"{m.get('note', '')}"
    if status == "gap":
        return "model: GAP, the model has no counterpart for this branch"
    if status == "unknown property":
        return f"model: the mapping names {prop!r}, which this model does not have"
    return None  # outside the resume-transfer code


def text(report: Report) -> str:
    out: list[str] = []
    for f in report.findings:
        ack = "  [acknowledged]" if f.acknowledged is not None else ""
        out.append(f"{f.file}:{f.line}:{f.column}: {f.rule.id} {f.kind} in {f.function} "
                   f"[{f.fingerprint}]{ack}")
        out.append(f"  condition: {f.condition}")
        out.append("  rank-local because:")
        for s in f.chain:
            where = f"line {s.line}" if s.file == f.file else f"{s.file}:{s.line}"
            out.append(f"    {where}: {s.text}")
        out.append("  the sides differ in:")
        for d in f.differences:
            out.append(f"    {CLASS_NAMES[d.kind]} ({d.kind} {d.to_json()['rule']}): {d.text}")
        line = model_line(f.model)
        if line:
            out.append(f"  {line}")
        if f.acknowledged is not None:
            out.append(f"  acknowledged: {f.acknowledged}")
        out.append("")
    for fp in report.stale:
        out.append(f"baseline {report.baseline}: entry {fp} matches no finding (stale)")
    n, k = len(report.findings), len(report.findings) - len(report.open)
    out.append(f"{n} finding{'s' if n != 1 else ''} ({k} acknowledged, {n - k} not) in "
               f"{report.files} file{'s' if report.files != 1 else ''}; "
               f"{report.branches} branches examined, "
               f"{report.rank_local} with a rank-local condition; {report.seconds:.2f} s")
    return "\n".join(out)
