"""Violations at any T, fast: a small-T counterexample lifted to T' ranks by copying ranks.

**Lifting.** Every rank r of the T'-rank run is a copy of a rank `copy_of[r]` of the small
counterexample with the same class: the same receiver status (topology b) and, in topology a,
the same embedding rank. A copy starts from its original's leftovers (aux rows, held blocks)
and takes its original's choices in every step (messages, deliver, others_free /
others_alloc, what other requests leave in the blocks they take). Per-sender choices follow
the senders: when the embedding side scales with T (topology b, or topology a with one session
per embedding rank, E = T -> E' = T') sender e' copies sender `copy_of[e']`; with E fixed
(E = 1: every session on one embedding rank) the senders are unchanged and the copies are
more sessions of the same embedding rank. MIN/MAX/AND reductions are idempotent, so copies
change no collective result. The lift is still *never trusted*: some things count sessions
(`required_dst_info_num`, the order of the sessions a chunk writes and the session that stops
it, one queued chunk per processed resume, processed one per step), and content ids of
per-rank leftovers name the rank. So each lifted run is replayed on the concrete model (PyOps)
and kept only if the property's `bad` predicate holds at the same step. Several rank maps are
tried (originals kept in place with the extra ranks copying one chosen rank, round robin).
If none reproduces: seeded simulation at T' restricted to class-symmetric runs, then BMC at T'
with the ranks of a class constrained equal, under a time budget; if all fail, UNKNOWN.

**What "shortest" claims.** The lifted run has the length of the small-T counterexample
(shortest at the small T when BMC established it there: `Base.shortest`). At T' it is the
shortest among the runs whose ranks fall into the classes of the small-T run (the class map
found), *if* BMC at T' with those class constraints finds no violation in iterations
0..k-1 within its budget; that check is reported as done or not. A shorter run at T' that
needs more distinct rank behaviours than the small T has is excluded only if BMC at T' without
class constraints also finds none before iteration k; otherwise the output says it is not
excluded. A violation at iteration 0 is shortest at every T trivially. Any shorter run either
check finds replaces the lifted one (and is reported as such).

**The symmetry argument** (used instead of the class-constrained BMC where it applies; stated
as an argument, not machine-checked). When every rank has its own sender at both sizes
(topology b; topology a with E = T) and leftovers are not per-rank ids (`stale` is not
`per_rank`), a rank's step reads only its own state and choices, its own sender's, and
MIN/MAX/AND results over ranks or senders, which depend on the *set* of contributions. So in
a T'-run whose ranks show at most n distinct behaviours (leftovers, receiver status, own and
sender choices), ranks of one behaviour stay in equal states, and dropping all but one per
behaviour gives an n-rank run with the same steps; every `bad` predicate is per rank, pairwise
or global, so it holds at the same iteration. Duplicating a rank lifts an n-rank run to
T_s >= n ranks the same way. Hence a shorter T'-run with at most T_s behaviours would give a
shorter T_s-run, which BMC excluded. `tests/lift` checks the equal-states step on sampled runs.

Use (e.g. for bounded VIOLATED rows of `ranksync prove` at T = 8)::

    base = lift_base.smallest_counterexample([pc.model_config(t, topo) for t in (1, 2)],
                                             variant, prop)           # simulation first
    res = violation_at(base.scenario, base.step, prop, 8, base_shortest=base.shortest,
                       shorter_budget_s=0)    # VIOLATED (res.step, res.method) or UNKNOWN
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ranksync.spec.config import ModelConfig
from ranksync.spec.properties import PROPERTIES

from . import bmc
from .scenario import Scenario
from .symmetric import (
    TIMEOUT,
    admissible,
    bmc_search,
    budgeted,
    first_violation,
    symmetric_simulation,
    truncated,
)

RANK_FIELDS = ("messages", "deliver", "others_free", "others_alloc")
SENDER_FIELDS = ("chunks", "chunk_fail")


def senders_scale(base: ModelConfig, target: ModelConfig) -> bool:
    """True if sender e' of the target copies a sender of the base (E = T -> E' = T'), False
    if the senders are the base's own (E fixed). ValueError if neither applies."""
    if target.topology != base.topology:
        raise ValueError("a lift keeps the topology")
    if target.n_senders == base.n_senders:
        return False
    if base.n_senders == base.tp_size and target.n_senders == target.tp_size:
        return True
    raise ValueError(f"cannot lift E={base.n_senders}, T={base.tp_size} to "
                     f"E={target.n_senders}, T={target.tp_size}: E must stay fixed or equal T")


def target_config(base: ModelConfig, tp_size: int) -> ModelConfig:
    """The T'-rank configuration of a lift: the base's bounds; E scales with T if the base had
    one session per embedding rank and T > 1, else stays fixed; receivers come from the map."""
    if tp_size < base.tp_size:
        raise ValueError(f"cannot lift T={base.tp_size} down to T={tp_size}")
    if base.topology == "b":
        return replace(base, tp_size=tp_size, receivers=None)
    e = tp_size if base.n_senders == base.tp_size > 1 else base.n_senders
    return replace(base, tp_size=tp_size, embedding_tp_size=e)


def rank_maps(base: Scenario, target: ModelConfig) -> list[tuple[int, ...]]:
    """Candidate class maps (rank of the target -> rank of the base it copies), most
    readable first: originals in place and the extra ranks copying rank j, then round robin."""
    cfg, T = base.cfg, base.cfg.tp_size
    scale = senders_scale(cfg, target)
    recv = set(base.receivers)

    def fits(q: int, r: int) -> bool:
        if not scale and cfg.topology == "a" and cfg.sender_of(q) != target.sender_of(r):
            return False
        return target.receivers is None or (q in recv) == (r in target.receivers)

    allowed = [[q for q in range(T) if fits(q, r)] for r in range(target.tp_size)]
    if any(not a for a in allowed):
        return []
    maps = [tuple(r if r < T and r in a else a[j % len(a)] for r, a in enumerate(allowed))
            for j in range(T)]
    seen: Counter[tuple[int, ...]] = Counter()
    robin = []
    for a in allowed:
        robin.append(a[seen[tuple(a)] % len(a)])
        seen[tuple(a)] += 1
    maps.append(tuple(robin))
    return list(dict.fromkeys(maps))


def lift(sc: Scenario, target: ModelConfig, copy_of: Sequence[int]) -> Scenario:
    """The run of `sc` at target.tp_size ranks, rank r a copy of rank copy_of[r]."""
    if len(copy_of) != target.tp_size:
        raise ValueError("copy_of needs one entry per target rank")
    scale = senders_scale(sc.cfg, target)
    smap = list(copy_of) if scale else list(range(target.n_senders))

    def pick(xs: Sequence[int], m: Sequence[int]) -> list[int]:
        s = set(xs)
        return [i for i, q in enumerate(m) if q in s]

    schedule = []
    for s in sc.schedule:
        d = dict(s)
        for f in RANK_FIELDS:
            if f in s:
                d[f] = pick(s[f], copy_of)
        for f in SENDER_FIELDS:
            if f in s:
                d[f] = pick(s[f], smap)
        if s.get("taken_aux"):
            d["taken_aux"] = [[list(x) for x in s["taken_aux"][q]] for q in copy_of]
        schedule.append(d)
    receivers = pick(sc.receivers, copy_of)
    cfg = target
    if target.topology == "b" and (sc.cfg.receivers is not None or target.receivers is not None):
        if target.receivers is not None and list(target.receivers) != receivers:
            raise ValueError("the class map does not keep the target's receivers")
        cfg = replace(target, receivers=tuple(receivers))
    return Scenario(
        cfg=cfg, variant=sc.variant, length=sc.length, bs=sc.bs,
        default_tokens=sc.default_tokens, receivers=receivers,
        aux0=[list(sc.aux0[q]) for q in copy_of], aux1=[list(sc.aux1[q]) for q in copy_of],
        held=[sc.held[q] for q in copy_of], schedule=schedule,
        content=None if sc.content is None else [list(sc.content[q]) for q in copy_of])


@dataclass
class LiftResult:
    verdict: str  # VIOLATED or UNKNOWN
    variant: str
    prop: str
    target: ModelConfig
    base: Scenario
    base_step: int
    scenario: Scenario | None = None
    step: int | None = None
    method: str = ""  # "lift", "symmetric simulation", "symmetric BMC", "BMC"
    copy_of: list[int] | None = None
    attempts: list[str] = field(default_factory=list)
    shortest: list[str] = field(default_factory=list)
    seconds: float = 0.0
    reason: str = ""

    def classes(self) -> list[list[int]]:
        """The target's ranks grouped by the base rank they copy."""
        if self.copy_of is None:
            return []
        out: dict[int, list[int]] = {}
        for r, q in enumerate(self.copy_of):
            out.setdefault(q, []).append(r)
        return [out[q] for q in sorted(out)]

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "variant": self.variant, "property": self.prop,
                "tp_size": self.target.tp_size, "topology": self.target.topology,
                "step": self.step, "method": self.method, "base_tp_size": self.base.cfg.tp_size,
                "base_step": self.base_step, "copy_of": self.copy_of,
                "attempts": self.attempts, "shortest": self.shortest,
                "seconds": round(self.seconds, 3), "reason": self.reason}


def violation_at(base: Scenario, step: int, prop: str, tp_size: int, *,
                 target: ModelConfig | None = None, budget_s: float = 60.0,
                 shorter_budget_s: float = 30.0, base_shortest: bool | None = None,
                 seed: int = 0) -> LiftResult:
    """A violation of `prop` at `tp_size` ranks from the counterexample `base` (violating at
    `step`, found at a smaller T): lifted and confirmed by replay, else found by symmetric
    simulation or symmetric BMC within `budget_s`, else UNKNOWN. Then, within
    `shorter_budget_s` (0: skip), BMC at T' checks for shorter runs (module docstring)."""
    t0 = time.perf_counter()
    deadline = t0 + budget_s
    if PROPERTIES.get(prop) is None:
        raise ValueError(f"unknown property {prop!r}")
    if first_violation(base, prop, step) != step:
        raise ValueError(f"the base scenario does not first violate {prop} at step {step}")
    base = truncated(base, step)
    target = target or target_config(base.cfg, tp_size)
    if target.tp_size != tp_size:
        raise ValueError("target.tp_size differs from tp_size")
    res = LiftResult(bmc.UNKNOWN, base.variant, prop, target, base, step)
    maps = rank_maps(base, target)
    scale = senders_scale(base.cfg, target)
    if not admissible(base):
        raise ValueError("the base scenario is outside its configuration's bounds")
    for m in maps:
        sc = lift(base, target, m)
        if not admissible(sc):  # cannot happen for a copy; guards `lift` itself
            raise RuntimeError(f"internal error: the lift ({_short(m)}) leaves the bounds")
        k = first_violation(sc, prop, step)
        res.attempts.append(f"lift ({_short(m)}): " + (
            "reproduces" if k == step else f"violates earlier, at iteration {k}" if k is not None
            else f"does not violate at iteration {step}"))
        if k is not None:  # an earlier hit is a counterexample too (and shorter)
            _found(res, truncated(sc, k), k, "lift", list(m))
            break
        if time.perf_counter() > deadline:
            break
    if not maps:
        res.attempts.append("no class map fits the target (receivers or embedding ranks)")
    if res.scenario is None and maps:
        m0 = maps[0]
        hit = symmetric_simulation(base, prop, lambda s: lift(s, target, m0),
                                   t0 + budget_s / 2, seed)
        if hit is not None:
            res.attempts.append(f"symmetric simulation: violation after {hit[2]} run(s)")
            _found(res, hit[0], hit[1], "symmetric simulation", list(m0))
        else:
            res.attempts.append("symmetric simulation: none within its budget")
    if res.scenario is None and maps:
        m0 = maps[0]
        status, out = budgeted(bmc_search, (base.variant, target, prop, m0,
                                            m0 if scale else None,
                                            _ms(deadline - time.perf_counter())),
                               deadline - time.perf_counter())
        verdict = out[0] if status == "ok" else status
        res.attempts.append(f"symmetric BMC at T={tp_size}, depth {target.depth}: {verdict}"
                            + (f" ({out})" if status not in ("ok", TIMEOUT) else ""))
        if status == "ok" and out[0] == bmc.VIOLATED:
            _found(res, out[1], out[2], "symmetric BMC", list(m0))
        elif status == "ok" and out[0] == bmc.PROVED:
            res.reason = (f"no class-symmetric run with these classes violates {prop} within "
                          f"depth {target.depth} at T={tp_size}; runs with other classes not "
                          f"searched")
    if res.scenario is None:
        res.reason = res.reason or f"no counterexample at T={tp_size} within {budget_s:.0f} s"
    else:
        res.shortest = _shorter(res, scale, base_shortest, shorter_budget_s)
    res.seconds = time.perf_counter() - t0
    return res


def _found(res: LiftResult, sc: Scenario, k: int, method: str, m: list[int]) -> None:
    res.verdict, res.scenario, res.step, res.method, res.copy_of = bmc.VIOLATED, sc, k, method, m


def _short(m: Sequence[int]) -> str:
    """A class map as "TPq <- ranks" (ranks in ranges)."""
    from .timeline import rank_set

    out: dict[int, list[int]] = {}
    for r, q in enumerate(m):
        out.setdefault(q, []).append(r)
    return "; ".join(f"TP{q} <- {rank_set(rs)}" for q, rs in sorted(out.items()))


def _ms(seconds: float) -> int:
    return max(1000, int(seconds * 1000))


def _shorter(res: LiftResult, scale: bool, base_shortest: bool | None, budget_s: float
             ) -> list[str]:
    """Check (and state) whether a shorter run exists at T': first among the runs with the
    classes found, then among all runs; a shorter run BMC finds replaces the one shown."""
    assert res.step is not None
    T, Ts, k0 = res.target.tp_size, res.base.cfg.tp_size, res.step
    head = f"length: {k0 + 1} iteration(s), violation at iteration {k0}"
    if k0 == res.base_step:
        head += f" (the T={Ts} counterexample's length)"
    if k0 == 0:
        return [head, "shortest at every T: the violation is in the first iteration"]
    lines = [head, f"shortest at T={Ts}: " + {
        True: f"yes (BMC at T={Ts}: no violation in iterations 0..{k0 - 1})",
        False: "no (a shorter run exists there)",
        None: "not established (found by simulation; BMC did not decide)"}[base_shortest]]
    deadline = time.perf_counter() + budget_s
    n = len(res.classes())
    for label, copy_of in ((f"with these {n} rank class(es)", res.copy_of),
                           ("with any rank behaviours", None)):
        k, left = res.step, deadline - time.perf_counter()
        caveat = "" if copy_of else "; a shorter run needing more distinct rank behaviours " \
            "than the classes shown is not excluded"
        if k == 0:
            lines.append(f"shorter run at T={T} {label}: none (iteration 0)")
            continue
        if copy_of is not None and base_shortest and k == res.base_step and \
                _argument_applies(res.base.cfg, res.target):
            lines.append(f"shorter run at T={T} with at most {Ts} distinct rank behaviours: "
                         f"none, by the symmetry argument (checker/lift.py; not "
                         f"machine-checked) from the T={Ts} BMC result")
            continue
        if left <= 0:
            lines.append(f"shorter run at T={T} {label}: not checked (its budget of "
                         f"{budget_s:.0f} s is used up){caveat}")
            continue
        status, out = budgeted(bmc_search, (res.variant, replace(res.target, depth=k),
                                            res.prop, copy_of,
                                            copy_of if (scale and copy_of) else None,
                                            _ms(left)), left)
        if status == "ok" and out[0] == bmc.PROVED:
            lines.append(f"shorter run at T={T} {label}: none (BMC at T={T}, iterations "
                         f"0..{k - 1})")
        elif status == "ok" and out[0] == bmc.VIOLATED:
            sc, k2 = out[1], out[2]
            res.scenario, res.step = replace(sc, cfg=replace(sc.cfg, depth=res.target.depth)), k2
            res.method += f"; replaced by a shorter run from BMC at T={T}"
            if copy_of is None:  # not a class-symmetric run any more
                res.copy_of = None
            lines[0] = f"length: {k2 + 1} iteration(s), violation at iteration {k2}"
            lines.append(f"shorter run at T={T} {label}: found by BMC, violation at iteration "
                         f"{k2} (the shortest such run, shown)")
        else:
            why = "timeout" if status == TIMEOUT else out if status != "ok" else \
                f"{out[0]} {out[3]}".strip()
            lines.append(f"shorter run at T={T} {label}: not checked (BMC: {why}){caveat}")
    return lines


def _argument_applies(base: ModelConfig, target: ModelConfig) -> bool:
    """Every rank has its own sender at both sizes and leftover ids do not name ranks."""
    return (base.n_senders == base.tp_size and target.n_senders == target.tp_size
            and base.stale != "per_rank")
