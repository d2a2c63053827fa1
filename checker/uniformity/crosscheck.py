"""Cross-check of findings with the model: a data file (`data/model_map.toml`, or a user's)
maps (engine function, branch kind, condition pattern) to the property a divergence there
violates and the `ranksync explain` command that shows it."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from .findings import Finding

STATUSES = ("confirmed", "covered")


class ModelMapError(ValueError):
    """A mapping file that cannot be used (bad input, exit 2)."""


@dataclass(frozen=True)
class Entry:
    function: str
    branch: str
    condition: re.Pattern[str]
    property: str
    also: tuple[str, ...]
    status: str
    command: str
    note: str
    trace: str


@dataclass
class ModelMap:
    scope: list[str]
    entries: list[Entry]
    origin: str


def load_model_map(path: Path | None = None) -> ModelMap:
    if path is None:
        text = files("ranksync.checker.uniformity").joinpath("data", "model_map.toml") \
            .read_text(encoding="utf-8")
        origin = "model_map.toml (shipped)"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ModelMapError(f"cannot read model map {path}: {e}") from None
        origin = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ModelMapError(f"{origin}: not valid TOML ({e})") from None
    if data.get("schema_version") != 1:
        raise ModelMapError(f"{origin}: schema_version must be 1")
    scope = data.get("scope", [])
    if not isinstance(scope, list) or not all(isinstance(s, str) for s in scope):
        raise ModelMapError(f"{origin}: scope must be a list of function names")
    entries = []
    for i, row in enumerate(data.get("entry", []), 1):
        try:
            ent: dict[str, Any] = row
            status = ent.get("status", "confirmed")
            if status not in STATUSES:
                raise ModelMapError(f"{origin}: entry {i}: status must be one of {STATUSES}")
            entries.append(Entry(ent["function"], ent["branch"], re.compile(ent["condition"]),
                                 ent["property"], tuple(ent.get("also", [])), status,
                                 ent.get("command", ""), ent.get("note", ""),
                                 ent.get("trace", "")))
        except (KeyError, TypeError, AttributeError) as x:
            raise ModelMapError(f"{origin}: entry {i}: needs function, branch, condition, "
                                f"property ({x})") from None
        except re.error as x:
            raise ModelMapError(f"{origin}: entry {i}: condition is not a regex ({x})") from None
    return ModelMap(scope, entries, origin)


def cross_check(findings: list[Finding], mm: ModelMap, properties: set[str]) -> None:
    """Sets each finding's `model`: confirmed / covered (with property and command), gap
    (in scope, no entry), or out of scope."""
    for f in findings:
        entry = next((e for e in mm.entries if e.function == f.function
                      and e.branch == f.kind and e.condition.search(f.condition)), None)
        if entry is None:
            f.model = {"status": "gap" if f.function in mm.scope else "out of scope"}
            continue
        model: dict[str, Any] = {"status": entry.status, "property": entry.property,
                                 "also": [p for p in entry.also if p in properties],
                                 "command": entry.command, "note": entry.note}
        if entry.trace:
            model["trace"] = entry.trace
        if entry.property not in properties:
            model["status"] = "unknown property"
        f.model = model
