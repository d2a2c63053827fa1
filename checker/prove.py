"""`ranksync prove`: every obligation of a configuration, checked against declared verdicts.

An obligation is (variant, topology, T, property) or a witness (the reachability of a
property's premise or of a branch of protocol.md §8.3/§8.4); `[every_t]` adds obligations
for every T and every depth (checker/everyt.py). Evidence, cheapest first:

1. seeded simulation of the concrete model at that T finds violations and reached witnesses
   (it stops once everything the configuration declares VIOLATED / REACHABLE is found);
2. a proof for every T and every depth (an inductive invariant, `[every_t]`) settles PROVED
   and UNREACHABLE at every T; at T = 1 the properties that compare two ranks hold trivially;
3. above T = 4, a declared violation that simulation at T missed is looked for by lifting the
   counterexample of the smallest T (checker/prove_lift.py), confirmed by replay at T;
4. bounded model checking settles the rest, when the configuration allows it (`bmc = true`,
   the CI configuration); otherwise the obligation stays UNKNOWN (undecided: never success).

Every row says which evidence decided it (`method`) and its bound. Tasks run in parallel
worker processes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from typing import Any

from ranksync.spec.config import ModelConfig
from ranksync.spec.properties import PROPERTIES, branch_witnesses
from ranksync.spec.variants import get_variant

from . import bmc, memcap
from . import events as progress
from .config import ProveConfig
from .simulate import SimResult, simulate

PAIRWISE = ("seed_claim", "agreement", "handoff_agreement")  # vacuous at T = 1
DECIDED = (bmc.PROVED, bmc.VIOLATED, bmc.REACHABLE, bmc.UNREACHABLE)
EVERY_T = "every T (inductive invariant)"


@dataclass
class Row:
    variant: str
    topology: str
    tp_size: int  # 0: every T (kind every_t)
    kind: str  # "property" | "witness" | "every_t" | "fixpoint"
    name: str
    verdict: str
    expected: str | None
    method: str  # "simulation" | "lift" | "bmc" | EVERY_T | "T = 1" | "induction" | "fixpoint"
    seconds: float
    step: int | None = None
    reason: str = ""
    bound: dict[str, Any] = field(default_factory=dict)
    vacuous: bool = False  # PROVED with an UNREACHABLE premise the config does not accept

    @property
    def ok(self) -> bool:
        return self.verdict == self.expected and self.verdict in DECIDED and not self.vacuous

    @property
    def decided(self) -> bool:
        return self.verdict in DECIDED

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
            "held": list(cfg.held), "progress_bound": cfg.progress_bound,
            "what_ifs": cfg.what_ifs}


def witness_names() -> list[str]:
    return [f"premise: {n}" for n in PROPERTIES] + list(branch_witnesses())


def _simulate(pc: ProveConfig, cfg: ModelConfig, variant: str, props: list[str],
              preds: dict[str, Any]) -> SimResult:
    """Simulation until every declared violation and reachable witness is found."""
    T, topo = cfg.tp_size, cfg.topology
    want_v = {n for n in props if pc.expected(variant, topo, n, T) == bmc.VIOLATED}
    want_w = {n for n in preds if pc.expected_witness(variant, topo, n, T) == bmc.REACHABLE}

    def enough(s: SimResult) -> bool:
        got_w = {f"premise: {n}" for n in s.premises} | set(s.branches)
        return want_v <= set(s.violations) and want_w <= got_w

    return simulate(cfg, variant, pc.simulations, pc.seed, enough)


def seed_solver(z3_seed: int) -> None:
    """Every solver call of this process uses `z3_seed` (printed with the verdicts)."""
    import z3

    z3.set_param("smt.random_seed", z3_seed)
    z3.set_param("sat.random_seed", z3_seed)


# `witnesses = "reachable"` asks which branches runs reach at T <= 4; above, the bounded rows
# are violations (simulated, or lifted from a smaller T) and proofs for every T
WITNESS_MAX_T = 4


def witness_asked(pc: ProveConfig, expected: str | None, tp_size: int) -> bool:
    """Whether this run checks a witness: all, none, or (`reachable`) the ones declared
    REACHABLE at T <= WITNESS_MAX_T; the rest are left to a configuration that runs BMC."""
    if pc.check_witnesses == "reachable":
        return expected == bmc.REACHABLE and tp_size <= WITNESS_MAX_T
    return pc.check_witnesses != "none"


def covered_by_every_t(pc: ProveConfig, variant: str, topology: str, cfg: ModelConfig
                       ) -> list[str]:
    """The `[every_t]` names whose proof covers this bounded configuration: a bounded row may
    rest on an every-T proof only if the invariant's domain contains the row's (same pool,
    block sizes, L and default allocation within its ranges) and its embedding side does
    (any environment, or one embedding rank per language rank)."""
    from . import everyt

    names = pc.every_t.get(variant, {}).get(topology, [])
    if not names:
        return []
    try:
        _, meta = everyt.read_invariant(variant, topology)
        dom = everyt.domain(cfg, meta)
    except everyt.InvariantError:
        return []
    senders_ok = meta.get("env") == "havoc" or topology == "b" or cfg.n_senders >= cfg.tp_size
    inside = (dom.pool_blocks == cfg.pool_blocks
              and set(cfg.block_sizes) <= set(dom.block_sizes)
              and dom.length_range[0] <= cfg.length_range[0]
              and cfg.length_range[1] <= dom.length_range[1]
              and dom.default_alloc_range[0] <= cfg.default_alloc_range[0]
              and cfg.default_alloc_range[1] <= dom.default_alloc_range[1])
    return names if senders_ok and inside else []


def check_group(pc: ProveConfig, variant: str, topology: str, tp_size: int) -> list[Row]:
    """The bounded obligations of one (variant, topology, T)."""
    seed_solver(pc.z3_seed)
    g = (variant, topology, tp_size)
    progress.post("start", g)
    cfg = pc.model_config(tp_size, topology)
    bound = bound_of(cfg)
    props = pc.properties_of(variant, topology)
    preds = {f"premise: {n}": p.premise for n, p in PROPERTIES.items() if n in props}
    preds |= branch_witnesses(get_variant(variant))
    t0 = time.perf_counter()
    sim = _simulate(pc, cfg, variant, props, preds)
    sim_dt = (time.perf_counter() - t0) / max(1, len(props) + len(preds))
    hits = {f"premise: {n}": h for n, h in sim.premises.items()} | sim.branches
    every = covered_by_every_t(pc, variant, topology, cfg)

    rows: list[Row] = []
    todo_p: dict[str, Any] = {}
    todo_w: dict[str, Any] = {}
    for name in props:
        exp = pc.expected(variant, topology, name, tp_size)
        if name in sim.violations:
            rows.append(Row(variant, topology, tp_size, "property", name, bmc.VIOLATED, exp,
                            "simulation", sim_dt, sim.violations[name].step, bound=bound))
        elif tp_size == 1 and name in PAIRWISE:
            rows.append(Row(variant, topology, tp_size, "property", name, bmc.PROVED, exp,
                            "T = 1", 0.0, reason="one rank cannot disagree with itself",
                            bound=bound))
        elif name in every:
            rows.append(Row(variant, topology, tp_size, "property", name, bmc.PROVED, exp,
                            EVERY_T, 0.0, bound=bound))
        else:
            todo_p[name] = PROPERTIES[name].bad
    for name, pred in preds.items():
        exp = pc.expected_witness(variant, topology, name, tp_size)
        if not witness_asked(pc, exp, tp_size):
            continue
        if name in hits:
            rows.append(Row(variant, topology, tp_size, "witness", name, bmc.REACHABLE, exp,
                            "simulation", sim_dt, hits[name].step, bound=bound))
        elif name in every:
            rows.append(Row(variant, topology, tp_size, "witness", name, bmc.UNREACHABLE, exp,
                            EVERY_T, 0.0, bound=bound))
        else:
            todo_w[name] = pred
    if tp_size > 4:  # declared violations above T = 4 (LIFT_ABOVE): lifted, no BMC at T
        from .prove_lift import expected_violated, lift_violations

        lifted = lift_violations(pc, cfg, variant,
                                 expected_violated(pc, variant, topology, tp_size, todo_p),
                                 PAIRWISE)
        for name, (step, secs, how) in lifted.items():
            rows.append(Row(variant, topology, tp_size, "property", name, bmc.VIOLATED,
                            pc.expected(variant, topology, name, tp_size), "lift", secs, step,
                            how, bound))
            del todo_p[name]
    progress.post("settled", g, len(rows))
    rows += _bmc_rows(pc, cfg, variant, todo_p, todo_w, bound,
                      lambda n: progress.post("settled", g, n))
    return rows


def _bmc_rows(pc: ProveConfig, cfg: ModelConfig, variant: str, todo_p: dict[str, Any],
              todo_w: dict[str, Any], bound: dict[str, Any],
              on_settled: Callable[[int], None] | None = None) -> list[Row]:
    """Bounded model checking of what simulation and the every-T proofs left open, several
    questions per solver call; without `bmc` they stay undecided."""
    T, topo = cfg.tp_size, cfg.topology
    out = []
    if not pc.bmc:
        why = "needs bounded model checking, which this configuration does not run"
        for name in todo_p:
            out.append(Row(variant, topo, T, "property", name, bmc.UNKNOWN,
                           pc.expected(variant, topo, name, T), "none", 0.0, reason=why,
                           bound=bound))
        for name in todo_w:
            out.append(Row(variant, topo, T, "witness", name, bmc.UNKNOWN,
                           pc.expected_witness(variant, topo, name, T), "none", 0.0, reason=why,
                           bound=bound))
        if on_settled is not None and out:
            on_settled(len(out))
        return out
    u = bmc.build(cfg, get_variant(variant), int(pc.timeout_seconds * 1000)) \
        if todo_p or todo_w else None
    for kind, todo, yes, no in (("property", todo_p, bmc.VIOLATED, bmc.PROVED),
                                ("witness", todo_w, bmc.REACHABLE, bmc.UNREACHABLE)):
        if not todo or u is None:
            continue
        solved = bmc.check_many(u, todo, on_settled)
        for name in todo:
            r = solved[name]
            exp = pc.expected(variant, topo, name, T) if kind == "property" else \
                pc.expected_witness(variant, topo, name, T)
            verdict = {"unsat": no, "sat": yes}.get(r.verdict, bmc.UNKNOWN)
            out.append(Row(variant, topo, T, kind, name, verdict, exp, "bmc", r.seconds,
                           r.step, r.reason, bound))
    return out


def check_every_t(pc: ProveConfig, variant: str, topology: str, _t: int = 0) -> list[Row]:
    """The `[every_t]` obligations of one (variant, topology): the stored invariant."""
    from . import everyt

    seed_solver(pc.z3_seed)
    progress.post("start", ("every_t", variant, topology, 0))
    names = pc.every_t[variant][topology]
    base = pc.model_config(2, topology)
    try:
        _, meta = everyt.read_invariant(variant, topology)
        dom = everyt.domain(base, meta, f"{variant}.{topology}.inv")
        bound = bound_of(dom) | {"tp_size": "every T", "depth": "every depth",
                                 "embedding_tp_size": "one per language rank"}
        res = everyt.prove(base, variant, topology, names, int(pc.timeout_seconds * 1000))
    except everyt.InvariantError as e:
        bound = bound_of(base) | {"tp_size": "every T", "depth": "every depth"}
        res = [{"name": n, "verdict": bmc.UNKNOWN, "seconds": 0.0, "reason": str(e),
                "env": ""} for n in names]
    rows = []
    for r in res:
        wit = r["name"] not in PROPERTIES
        proved = bmc.UNREACHABLE if wit else bmc.PROVED
        verdict = proved if r["verdict"] == "PROVED" else r["verdict"]
        b = bound | ({"env": "any (havoc)"} if r["env"] == "havoc" else {})
        rows.append(Row(variant, topology, 0, "every_t", r["name"], verdict, proved,
                        "induction", r["seconds"], reason=r["reason"], bound=b))
    progress.post("settled", ("every_t", variant, topology, 0), len(rows))
    return rows


def check_fixpoint(pc: ProveConfig, variant: str, topology: str, tp_size: int) -> list[Row]:
    """All-depth explicit search of a small domain at one T; a violation there that the
    bounded proof of the same T declares PROVED means the bound was too small."""
    from .fixpoint import ALWAYS, search

    progress.post("start", ("fixpoint", variant, topology, tp_size))
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
    progress.post("settled", ("fixpoint", variant, topology, tp_size), len(rows))
    return rows


def groups(pc: ProveConfig) -> list[tuple[str, str, int]]:
    gs = [(v, t, n) for v in pc.variants for t in pc.topologies for n in pc.tp_sizes]
    return sorted(gs, key=lambda g: -g[2])  # largest first: better packing on few workers


def tasks(pc: ProveConfig) -> list[tuple[Callable[..., list[Row]], tuple[str, str, int]]]:
    work: list[tuple[Callable[..., list[Row]], tuple[str, str, int]]] = [
        (check_every_t, (v, t, 0)) for v, tops in pc.every_t.items() for t in tops
        if v in pc.variants and t in pc.topologies]
    work += [(check_group, g) for g in groups(pc)]
    work += [(check_fixpoint, g) for g in pc.fixpoint_groups()]
    return work


def run_all(pc: ProveConfig, jobs: int | None = None,
            on_group: Callable[[tuple[str, str, int], list[Row]], None] | None = None,
            on_event: Callable[[progress.Event], None] | None = None) -> list[Row]:
    """Every task of `pc`; `on_group` gets each task's rows, `on_event` the progress events
    of checker/events.py (from the worker processes too)."""
    jobs = jobs or pc.jobs
    out: list[Row] = []
    work = tasks(pc)
    if jobs <= 1 and pc.memory_limit_mb is None:
        progress.install(on_event)
        try:
            for fn, g in work:
                rows = fn(pc, *g)
                out += rows
                if on_group:
                    on_group(g, rows)
        finally:
            progress.install(None)
    else:
        with progress.relay(on_event) as init, ProcessPoolExecutor(
                max_workers=jobs, **memcap.pool_kwargs(pc.memory_limit_mb, init)) as ex:
            futs = {ex.submit(fn, pc, *g): (fn, g) for fn, g in work}
            for f in as_completed(futs):
                try:
                    rows = f.result()
                except (MemoryError, BrokenProcessPool):
                    if pc.memory_limit_mb is None:
                        raise
                    rows = _undecided(pc, *futs[f], memcap.reason(pc.memory_limit_mb))
                out += rows
                if on_group:
                    on_group(futs[f][1], rows)
    if pc.memory_limit_mb is not None:  # the solver's own "out of memory" under a cap is it
        for r in out:
            if r.verdict == bmc.UNKNOWN and "out of memory" in r.reason.lower():
                r.reason = memcap.reason(pc.memory_limit_mb)
    out = flag_vacuous(settle(out), pc.accept_vacuous)
    kinds = {"every_t": 0, "property": 1, "fixpoint": 2, "witness": 3}
    return sorted(out, key=lambda r: (r.variant, r.topology, kinds[r.kind], r.tp_size))


def _undecided(pc: ProveConfig, fn: Callable[..., list[Row]], g: tuple[str, str, int],
               why: str) -> list[Row]:
    """UNKNOWN rows for every obligation of a task that did not finish."""
    key = ("every_t", *g) if fn is check_every_t else \
        ("fixpoint", *g) if fn is check_fixpoint else g
    keys = dict(group_keys(pc)).get(key, [])
    bound = bound_of(pc.model_config(g[2], g[1])) if fn is check_group else {}
    return [Row(v, t, n, kind, name, bmc.UNKNOWN,
                pc.expected(v, t, name, n) if kind == "property" else
                pc.expected_witness(v, t, name, n) if kind == "witness" else None,
                "none", 0.0, reason=why, bound=bound) for v, t, n, kind, name in keys]


def settle(rows: list[Row]) -> list[Row]:
    """A bounded row that rests on an every-T proof is only as good as that proof."""
    proofs = {(r.variant, r.topology, r.name): r for r in rows if r.kind == "every_t"}
    for r in rows:
        if r.method != EVERY_T:
            continue
        p = proofs.get((r.variant, r.topology, r.name))
        if p is None or not p.ok:
            r.verdict = bmc.UNKNOWN
            r.reason = "the every-T proof it rests on failed" + (f": {p.reason}" if p else "")
    return rows


def flag_vacuous(rows: list[Row], accept: dict[str, list[str]] | None = None) -> list[Row]:
    """A PROVED property whose premise is UNREACHABLE (declared or decided) at the same
    variant, topology and T says nothing: it fails (exit 1) unless the config lists it under
    [prove.accept_vacuous]."""
    accept = accept or {}
    unreachable = {(r.variant, r.topology, r.tp_size, r.name[len("premise: "):])
                   for r in rows if r.name.startswith("premise: ")
                   and r.verdict == bmc.UNREACHABLE}
    for r in rows:
        if r.kind in ("property", "every_t") and r.verdict == bmc.PROVED \
                and (r.variant, r.topology, r.tp_size, r.name) in unreachable \
                and r.name not in accept.get(r.variant, []):
            r.vacuous = True
            r.reason = ("vacuous: its premise is UNREACHABLE, so the proof says nothing "
                        f"(accept it with [prove.accept_vacuous] {r.variant} = [\"{r.name}\"])")
    return rows


def iter_failures(rows: list[Row]) -> Iterator[Row]:
    return (r for r in rows if not r.ok)


def exit_code(rows: list[Row]) -> int:
    """0 every verdict as declared; 1 a decided verdict differs; 3 only undecided ones."""
    if any(r.decided and not r.ok for r in rows):
        return 1
    return 3 if any(not r.decided for r in rows) else 0


def cached_run_all(cache: dict[Any, list[Row]], pc: ProveConfig) -> list[Row]:
    """run_all memoised in `cache` per configuration (test sessions share one prove run)."""
    key = (pc.path, tuple(pc.tp_sizes), tuple(pc.variants), tuple(pc.topologies))
    if key not in cache:
        cache[key] = run_all(pc, 2)
    return cache[key]


Key = tuple[str, str, int, str, str]


def group_keys(pc: ProveConfig) -> Iterator[tuple[tuple[object, ...], list[Key]]]:
    """(task, its obligations) for each task of `tasks`, known before the run: progress
    totals, the pytest plugin's items, the rows of a task a worker lost."""
    from .fixpoint import ALWAYS

    for fn, (v, t, n) in tasks(pc):
        if fn is check_every_t:
            yield ("every_t", v, t, 0), [(v, t, 0, "every_t", x) for x in pc.every_t[v][t]]
        elif fn is check_fixpoint:
            yield ("fixpoint", v, t, n), [(v, t, n, "fixpoint", p) for p in ALWAYS]
        else:
            props = pc.properties_of(v, t)
            wit = [f"premise: {p}" for p in PROPERTIES if p in props]
            wit += list(branch_witnesses(get_variant(v)))
            wit = [w for w in wit if witness_asked(pc, pc.expected_witness(v, t, w, n), n)]
            yield (v, t, n), ([(v, t, n, "property", p) for p in props]
                              + [(v, t, n, "witness", w) for w in wit])


def obligation_keys(pc: ProveConfig) -> list[Key]:
    return [k for _g, ks in group_keys(pc) for k in ks]
