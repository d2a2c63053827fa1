"""GitHub Actions: `::error` / `::warning` / `::notice` workflow commands and the job summary.

Escaping follows the runner (actions/toolkit `command.ts`): in the message `%`, CR and LF are
percent-encoded; in properties (file, line, title) also `:` and `,`. GitHub shows at most 10
annotations of each severity per step (50 per job): past that they are dropped silently, so we
print at most 10 per severity, the tenth saying how many more the job summary lists. The job
summary ($GITHUB_STEP_SUMMARY) takes at most 1 MiB per step.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .model import Finding

PER_SEVERITY = 10
SUMMARY_LIMIT = 1024 * 1024
COMMAND = {"error": "error", "warning": "warning", "note": "notice"}


def escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, message: str, file: str | None = None, line: int | None = None,
               title: str | None = None) -> str:
    props = []
    if file:
        props.append(f"file={escape_property(file)}")
        if line:
            props.append(f"line={line}")
    if title:
        props.append(f"title={escape_property(title)}")
    head = f"::{COMMAND[level]}" + (" " + ",".join(props) if props else "")
    return f"{head}::{escape_data(message)}"


def workflow_commands(findings: Iterable[Finding], notices: Iterable[Finding] = ()) -> list[str]:
    """The workflow commands for `findings`, at most PER_SEVERITY per severity; `notices` are
    extra pointers (e.g. the spec function of a property) that only fill free notice slots.
    A location outside the repository is given in the message, not as `file=`."""
    out: list[str] = []
    by: dict[str, list[Finding]] = {}
    for f in findings:
        by.setdefault(f.level, []).append(f)
    for f in notices:
        if len(by.get("note", [])) < PER_SEVERITY:
            by.setdefault("note", []).append(f)
    for level in ("error", "warning", "note"):
        fs = by.get(level, [])
        shown = fs if len(fs) <= PER_SEVERITY else fs[:PER_SEVERITY - 1]
        for f in shown:
            loc = f.location if f.location is not None and f.location.inside else None
            msg = f.message
            if f.location is not None and loc is None:
                msg += f"\n(declared at {f.location})"
            out.append(annotation(level, msg, loc.path if loc else None,
                                  loc.line if loc else None, f.title))
        if len(fs) > len(shown):
            out.append(annotation(level, f"{len(fs) - len(shown)} more not shown here (GitHub "
                                  f"shows {PER_SEVERITY} per step): see the job summary",
                                  title=f"ranksync: {len(fs)} findings of level {level}"))
    return out


def append_summary(markdown: str, path: str | None = None) -> bool:
    """Append to $GITHUB_STEP_SUMMARY (or `path`); False when there is nowhere to write.
    Over the limit, the text is cut at a line and says so."""
    target = path or os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return False
    p = Path(target)
    used = p.stat().st_size if p.exists() else 0
    room = SUMMARY_LIMIT - used - 200
    data = markdown.encode("utf-8")
    if len(data) > room:
        cut = data[:max(0, room)].decode("utf-8", "ignore")
        cut = cut[:cut.rfind("\n") + 1] if "\n" in cut else ""
        markdown = cut + "\n\n*(summary truncated: GitHub keeps 1 MiB per step; the full " \
                         "results are in the JSON/SARIF output)*\n"
    with p.open("a", encoding="utf-8") as fh:
        fh.write(markdown if markdown.endswith("\n") else markdown + "\n")
    return True
