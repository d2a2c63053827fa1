"""SARIF 2.1.0 emission for `ranksync uniformity`: one rule per finding class (stable ids),
repo-relative locations under the SRCROOT base, the dependence chain as a code flow, the
fingerprint as a partial fingerprint, acknowledged findings as external suppressions.
Kept in its own module so that a shared SARIF writer can take it over later."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .findings import RULES, Finding
from .output import CLASS_NAMES, Report, model_line

SARIF_SCHEMA = ("https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/"
                "sarif-schema-2.1.0.json")
FINGERPRINT_KEY = "ranksyncUniformity/v1"


def _location(file: str, line: int, column: int | None = None,
              message: str | None = None) -> dict[str, Any]:
    region: dict[str, Any] = {"startLine": max(line, 1)}
    if column:
        region["startColumn"] = column
    loc: dict[str, Any] = {"physicalLocation": {
        "artifactLocation": {"uri": file, "uriBaseId": "SRCROOT"}, "region": region}}
    if message:
        loc["message"] = {"text": message}
    return loc


def _result(f: Finding, rule_index: dict[str, int]) -> dict[str, Any]:
    diffs = "; ".join(f"{CLASS_NAMES[d.kind]}: {d.text}" for d in f.differences)
    src = f.source
    msg = f"`{f.condition}` depends on a rank-local value" + (
        f" ({src.text})" if src else "") + f"; its sides differ in {diffs}"
    extra = model_line(f.model)
    if extra:
        msg += f". {extra}"
    res: dict[str, Any] = {
        "ruleId": f.rule.id, "ruleIndex": rule_index[f.rule.id], "level": "error",
        "message": {"text": msg},
        "locations": [{**_location(f.file, f.line, f.column),
                       "logicalLocations": [{"fullyQualifiedName": f.function,
                                             "kind": "function"}]}],
        "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
        "codeFlows": [{"message": {"text": "dependence chain back to the rank-local source"},
                       "threadFlows": [{"locations": [
                           {"location": _location(s.file, s.line, message=s.text)}
                           for s in f.chain]}]}] if f.chain else [],
        "properties": {"branch": f.kind, "classes": [d.kind for d in f.differences],
                       "model": f.model},
    }
    if not res["codeFlows"]:
        del res["codeFlows"]
    if f.acknowledged is not None:
        res["suppressions"] = [{"kind": "external", "status": "accepted",
                                "justification": f.acknowledged}]
    return res


def sarif(report: Report, version: str, root: Path) -> dict[str, Any]:
    rule_index = {r.id: i for i, r in enumerate(RULES)}
    rules = [{"id": r.id, "name": r.name, "shortDescription": {"text": r.short},
              "fullDescription": {"text": r.short + ": the branch's condition depends on a "
                                  "value that can differ between the TP ranks, and its sides "
                                  f"differ in {CLASS_NAMES[r.kind]}."},
              "defaultConfiguration": {"level": "error"},
              "properties": {"class": r.kind}} for r in RULES]
    return {
        "version": "2.1.0", "$schema": SARIF_SCHEMA,
        "runs": [{
            "tool": {"driver": {"name": "ranksync-uniformity", "version": version,
                                "rules": rules}},
            "originalUriBaseIds": {"SRCROOT": {"uri": root.resolve().as_uri() + "/"}},
            "invocations": [{"executionSuccessful": True}],
            "columnKind": "unicodeCodePoints",
            "results": [_result(f, rule_index) for f in report.findings],
        }],
    }
