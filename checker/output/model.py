"""What every output format is made from: rules (one per property or check), findings (one
per problem, located in the files a reviewer can open) and the outcome of a command."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from rich.console import Console

from .locate import Location

Level = Literal["error", "warning", "note"]


@dataclass(frozen=True)
class Rule:
    id: str  # stable across runs and versions: SARIF ruleId, JSON `rule`
    name: str  # PascalCase, as SARIF wants `name`
    short: str
    full: str = ""
    location: Location | None = None  # where the rule is defined (a spec function)


@dataclass
class Finding:
    rule: str
    level: Level
    title: str  # one line: what differs
    message: str  # may span lines: why, where, how to see it
    location: Location | None = None  # primary: the line that declared what was expected
    related: list[tuple[str, Location]] = field(default_factory=list)
    fingerprint: str = ""  # stable identity of the checked thing (SARIF partialFingerprints)
    command: str = ""  # the one command that explains it

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "level": self.level, "title": self.title,
                "message": self.message, "fingerprint": self.fingerprint,
                "command": self.command,
                "location": _loc(self.location),
                "related": [{"label": lbl, **_loc(x)} for lbl, x in self.related]}


def _loc(x: Location | None) -> dict[str, Any]:
    return {} if x is None else {"path": x.path, "line": x.line, "in_root": x.inside}


@dataclass
class Outcome:
    command: str  # "prove", "witnesses", "logcheck", ...
    exit_code: int
    findings: list[Finding]
    rules: list[Rule]
    document: dict[str, Any]  # the JSON output (carries schema_version)
    summary_md: str  # for $GITHUB_STEP_SUMMARY
    junit: str
    render_text: Callable[[Console], None]
