"""Where a finding points: the config line that declared a verdict, and the spec function of
a property, as paths relative to a root (the repository under review).

TOML has no positions in `tomllib`; each line is parsed on its own by the same parser (a table
header, or a one-line `key = value`), which is exact for the files ranksync reads: verdicts
are one-line values. The `extends` chain is followed like `checker/config.py` merges it: the
declaring file is the last one in the chain (the nearest to the user) that sets the key.
"""

from __future__ import annotations

import inspect
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import config_path

Key = tuple[str, ...]


@dataclass(frozen=True)
class Location:
    path: str  # relative to the root when inside it, else absolute
    line: int
    inside: bool  # under the root (a code-scanning tool can show it)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


def root_dir(root: str | Path | None = None) -> Path:
    """The repository the locations are relative to: given, $GITHUB_WORKSPACE, else cwd."""
    return Path(root or os.environ.get("GITHUB_WORKSPACE") or Path.cwd()).resolve()


def relative(path: str | Path, line: int, root: Path) -> Location:
    p = Path(path).resolve()
    if p.is_relative_to(root):
        return Location(p.relative_to(root).as_posix(), line, True)
    return Location(p.as_posix(), line, False)


def _flatten(d: dict[str, Any], prefix: Key) -> list[Key]:
    out: list[Key] = []
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out += [(*prefix, k), *_flatten(v, (*prefix, k))]
        else:
            out.append((*prefix, k))
    return out


def key_lines(text: str) -> dict[Key, int]:
    """Every key path a line of this TOML text sets (1-based line numbers), table headers
    included; keys under [tool.ranksync] lose that prefix."""
    out: dict[Key, int] = {}
    table: Key = ()
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            doc = tomllib.loads(line)
        except tomllib.TOMLDecodeError:
            continue  # a line of a multi-line value
        if line.startswith("["):
            path = _flatten(doc, ())
            table = max(path, key=len) if path else ()
            out.setdefault(table, n)
            continue
        for k in _flatten(doc, table):
            out.setdefault(k, n)
    strip = ("tool", "ranksync")
    return {(k[2:] if k[:2] == strip else k): n for k, n in out.items()}


def chain(path: str | Path) -> list[Path]:
    """The config and the files it extends, the user's file first."""
    out: list[Path] = []
    p = config_path(path)
    while p not in out and len(out) < 8:
        out.append(p)
        try:
            raw = tomllib.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            break
        raw = raw.get("tool", {}).get("ranksync", raw) if "tool" in raw else raw
        base = raw.get("extends") if isinstance(raw, dict) else None
        if not isinstance(base, str):
            break
        p = config_path(base, p.parent)
    return out


class ConfigLines:
    """(variant, topology, property or witness) -> the line that declared its verdict."""

    def __init__(self, path: str | Path, root: str | Path | None = None) -> None:
        self.root = root_dir(root)
        self.files = [(p, key_lines(_read(p))) for p in chain(path)]

    def declared(self, kind: str, variant: str, topology: str, name: str) -> Location:
        """The declaring line; else the table it would go in; else the user's config file
        (at its `extends` line when the declaration lives in a file outside the root)."""
        section = "witnesses" if kind == "witness" else "expect"
        for want in ((section, variant, topology, name), (section, variant, topology)):
            for p, lines in self.files:
                n = lines.get(want)
                if n is None:
                    n = next((v for k, v in lines.items() if k[:len(want)] == want), None)
                if n is not None:
                    loc = relative(p, n, self.root)
                    if loc.inside or p == self.files[0][0]:
                        return loc
                    return self.user_file()
        return self.user_file()

    def user_file(self) -> Location:
        p, lines = self.files[0]
        return relative(p, lines.get(("extends",), 1), self.root)


def _read(p: Path) -> str:
    try:
        return p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def spec_location(name: str, root: str | Path | None = None) -> Location | None:
    """The spec function of a property (its violation predicate), or of a witness: a
    property's premise, or the branch predicate of spec/properties.py."""
    from ranksync.spec.properties import PROPERTIES, branch_witnesses

    fn: Any = None
    if name in PROPERTIES:
        fn = PROPERTIES[name].bad
    elif name.startswith("premise: ") and name[9:] in PROPERTIES:
        fn = PROPERTIES[name[9:]].premise
    else:
        fn = branch_witnesses().get(name)
    if fn is None:
        return None
    try:
        src = inspect.getsourcefile(fn)
        _, line = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        return None
    return relative(src, line, root_dir(root)) if src else None
