"""Findings, their stable fingerprints, and the baseline file that acknowledges them.

A fingerprint names a finding by the branch, not where it sits: file, function, branch kind,
condition text (whitespace-normalised), and the occurrence number among identical conditions
in the same function (not the rule: what differs between the sides may change while the
branch stays). Lines moving leave it unchanged; editing the condition or
renaming the function changes it.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the analysis (beniget) loads only when the command runs
    from .values import Step

BASELINE_VERSION = 1


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    name: str
    short: str


RULES = [
    Rule("RSU001", "collective", "rank-local-branch-collectives",
         "A rank-local condition decides which collectives a rank issues"),
    Rule("RSU002", "queue", "rank-local-branch-polled-queue",
         "A rank-local condition decides the membership of a queue that a collective polls"),
    Rule("RSU003", "allocator", "rank-local-branch-allocator",
         "A rank-local condition decides which allocator calls a rank makes"),
    Rule("RSU004", "handoff", "rank-local-branch-handoff",
         "A rank-local condition decides what a rank hands off to the TP forward"),
]
RULE_BY_KIND = {r.kind: r for r in RULES}


class BaselineError(ValueError):
    """A baseline file that cannot be used (bad input, exit 2)."""


@dataclass
class Difference:
    kind: str  # collective | queue | allocator | handoff
    text: str
    effects: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"class": self.kind, "rule": RULE_BY_KIND[self.kind].id, "text": self.text,
                "effects": self.effects}


@dataclass
class Finding:
    kind: str  # branch kind: if, early continue/return/break, loop, try/except
    file: str
    line: int
    column: int
    function: str
    condition: str
    chain: list[Step]
    differences: list[Difference]
    occurrence: int = 0
    acknowledged: str | None = None  # the baseline's reason
    model: dict[str, Any] = field(default_factory=dict)  # the cross-check's verdict

    @property
    def rule(self) -> Rule:
        return RULE_BY_KIND[self.differences[0].kind]

    @property
    def fingerprint(self) -> str:
        cond = " ".join(self.condition.split())
        key = "\x1f".join([self.file, self.function, self.kind, cond, str(self.occurrence)])
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    @property
    def source(self) -> Step | None:
        return self.chain[-1] if self.chain else None

    def to_json(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint, "rule": self.rule.id, "rule_name": self.rule.name,
            "branch": self.kind, "file": self.file, "line": self.line, "column": self.column,
            "function": self.function, "condition": self.condition,
            "chain": [s.to_json() for s in self.chain],
            "source": self.source.to_json() if self.source else None,
            "differences": [d.to_json() for d in self.differences],
            "acknowledged": self.acknowledged is not None, "reason": self.acknowledged,
            "model": self.model,
        }


@dataclass
class Baseline:
    entries: dict[str, str]  # fingerprint -> reason
    path: str


def load_baseline(path: Path) -> Baseline:
    """TOML: schema_version = 1 and [[acknowledged]] tables with fingerprint and reason."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BaselineError(f"cannot read baseline {path}: {e}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BaselineError(f"baseline {path}: not valid TOML ({e})") from None
    if data.get("schema_version") != BASELINE_VERSION:
        raise BaselineError(f"baseline {path}: schema_version must be {BASELINE_VERSION}")
    rows = data.get("acknowledged", [])
    if not isinstance(rows, list):
        raise BaselineError(f"baseline {path}: [[acknowledged]] must be an array of tables")
    entries: dict[str, str] = {}
    for i, row in enumerate(rows, 1):
        fp = row.get("fingerprint") if isinstance(row, dict) else None
        reason = row.get("reason") if isinstance(row, dict) else None
        if not isinstance(fp, str) or len(fp) != 16 or any(c not in "0123456789abcdef"
                                                            for c in fp):
            raise BaselineError(f"baseline {path}: entry {i}: fingerprint must be the 16 hex "
                                "digits printed with the finding")
        if not isinstance(reason, str) or not reason.strip():
            raise BaselineError(f"baseline {path}: entry {i} ({fp}): a reason is required")
        entries[fp] = reason.strip()
    return Baseline(entries, str(path))


def apply_baseline(findings: list[Finding], baseline: Baseline | None) -> list[str]:
    """Marks acknowledged findings; returns the baseline's fingerprints that match nothing."""
    if baseline is None:
        return []
    seen = set()
    for f in findings:
        reason = baseline.entries.get(f.fingerprint)
        if reason is not None:
            f.acknowledged = reason
            seen.add(f.fingerprint)
    return sorted(set(baseline.entries) - seen)


def baseline_template(findings: list[Finding]) -> str:
    """A baseline acknowledging every finding, each with an empty reason to fill in (the file
    is rejected until every reason is written)."""
    out = [f"schema_version = {BASELINE_VERSION}", ""]
    for f in findings:
        out += ["[[acknowledged]]", f'fingerprint = "{f.fingerprint}"',
                f"# {f.rule.id} {f.file}:{f.line} {f.function}: {f.condition}",
                f"rule = {json.dumps(f.rule.id)}", 'reason = ""', ""]
    return "\n".join(out)
