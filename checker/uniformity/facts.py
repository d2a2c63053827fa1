"""The declared facts of the rank-uniformity check: collectives, rank-local and replicated
sources, effects, assumptions. Defaults ship as package data (`data/facts.toml`); a user
file extends them per engine."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from importlib.resources import files
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


class FactsError(ValueError):
    """A facts file that cannot be used (bad input, exit 2)."""


def matches(pattern: str, dotted: str) -> bool:
    """`pattern` with k dots matches the last k + 1 components of `dotted` (fnmatch)."""
    want = pattern.count(".") + 1
    parts = dotted.split(".")
    if len(parts) < want:
        return False
    return fnmatchcase(".".join(parts[-want:]), pattern)


@dataclass(frozen=True)
class Collective:
    inplace: int | None  # argument index replicated after the call
    returns: bool  # the result is replicated


@dataclass
class Facts:
    collective: dict[str, Collective] = field(default_factory=dict)
    local_calls: dict[str, str] = field(default_factory=dict)
    local_attributes: dict[str, str] = field(default_factory=dict)
    local_raises: dict[str, str] = field(default_factory=dict)
    type_tests: list[str] = field(default_factory=list)
    replicated_fields: list[str] = field(default_factory=list)
    allocator: list[str] = field(default_factory=list)
    handoff_fields: list[str] = field(default_factory=list)
    handoff_calls: list[str] = field(default_factory=list)
    queue_calls: list[str] = field(default_factory=list)
    not_none: list[str] = field(default_factory=list)
    group_sizes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # files read, for the report
    _memo: dict[tuple[int, str], Any] = field(default_factory=dict, repr=False)

    def collective_for(self, dotted: str) -> Collective | None:
        key = (id(self.collective), dotted)
        if key not in self._memo:
            self._memo[key] = next((c for pat, c in self.collective.items()
                                    if matches(pat, dotted)), None)
        return self._memo[key]  # type: ignore[no-any-return]

    def first(self, table: dict[str, str] | list[str], dotted: str) -> str | None:
        """The entry of `table` matching `dotted` (its description for a dict). Tables are
        not changed once loading is over, so answers are memoised."""
        key = (id(table), dotted)
        if key not in self._memo:
            self._memo[key] = next(
                (table[pat] if isinstance(table, dict) else pat for pat in table
                 if matches(pat, dotted)), None)
        return self._memo[key]  # type: ignore[no-any-return]


def _table(d: dict[str, Any], *keys: str) -> dict[str, Any]:
    for k in keys:
        d = d.get(k, {})
        if not isinstance(d, dict):
            raise FactsError(f"[{'.'.join(keys)}] must be a table")
    return d


def _strings(d: dict[str, Any], section: str, key: str) -> list[str]:
    v = _table(d, section).get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise FactsError(f"[{section}] {key} must be a list of strings")
    return v


def _descriptions(d: dict[str, Any], *keys: str) -> dict[str, str]:
    t = _table(d, *keys)
    if not all(isinstance(v, str) for v in t.values()):
        raise FactsError(f"[{'.'.join(keys)}] values must be strings (what the source is)")
    return dict(t)


def _merge(f: Facts, d: dict[str, Any], origin: str) -> None:
    if d.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise FactsError(f"{origin}: schema_version must be {SCHEMA_VERSION}")
    drop = d.get("drop", [])
    if not isinstance(drop, list):
        raise FactsError(f"{origin}: drop must be a list of keys")
    for name, spec in _table(d, "collective").items():
        if not isinstance(spec, dict) or set(spec) - {"inplace", "returns"}:
            raise FactsError(f"{origin}: [collective] {name} must be {{inplace = N, returns = "
                             "true}} (both optional)")
        inplace = spec.get("inplace")
        if inplace is not None and (not isinstance(inplace, int) or inplace < 0):
            raise FactsError(f"{origin}: [collective] {name}: inplace must be an argument index")
        f.collective[name] = Collective(inplace, bool(spec.get("returns", False)))
    f.local_calls.update(_descriptions(d, "rank_local", "calls"))
    f.local_attributes.update(_descriptions(d, "rank_local", "attributes"))
    f.local_raises.update(_descriptions(d, "rank_local", "raises"))
    f.type_tests += _strings(d, "replicated", "type_tests")
    f.replicated_fields += _strings(d, "replicated", "fields")
    for key in ("allocator", "handoff_fields", "handoff_calls", "queue_calls"):
        getattr(f, key).extend(_strings(d, "effects", key))
    f.not_none += _strings(d, "assume", "not_none")
    f.group_sizes += _strings(d, "assume", "group_sizes")
    for key in drop:
        for table in (f.collective, f.local_calls, f.local_attributes, f.local_raises):
            table.pop(key, None)
        for lst in (f.type_tests, f.replicated_fields, f.allocator, f.handoff_fields,
                    f.handoff_calls, f.queue_calls, f.not_none, f.group_sizes):
            while key in lst:
                lst.remove(key)
    f.sources.append(origin)
    f._memo.clear()


def _parse(text: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise FactsError(f"{origin}: not valid TOML ({e})") from None


def load_facts(user: Path | None = None) -> Facts:
    """The shipped facts, extended by `user` if given."""
    f = Facts()
    default = files("ranksync.checker.uniformity").joinpath("data", "facts.toml")
    _merge(f, _parse(default.read_text(encoding="utf-8"), "facts.toml (shipped)"), "shipped")
    if user is not None:
        try:
            text = user.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise FactsError(f"cannot read facts file {user}: {e}") from None
        _merge(f, _parse(text, str(user)), str(user))
    return f
