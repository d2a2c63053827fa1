"""`ranksync prove`: every obligation of a configuration, checked against declared verdicts.

An obligation is (variant, topology, T, property); each also carries the reachability of its
premise, and every branch of protocol.md §8.3/§8.4 is a witness obligation of its own.
Per (variant, topology, T): seeded simulation first (finds violations and witnesses fast),
then BMC for whatever simulation did not settle: PROVED needs the solver, and so does
UNREACHABLE. Groups run in parallel worker processes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from typing import Any

from ranksync.spec.config import ModelConfig
from ranksync.spec.properties import PROPERTIES, branch_witnesses
from ranksync.spec.variants import get_variant

from . import bmc
from .config import ProveConfig
from .simulate import simulate


@dataclass
class Row:
    variant: str
    topology: str
    tp_size: int
    kind: str  # "property" | "witness"
    name: str
    verdict: str
    expected: str | None
    method: str  # "simulation" | "bmc"
    seconds: float
    step: int | None = None
    reason: str = ""
    bound: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.verdict == self.expected and self.verdict != bmc.UNKNOWN

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def bound_of(cfg: ModelConfig) -> dict[str, Any]:
    return {"tp_size": cfg.tp_size, "depth": cfg.depth, "length": list(cfg.length_range),
            "block_sizes": list(cfg.block_sizes),
            "default_allocate_tokens": list(cfg.default_alloc_range),
            "pool_blocks": cfg.pool_blocks, "embedding_tp_size": cfg.n_senders,
            "stale": cfg.stale, "faults": cfg.faults, "pool_pressure": cfg.pool_pressure,
            "held": list(cfg.held),
            "progress_bound": cfg.progress_bound}


def witness_names() -> list[str]:
    return [f"premise: {n}" for n in PROPERTIES] + list(branch_witnesses())


def check_group(pc: ProveConfig, variant: str, topology: str, tp_size: int) -> list[Row]:
    """All obligations of one (variant, topology, T)."""
    cfg = pc.model_config(tp_size, topology)
    bound = bound_of(cfg)
    t0 = time.perf_counter()
    sim = simulate(cfg, variant, pc.simulations, pc.seed)
    sim_dt = (time.perf_counter() - t0) / max(1, len(PROPERTIES))
    u: bmc.Unrolling | None = None

    def unrolling() -> bmc.Unrolling:
        nonlocal u
        if u is None:
            u = bmc.build(cfg, get_variant(variant), int(pc.timeout_seconds * 1000))
        return u

    # what simulation left open goes to the solver, several questions per call
    open_props = {n: p.bad for n, p in PROPERTIES.items() if n not in sim.violations}
    preds = {f"premise: {n}": p.premise for n, p in PROPERTIES.items()}
    preds |= branch_witnesses(get_variant(variant))
    hits = {f"premise: {n}": h for n, h in sim.premises.items()} | sim.branches
    open_wit = {n: p for n, p in preds.items() if n not in hits}
    solved_p = bmc.check_many(unrolling(), open_props) if open_props else {}
    solved_w = bmc.check_many(unrolling(), open_wit) if open_wit else {}
    prop_verdict = {"unsat": bmc.PROVED, "sat": bmc.VIOLATED}
    wit_verdict = {"unsat": bmc.UNREACHABLE, "sat": bmc.REACHABLE}

    rows: list[Row] = []
    for name in PROPERTIES:
        exp = pc.expected(variant, topology, name, tp_size)
        if name in sim.violations:
            rows.append(Row(variant, topology, tp_size, "property", name, bmc.VIOLATED, exp,
                            "simulation", sim_dt, sim.violations[name].step, bound=bound))
            continue
        r = solved_p[name]
        rows.append(Row(variant, topology, tp_size, "property", name,
                        prop_verdict.get(r.verdict, bmc.UNKNOWN), exp, "bmc", r.seconds,
                        r.step, r.reason, bound))
    for name in preds:
        exp = pc.expected_witness(variant, topology, name, tp_size)
        if name in hits:
            rows.append(Row(variant, topology, tp_size, "witness", name, bmc.REACHABLE, exp,
                            "simulation", 0.0, hits[name].step, bound=bound))
            continue
        r = solved_w[name]
        rows.append(Row(variant, topology, tp_size, "witness", name,
                        wit_verdict.get(r.verdict, bmc.UNKNOWN), exp, "bmc", r.seconds,
                        r.step, r.reason, bound))
    return rows


def check_fixpoint(pc: ProveConfig, variant: str, topology: str, tp_size: int) -> list[Row]:
    """All-depth search of the small domain; a violation there that the bounded proof of the
    same T declares PROVED means the bound was too small, and fails the run."""
    from .fixpoint import ALWAYS, search

    cfg = pc.fixpoint_config(tp_size, topology)
    fp = search(cfg, variant, int(pc.fixpoint.get("max_depth", 60)),
                int(pc.fixpoint.get("max_states", 200_000)))
    bound = bound_of(cfg) | {"depth": fp.depth, "closed": fp.closed, "states": fp.states}
    rows = []
    for name in ALWAYS:
        got = fp.verdict(name)
        declared = pc.expected(variant, topology, name, tp_size)
        exp = "PROVED" if got == bmc.VIOLATED and declared == bmc.PROVED else got
        rows.append(Row(variant, topology, tp_size, "fixpoint", name, got, exp, "fixpoint",
                        fp.seconds / len(ALWAYS), fp.violated.get(name),
                        "" if fp.closed else "search did not close", bound))
    return rows


def check_all_t(pc: ProveConfig, variant: str, topology: str, tp_size: int) -> list[Row]:
    """Per-rank properties for every T (topology b), by assume-guarantee over one rank. A
    VIOLATED here may be spurious (the rest of the group is over-approximated): it only means
    no claim for all T; UNKNOWN and VACUOUS fail the run."""
    from . import alltp

    cfg = pc.model_config(1, "b")
    bound = bound_of(cfg) | {"tp_size": "all", "embedding_tp_size": "T"}
    rows = []
    for name in alltp.PER_RANK:
        r = alltp.check(cfg, variant, name, int(pc.timeout_seconds * 1000))
        exp = r.verdict if r.verdict in (bmc.PROVED, bmc.VIOLATED) else bmc.PROVED
        rows.append(Row(variant, "b", 0, "all_t", name, r.verdict, exp, "assume-guarantee",
                        r.seconds, r.step, r.reason, bound))
    return rows


def groups(pc: ProveConfig) -> list[tuple[str, str, int]]:
    gs = [(v, t, n) for v in pc.variants for t in pc.topologies for n in pc.tp_sizes]
    return sorted(gs, key=lambda g: -g[2])  # largest first: better packing on few workers


def run_all(pc: ProveConfig, jobs: int | None = None,
            on_group: Callable[[tuple[str, str, int], list[Row]], None] | None = None
            ) -> list[Row]:
    jobs = jobs or pc.jobs
    out: list[Row] = []
    work = [(check_group, g) for g in groups(pc)] + [(check_fixpoint, g)
                                                     for g in pc.fixpoint_groups()]
    work += [(check_all_t, (v, "b", 0)) for v in pc.all_t]
    if jobs <= 1:
        for fn, g in work:
            rows = fn(pc, *g)
            out += rows
            if on_group:
                on_group(g, rows)
    else:
        with ProcessPoolExecutor(max_workers=jobs) as ex:
            futs = {ex.submit(fn, pc, *g): g for fn, g in work}
            for f in as_completed(futs):
                rows = f.result()
                out += rows
                if on_group:
                    on_group(futs[f], rows)
    kinds = {"property": 0, "fixpoint": 1, "all_t": 2, "witness": 3}
    return sorted(out, key=lambda r: (r.variant, r.topology, r.tp_size, kinds[r.kind]))


def iter_failures(rows: list[Row]) -> Iterator[Row]:
    return (r for r in rows if not r.ok)


def cached_run_all(cache: dict[Any, list[Row]], pc: ProveConfig) -> list[Row]:
    """run_all memoised in `cache` per configuration (test sessions share one prove run)."""
    key = (pc.path, tuple(pc.tp_sizes), tuple(pc.variants), tuple(pc.topologies))
    if key not in cache:
        cache[key] = run_all(pc, 2)
    return cache[key]
