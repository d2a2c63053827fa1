"""Where the model and the reference meet: trace sets, replay and first divergences.

`ranksync traces --out DIR` writes traces produced by the model (every branch witness, every
property's premise witness, every counterexample, plus seeded random runs); `ranksync replay`
runs them on the reference (in-process group or real gloo processes) and reports the first
divergence of each. The reference never sees the model: it gets the scenario and schedule
and must produce the expected events by itself.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from ranksync.spec import content as ids
from ranksync.spec.config import ModelConfig
from ranksync.spec.properties import PROPERTIES, branch_witnesses

from . import bmc
from .limits import seconds, writable_dir, writable_file
from .scenario import Scenario, from_model


def trace_schema() -> dict[str, Any]:
    from importlib import resources

    text = resources.files("ranksync.checker").joinpath("trace.schema.json").read_text("utf-8")
    return dict(json.loads(text))


class TraceInputError(Exception):
    pass


def load_trace(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TraceInputError(f"{path}: no such file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TraceInputError(f"{path}: not a JSON trace: {e}") from None
    except OSError as e:
        raise TraceInputError(f"{path}: cannot read: {e}") from None
    from .limits import schema_error
    from .trace_check import problems

    problem = schema_error(data, trace_schema())
    if problem is not None:
        raise TraceInputError(f"{path}: not a ranksync trace v2: {problem}")
    problem = problems(data)
    if problem is None:
        problem = _reference_parse(data)
    if problem is not None:
        raise TraceInputError(f"{path}: not a replayable trace: {problem}")
    return data


def _reference_parse(data: dict[str, Any]) -> str | None:
    """The reference's own reading of the trace (no run): what it rejects is bad input, not
    a divergence. Without the reference (no torch) the run reports it."""
    try:
        from ranksync.reference.trace import TraceError, parse_trace
    except ImportError:
        return None
    try:
        parse_trace(data)
    except TraceError as e:
        return " ".join(str(e).split())[:300]
    return None


def expand(paths: Iterable[str]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        out += sorted(p.glob("*.json")) if p.is_dir() else [p]
    return out


# ---- model side ----------------------------------------------------------------------------
def scenario_from_trace(tr: dict[str, Any]) -> Scenario:
    """The model instance a trace's scenario describes (every range collapsed to its value)."""
    s = tr["scenario"]
    cfg = ModelConfig(
        tp_size=s["tp_size"], topology=s["topology"],
        embedding_tp_size=s["embedding_tp_size"] if s["topology"] == "a" else 1,
        receivers=tuple(s["receivers"]) if s["topology"] == "b" else None,
        depth=max(1, len(tr["schedule"])), pool_blocks=s["pool_blocks"],
        block_sizes=(s["block_size"],), length_range=(s["embedding_length"],) * 2,
        default_alloc_range=(s["default_allocate_tokens"],) * 2, mrope_delta=s["mrope_delta"],
        hidden=s["hidden"], rid=s["rid"], room=s["room"])
    T, P, bs = cfg.tp_size, cfg.pool_blocks, s["block_size"]
    held = []
    for r in range(T):
        free = s.get("initial_free", [list(range(P))] * T)[r]
        h = s.get("initial_held", [[]] * T)[r]
        if free != list(range(len(free))) or h != list(range(len(free), P)):
            raise TraceInputError(f"scenario.initial_free/initial_held of rank {r}: the model "
                                  f"replays only a free list [0..F-1] with blocks F..P-1 held")
        held.append(len(h))
    raw = s.get("initial_content", [[[-1] * bs for _ in range(P)] for _ in range(T)])
    content = [[ids.import_id(cfg, int(raw[r][b][x])) if x < bs else ids.ZERO
                for b in range(P) for x in range(cfg.slots)] for r in range(T)]
    schedule = [dict(x) for x in tr["schedule"]]
    for k, st in enumerate(tr.get("expected", [])[:len(schedule)]):
        rows = [[[0, 0] for _ in range(P)] for _ in range(T)]
        for r, taken in enumerate(st.get("taken", [])):
            for t in taken:
                rows[r][t["block"]] = list(t["aux"])
        schedule[k]["taken_aux"] = rows
    return Scenario(cfg=cfg, variant=tr["variant"], length=s["embedding_length"],
                    bs=bs, default_tokens=s["default_allocate_tokens"],
                    receivers=list(s["receivers"]),
                    aux0=[[a[0] for a in row] for row in s["initial_aux"]],
                    aux1=[[a[1] for a in row] for row in s["initial_aux"]],
                    held=held, schedule=schedule, content=content)


def model_expected(tr: dict[str, Any]) -> list[dict[str, Any]]:
    sc = scenario_from_trace(tr)
    return sc.trace(tr.get("name", "trace"))["expected"]


# ---- comparison ----------------------------------------------------------------------------
@dataclass
class Divergence:
    step: int
    rank: int | None
    what: str  # "ranks" | "writes" | "delivered" | "taken" | "length"
    index: int | None
    expected: Any
    actual: Any

    def __str__(self) -> str:
        where = f"step {self.step}" + (f", rank {self.rank}" if self.rank is not None else "")
        return (f"{where}, {self.what}"
                + (f" event #{self.index}" if self.index is not None else "")
                + f": expected {json.dumps(self.expected)}, got {json.dumps(self.actual)}")


def same_event(e: Any, a: Any) -> bool:
    """Equal, except that a null mrope value of the expected hand-off matches anything
    (docs/trace-format.md: the model does not track it)."""
    if not (isinstance(e, dict) and isinstance(a, dict) and e.get("ev") == "handoff"
            and "mrope" in e and "mrope" in a):
        return bool(e == a)
    rows = len(e["mrope"]) == len(a["mrope"]) and all(
        len(x) == len(y) and all(p is None or p == q for p, q in zip(x, y, strict=True))
        for x, y in zip(e["mrope"], a["mrope"], strict=True))
    return rows and {k: v for k, v in e.items() if k != "mrope"} == \
        {k: v for k, v in a.items() if k != "mrope"}


def _same_list(ev: list[Any], av: list[Any]) -> bool:
    return len(ev) == len(av) and all(same_event(x, y) for x, y in zip(ev, av, strict=True))


def _by_block(xs: list[Any]) -> list[Any]:
    """`taken` as the set it is: by block, each block once (a double-freed block sits in the
    free list twice and is taken twice; what it holds is the same)."""
    seen = {json.dumps(t, sort_keys=True): t for t in xs}
    return sorted(seen.values(), key=lambda t: t.get("block", -1) if isinstance(t, dict) else -1)


def first_divergence(expected: list[dict[str, Any]], actual: list[dict[str, Any]]
                     ) -> Divergence | None:
    for e, a in zip(expected, actual, strict=False):
        k = e["step"]
        dead = all(r and r[-1] == {"ev": "deadlock"} for r in e["ranks"])
        for key in ("ranks", "writes", "delivered", "taken"):
            if key not in e or key not in a:
                continue
            for r, (ev, av) in enumerate(zip(e[key], a[key], strict=False)):
                if key == "ranks" and dead:
                    if not av or av[-1] != {"ev": "deadlock"}:
                        return Divergence(k, r, key, None, {"ev": "deadlock"},
                                          av[-1] if av else None)
                    continue
                if key == "taken":  # a set of blocks (docs/trace-format.md): any order
                    ev, av = _by_block(ev), _by_block(av)
                if not _same_list(ev, av):
                    i = next((i for i, (x, y) in enumerate(zip(ev, av, strict=False))
                              if not same_event(x, y)), min(len(ev), len(av)))
                    return Divergence(k, r, key, i, ev[i] if i < len(ev) else None,
                                      av[i] if i < len(av) else None)
            if len(e[key]) != len(a[key]):
                return Divergence(k, None, key, None, len(e[key]), len(a[key]))
    if len(expected) != len(actual):
        return Divergence(min(len(expected), len(actual)), None, "length", None, len(expected),
                          len(actual))
    return None


@dataclass
class ReplayResult:
    path: str
    name: str
    variant: str
    divergence: Divergence | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.divergence is None and not self.error

    def to_json(self) -> dict[str, Any]:
        d = self.divergence
        return {"path": self.path, "name": self.name, "variant": self.variant, "ok": self.ok,
                "error": self.error, "divergence": None if d is None else {
                    "step": d.step, "rank": d.rank, "what": d.what, "index": d.index,
                    "expected": d.expected, "actual": d.actual}}


def replay_one(path: Path, tr: dict[str, Any], backend: str, timeout: float,
               variant: str | None = None) -> ReplayResult:
    from ranksync.reference.runner import run_trace

    if variant:
        tr = dict(tr, variant=variant)
    try:
        got = run_trace(tr, backend=backend, timeout=timeout).to_expected()
    except Exception as e:  # a failed or hung run is a result, not a crash of the tool
        return ReplayResult(str(path), tr["name"], tr["variant"], None, f"{type(e).__name__}: {e}")
    return ReplayResult(str(path), tr["name"], tr["variant"],
                        first_divergence(tr["expected"], got))


def replay_summary(paths: Iterable[str], backend: str = "inprocess", timeout: float = 60.0
                   ) -> dict[str, Any]:
    res = [replay_one(p, load_trace(p), backend, timeout) for p in expand(paths)]
    return {"backend": backend, "traces": len(res), "divergent": sum(not r.ok for r in res),
            "results": [r.to_json() for r in res]}


# ---- trace set generation --------------------------------------------------------------------
def trace_set(cfg: ModelConfig, variant: str, random_runs: int = 20, seed: int = 0,
              timeout_ms: int = 120_000, bmc_witnesses: bool = True
              ) -> dict[str, dict[str, Any]]:
    """name -> trace for one (variant, topology, T): witnesses, counterexamples, random runs."""
    from ranksync.spec.variants import get_variant

    from .simulate import random_scenario, simulate

    tag = f"{variant}-{cfg.topology}-T{cfg.tp_size}"
    sim = simulate(cfg, variant, 300, seed)
    wanted: dict[str, Any] = {f"premise: {n}": p.premise for n, p in PROPERTIES.items()}
    wanted |= branch_witnesses(get_variant(variant))
    found: dict[str, Scenario] = {}
    for n, h in sim.violations.items():
        found[f"violation: {n}"] = h.scenario
    hits = {f"premise: {n}": h for n, h in sim.premises.items()} | sim.branches
    u: bmc.Unrolling | None = None
    for n, pred in wanted.items():
        if n in hits:
            found[n] = hits[n].scenario
            continue
        if not bmc_witnesses:
            continue
        u = u or bmc.build(cfg, get_variant(variant), timeout_ms)
        r = bmc.check_reachable(u, pred)
        if r.model is not None:
            found[n] = from_model(u, r.model)
    import random

    rng = random.Random(f"traces/{seed}/{tag}")
    for i in range(random_runs):
        found[f"random {i}"] = random_scenario(cfg, variant, rng)
    out = {}
    for n, sc in found.items():
        slug = "".join(c if c.isalnum() else "-" for c in n.lower()).strip("-")
        while "--" in slug:
            slug = slug.replace("--", "-")
        name = f"{tag}-{slug}"
        out[name] = sc.trace(name)
    return out


def _tp_sizes(ctx: Any, param: Any, value: str | None) -> list[int] | None:
    from .cliutil import tp_sizes

    return tp_sizes(ctx, param, value)


@click.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              callback=writable_dir)
@click.option("--config", "config_path", type=click.Path())
@click.option("--tp-sizes", "sizes", default="1,2,4", show_default=True, callback=_tp_sizes)
@click.option("--variants", default="prefix,seed", show_default=True)
@click.option("--topologies", default="a,b", show_default=True)
@click.option("--random-runs", default=20, show_default=True, type=click.IntRange(0, 10_000))
def traces(out_dir: str, config_path: str | None, sizes: list[int], variants: str,
           topologies: str, random_runs: int) -> None:
    """Write the model's trace set (every branch and premise witness, every counterexample,
    seeded random runs) for each variant, topology and T."""
    from ranksync.spec.variants import VARIANTS

    from .cliutil import fail_input, load_config

    pc = load_config(config_path)
    vs = variants.split(",")
    if any(v not in VARIANTS for v in vs):
        fail_input(f"unknown variant in {vs}; known: {', '.join(VARIANTS)}")
    if any(t not in ("a", "b") for t in topologies.split(",")):
        fail_input(f"--topologies: a and/or b, got {topologies!r}")
    for topo in topologies.split(","):  # every model is checked before the first is written
        for t in sizes:
            try:
                pc.model_config(t, topo)
            except ValueError as e:
                fail_input(f"T={t}, topology {topo}: {e}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for v in vs:
        for topo in topologies.split(","):
            for t in sizes:
                for name, tr in trace_set(pc.model_config(t, topo), v, random_runs,
                                          pc.seed).items():
                    (out / f"{name}.json").write_text(json.dumps(tr, indent=1))
                    n += 1
    click.echo(f"wrote {n} traces to {out}")


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--backend", type=click.Choice(["inprocess", "gloo"]), default="inprocess",
              show_default=True)
@click.option("--timeout", default="60", show_default=True, callback=seconds,
              help="seconds per gloo run")
@click.option("--json", "as_json", is_flag=True)
@click.option("--junit", type=click.Path(dir_okay=False), callback=writable_file)
@click.option("--variant", help="run the reference as this variant instead of the trace's")
def replay(paths: tuple[str, ...], backend: str, timeout: float, as_json: bool,
           junit: str | None, variant: str | None) -> None:
    """Run traces (files or directories) on the reference; report the first divergence of each."""
    from .cliutil import fail_input, require_torch

    require_torch("replay")
    files = expand(paths)
    if not files:
        fail_input("no trace files found")
    try:
        loaded = [(p, load_trace(p)) for p in files]
    except TraceInputError as e:
        fail_input(str(e))
        return
    res = [replay_one(p, tr, backend, timeout, variant) for p, tr in loaded]
    bad = [r for r in res if not r.ok]
    if junit:
        Path(junit).write_text(_junit(res, backend))
    if as_json:
        click.echo(json.dumps({"backend": backend, "traces": len(res), "divergent": len(bad),
                               "results": [r.to_json() for r in res]}, indent=1))
    else:
        for r in bad:
            click.echo(f"DIVERGES {r.name} ({r.path}): {r.error or r.divergence}")
        click.echo(f"{len(res) - len(bad)} passed, {len(bad)} failed")
    sys.exit(1 if bad else 0)


def _junit(res: list[ReplayResult], backend: str) -> str:
    from xml.etree import ElementTree as ET

    ts = ET.Element("testsuite", name=f"ranksync.replay.{backend}", tests=str(len(res)),
                    failures=str(sum(not r.ok for r in res)))
    for r in res:
        tc = ET.SubElement(ts, "testcase", classname="ranksync.replay", name=r.name)
        if not r.ok:
            ET.SubElement(tc, "failure", message=r.error or str(r.divergence))
    return ET.tostring(ts, encoding="unicode")
