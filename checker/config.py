"""The checked-in prover configuration (TOML): model bounds, obligations, expected verdicts.

Validated against a JSON Schema; every problem is a `ConfigError` with a message that says
what to fix (the CLI exits 2 on it).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ranksync.spec.config import ModelConfig
from ranksync.spec.properties import PROPERTIES, branch_witnesses
from ranksync.spec.variants import VARIANTS

from . import limits as L

VERDICT = {"enum": ["PROVED", "VIOLATED"]}
REACH = {"enum": ["REACHABLE", "UNREACHABLE"]}


def _per_t(inner: dict[str, Any]) -> dict[str, Any]:
    """A verdict, or {default = verdict, T1 = verdict, ...} for per-TP-size exceptions (T01
    or T0 would never match a T, so they are rejected rather than ignored)."""
    table = {"type": "object", "required": ["default"], "properties": {"default": inner},
             "patternProperties": {"^T[1-9][0-9]*$": inner}, "additionalProperties": False}
    return {"if": {"type": "object"}, "then": table, "else": inner}


def _int(lo: int, hi: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": lo, "maximum": hi}


def _range(lo: int, hi: int) -> dict[str, Any]:
    return {"type": "array", "minItems": 2, "maxItems": 2, "items": _int(lo, hi)}


VARIANT_KEYS = {"enum": sorted(VARIANTS)}
TOPOLOGY_KEYS = {"enum": ["a", "b"]}


# the symbolic ranges, shared by [model] (BMC) and [fixpoint] (explicit search)
BOUNDS: dict[str, Any] = {
    "pool_blocks": _int(1, L.MAX_POOL),
    "block_sizes": {"type": "array", "minItems": 1, "maxItems": 8,
                    "items": _int(1, L.MAX_BLOCK)},
    "length_range": _range(1, L.MAX_LENGTH),
    "default_alloc_range": _range(1, L.MAX_LENGTH),
    "held_range": _range(0, L.MAX_POOL),
}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["prove"],
    "properties": {
        "extends": {"type": "string"},
        "report": {"type": "object"},  # [tool.ranksync.report]: read by `ranksync report`
        "model": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "depth": _int(1, L.MAX_DEPTH),
                **BOUNDS,
                "stale": {"enum": ["history", "per_rank", "zeros"]},
                "faults": {"type": "boolean"},
                "pool_pressure": {"enum": ["none", "shared", "per_rank"]},
                "progress_bound": _int(1, L.MAX_DEPTH),
                "embedding_tp_size": _int(1, L.MAX_TP),
            },
        },
        "prove": {
            "type": "object", "additionalProperties": False,
            "required": ["tp_sizes", "variants", "topologies"],
            "properties": {
                "tp_sizes": {"type": "array", "minItems": 1, "items": _int(1, L.MAX_TP)},
                "variants": {"type": "array", "minItems": 1,
                             "items": {"enum": sorted(VARIANTS)}},
                "topologies": {"type": "array", "minItems": 1, "items": {"enum": ["a", "b"]}},
                # Z3 counts milliseconds: below 1 ms the limit would read 0, i.e. none
                "timeout_seconds": {"type": "number", "minimum": L.MIN_TIMEOUT,
                                    "maximum": L.MAX_TIMEOUT},
                "simulations": _int(0, L.MAX_SIMULATIONS),
                "seed": _int(0, 2**63 - 1),  # of the simulations
                "z3_seed": _int(0, 2**32 - 1),  # smt/sat random seeds of every solver call
                # more than the machine's CPUs are not started (checker/prove.py workers)
                "jobs": _int(1, 1024),
                # RLIMIT_AS of each worker process (checker/memcap.py); past it: UNKNOWN
                "memory_limit_mb": _int(256, 1 << 20),
                # bounded model checking for what neither simulation nor an every-T proof
                # settles (the CI configuration); false: those stay undecided
                "bmc": {"type": "boolean"},
                # which branch witnesses to check: "reachable" leaves the ones declared
                # UNREACHABLE (they need BMC) to a configuration that runs it, and asks at
                # T <= 4 only (above, rows are violations, lifted from a smaller T)
                "witnesses": {"enum": ["all", "reachable", "none"]},
                # variant -> the properties this configuration checks (default: all)
                "properties": {"type": "object", "propertyNames": VARIANT_KEYS,
                               "additionalProperties": {"oneOf": [
                                   {"type": "array", "items": {"enum": sorted(PROPERTIES)}},
                                   {"type": "object", "additionalProperties": False,
                                    "properties": {t: {"type": "array", "items": {
                                        "enum": sorted(PROPERTIES)}} for t in "ab"}}]}},
                # variant -> properties whose PROVED may rest on an unreachable premise;
                # any other vacuous proof fails the run (exit 1)
                "accept_vacuous": {"type": "object", "propertyNames": VARIANT_KEYS,
                                   "additionalProperties": {
                                       "type": "array", "items": {"enum": sorted(PROPERTIES)}}},
            },
        },
        "fixpoint": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "tp_sizes": {"type": "array", "items": _int(1, 4)},
                "variants": {"type": "array", "items": {"enum": sorted(VARIANTS)}},
                **BOUNDS,
                "topologies": {"type": "array", "items": {"enum": ["a", "b"]}},
                "faults": {"type": "boolean"},
                "pool_pressure": {"enum": ["none", "shared", "per_rank"]},
                "max_depth": _int(1, 1000),
                "max_states": _int(1, L.MAX_STATES),
            },
        },
        # variant -> topology -> properties / witnesses proved for every T and every depth
        # by the stored invariant spec/invariants/<variant>.<topology>.inv (checker/everyt.py)
        "every_t": {"type": "object", "propertyNames": VARIANT_KEYS, "additionalProperties": {
            "type": "object", "additionalProperties": False,
            "properties": {t: {"type": "array", "items": {"type": "string"}} for t in "ab"}}},
        "expect": {"type": "object", "propertyNames": VARIANT_KEYS, "additionalProperties": {
            "type": "object", "propertyNames": TOPOLOGY_KEYS, "additionalProperties": {
                "type": "object", "additionalProperties": False,
                "properties": {name: _per_t(VERDICT) for name in PROPERTIES}}}},
        "witnesses": {"type": "object", "propertyNames": VARIANT_KEYS, "additionalProperties": {
            "type": "object", "propertyNames": TOPOLOGY_KEYS, "additionalProperties": {
                "type": "object", "additionalProperties": _per_t(REACH)}}},
    },
}


class ConfigError(Exception):
    pass


PACKAGED = "ranksync:"  # `ranksync:full.toml` names a config shipped in the package


def packaged_config(name: str) -> Path:
    """A config shipped as package data (configs/ in the source tree, `ranksync.configs` when
    installed), located through importlib.resources; installs unpack it to a real file, and
    its `extends` siblings sit beside it."""
    from importlib import resources

    return Path(str(resources.files("ranksync.configs").joinpath(name)))


def config_path(arg: str | Path, relative_to: Path | None = None) -> Path:
    """A path, or `ranksync:NAME` for a packaged config; relative paths are taken from
    `relative_to` (the directory of the config that extends it) when given."""
    s = str(arg)
    if s.startswith(PACKAGED):
        return packaged_config(s[len(PACKAGED):])
    return relative_to / s if relative_to is not None else Path(s)


@dataclass
class ProveConfig:
    path: str
    model: dict[str, Any]
    tp_sizes: list[int]
    variants: list[str]
    topologies: list[str]
    timeout_seconds: float = 120.0
    simulations: int = 300
    seed: int = 0
    jobs: int = 2
    memory_limit_mb: int | None = None  # per worker process (checker/memcap.py)
    expect: dict[str, Any] = field(default_factory=dict)
    witnesses: dict[str, Any] = field(default_factory=dict)
    fixpoint: dict[str, Any] = field(default_factory=dict)  # [fixpoint]: all-depth domain
    every_t: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    bmc: bool = True
    check_witnesses: str = "all"
    properties: dict[str, Any] = field(default_factory=dict)
    accept_vacuous: dict[str, list[str]] = field(default_factory=dict)
    z3_seed: int = 0

    def properties_of(self, variant: str, topology: str | None = None) -> list[str]:
        """The properties checked for `variant` (a list, or a table per topology)."""
        sel = self.properties.get(variant)
        if isinstance(sel, dict):
            sel = sel.get(topology) if topology else sorted({p for v in sel.values() for p in v})
        return [p for p in PROPERTIES if sel is None or p in sel]

    def fixpoint_config(self, tp_size: int, topology: str) -> ModelConfig:
        """The small domain of the explicit all-depth search (stale aux rows: zeros)."""
        over = {k: self.fixpoint[k] for k in ("pool_blocks", "block_sizes", "length_range",
                                              "default_alloc_range", "faults", "pool_pressure",
                                              "held_range")
                if k in self.fixpoint}
        over = {k: tuple(v) if isinstance(v, list) else v for k, v in over.items()}
        return self.model_config(tp_size, topology, stale="zeros", **over)

    def fixpoint_groups(self) -> list[tuple[str, str, int]]:
        fp = self.fixpoint
        vs = fp.get("variants", self.variants) if fp else []
        tops = fp.get("topologies", self.topologies) if fp else []
        return [(v, t, n) for v in vs for t in tops for n in fp.get("tp_sizes", [])]

    def model_config(self, tp_size: int, topology: str, **over: Any) -> ModelConfig:
        m = dict(self.model)
        e = m.pop("embedding_tp_size", 1)
        for k in ("block_sizes", "length_range", "default_alloc_range", "held_range"):
            if k in m:
                m[k] = tuple(m[k])
        m.update(over)
        if topology == "a":
            m.setdefault("embedding_tp_size", min(e, tp_size))
        return ModelConfig(tp_size=tp_size, topology=topology, **m)  # type: ignore[arg-type]

    def expected(self, variant: str, topology: str, prop: str, tp_size: int) -> str | None:
        return _pick(self.expect.get(variant, {}).get(topology, {}).get(prop), tp_size)

    def expected_witness(self, variant: str, topology: str, name: str, tp_size: int) -> str:
        got = _pick(self.witnesses.get(variant, {}).get(topology, {}).get(name), tp_size)
        return got or "REACHABLE"


def _pick(v: Any, tp_size: int) -> str | None:
    if v is None or isinstance(v, str):
        return v
    return str(v.get(f"T{tp_size}", v["default"]))


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read(p: Path, depth: int = 0) -> dict[str, Any]:
    """The TOML of p, with `extends = "other.toml"` (relative to p) merged underneath."""
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such config file") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e}") from None
    if "tool" in raw:  # a pyproject.toml: use its [tool.ranksync] table
        tool = raw.get("tool")
        table: Any = tool.get("ranksync") if isinstance(tool, dict) else None
        if table is None:
            raise ConfigError(f"{p}: has no [tool.ranksync] table")
        if not isinstance(table, dict):
            raise ConfigError(f"{p}: tool.ranksync must be a table ([tool.ranksync]), "
                              f"not a {type(table).__name__}")
        raw = table
    base = raw.get("extends")
    if isinstance(base, str):
        if depth > 4:
            raise ConfigError(f"{p}: `extends` chain too deep")
        raw = _merge(_read(config_path(base, p.parent), depth + 1), raw)
        raw.pop("extends", None)
    return raw


def load(path: str | Path) -> ProveConfig:
    p = config_path(path)
    raw = _read(p)
    problem = L.schema_error(raw, SCHEMA)
    if problem is not None:
        raise ConfigError(f"{p}: invalid config: {problem}")
    known = {f"premise: {n}" for n in PROPERTIES}
    for v in VARIANTS.values():
        known |= set(branch_witnesses(v))
    for v, tops in raw.get("witnesses", {}).items():
        for t, names in tops.items():
            for n in names:
                if n not in known:
                    raise ConfigError(f"{p}: unknown witness {n!r} under witnesses.{v}.{t}"
                                      f"{L.suggest(n, known)}; known: {sorted(known)}")
    for v, tops in raw.get("every_t", {}).items():
        for t, names in tops.items():
            for n in names:
                if n not in known and n not in PROPERTIES:
                    raise ConfigError(f"{p}: every_t.{v}.{t} names {n!r}, neither a property "
                                      f"nor a witness; properties: {sorted(PROPERTIES)}")
    pr = raw["prove"]
    cfg = ProveConfig(
        path=str(p), model=raw.get("model", {}), tp_sizes=pr["tp_sizes"],
        variants=pr["variants"], topologies=pr["topologies"],
        timeout_seconds=float(pr.get("timeout_seconds", 120)),
        simulations=int(pr.get("simulations", 300)), seed=int(pr.get("seed", 0)),
        jobs=int(pr.get("jobs", 2)),
        memory_limit_mb=(int(pr["memory_limit_mb"]) if "memory_limit_mb" in pr else None), expect=raw.get("expect", {}),
        witnesses=raw.get("witnesses", {}), fixpoint=raw.get("fixpoint", {}),
        every_t=raw.get("every_t", {}), bmc=bool(pr.get("bmc", True)),
        check_witnesses=str(pr.get("witnesses", "all")),
        properties=pr.get("properties", {}), accept_vacuous=pr.get("accept_vacuous", {}),
        z3_seed=int(pr.get("z3_seed", 0)))
    try:
        for t in cfg.tp_sizes:
            for topo in cfg.topologies:
                cfg.model_config(t, topo)
        for _, topo, t in cfg.fixpoint_groups():
            cfg.fixpoint_config(t, topo)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{p}: invalid model bounds: {e}") from None
    return cfg
