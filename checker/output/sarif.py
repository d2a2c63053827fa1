"""SARIF 2.1.0 (OASIS) for code scanning: one run, the rules (stable ids, one per property or
check), one result per finding with repository-relative locations (uriBaseId SRCROOT) and a
partial fingerprint so an alert keeps its identity across runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .locate import Location
from .model import Finding, Rule

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


def _physical(loc: Location) -> dict[str, Any]:
    art: dict[str, Any] = {"uri": loc.path}
    if loc.inside:
        art["uriBaseId"] = "SRCROOT"
    else:
        art["uri"] = Path(loc.path).as_uri()
    return {"physicalLocation": {"artifactLocation": art, "region": {"startLine": loc.line}}}


def _rule(r: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {"id": r.id, "name": r.name, "shortDescription": {"text": r.short},
                           "fullDescription": {"text": r.full or r.short},
                           "defaultConfiguration": {"level": "error"}}
    if r.location is not None:
        out["help"] = {"text": f"{r.full or r.short}\nDefined at {r.location}."}
    return out


def sarif(command: str, version: str, rules: list[Rule], findings: list[Finding],
          root: Path, exit_code: int, command_line: str = "") -> dict[str, Any]:
    index = {r.id: i for i, r in enumerate(rules)}
    results = []
    for f in findings:
        res: dict[str, Any] = {"ruleId": f.rule, "level": f.level,
                               "message": {"text": f"{f.title}\n{f.message}".strip()}}
        if f.rule in index:
            res["ruleIndex"] = index[f.rule]
        if f.location is not None:
            res["locations"] = [_physical(f.location)]
        if f.related:
            res["relatedLocations"] = [{"id": i + 1, **_physical(x), "message": {"text": lbl}}
                                       for i, (lbl, x) in enumerate(f.related)]
        if f.fingerprint:
            res["partialFingerprints"] = {"ranksyncObligation/v1": f.fingerprint}
        results.append(res)
    invocation: dict[str, Any] = {"executionSuccessful": exit_code in (0, 1),
                                  "exitCode": exit_code}
    if command_line:
        invocation["commandLine"] = command_line
    return {
        "$schema": SCHEMA, "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "ranksync", "version": version,
                                "rules": [_rule(r) for r in rules]}},
            "automationDetails": {"id": f"ranksync/{command}/"},
            "originalUriBaseIds": {"SRCROOT": {"uri": root.as_uri() + "/"}},
            "invocations": [invocation],
            "results": results,
        }],
    }
