"""Searches at a large T restricted to rank-symmetric runs, each under a hard time budget.

A *class map* `copy_of[r]` names, for every rank r of a T'-rank configuration, the rank of a
small configuration it behaves like; ranks with the same entry form a class and take the same
environment choices in every step (messages, deliver, others_free / others_alloc, what other
requests leave in the blocks they take) and start from the same leftovers and pool occupancy.
When the embedding side scales with T' (topology b, or topology a with one session per
embedding rank) the same holds for the per-sender choices (chunks, chunk_fail) of each
rank's sender. The search space then depends on the number of classes, not on T'.

- `symmetric_simulation`: seeded random class-level scenarios (`simulate.random_scenario` at
  the small configuration), copied to T' with `lift.lift` and replayed on the concrete model.
- `symmetric_bmc`: BMC at T' with the class constraints added to the assumptions (`bmc.build`
  unchanged; the constraints equate the symbols of one class).

Both only ever report runs of the T'-rank model; what they fail to find is not a proof.
`budgeted` runs a search in a forked child process and kills it at its budget, so a solver
or a large unrolling cannot overrun the caller's time limit.
"""

from __future__ import annotations

import multiprocessing as mp
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import z3
from ranksync.spec.config import ModelConfig
from ranksync.spec.model import choice_assumptions, held_assumptions, row_assumptions
from ranksync.spec.ops import PyOps
from ranksync.spec.properties import PROPERTIES
from ranksync.spec.variants import get_variant

from . import bmc
from .scenario import Scenario, from_model
from .simulate import random_scenario

RANK_CHOICES = ("messages", "deliver", "others_free", "others_alloc")
SENDER_CHOICES = ("chunks", "chunk_fail")
TIMEOUT, ERROR = "timeout", "error"


def first_violation(sc: Scenario, prop: str, upto: int | None = None) -> int | None:
    """The first step at which the concrete replay of `sc` violates `prop` (at most `upto`)."""
    run = sc.replay()
    o, bad = PyOps(sc.cfg.block_sizes), PROPERTIES[prop].bad
    last = len(run.steps) - 1 if upto is None else min(upto, len(run.steps) - 1)
    for k in range(last + 1):
        if bad(o, sc.cfg, run, k):
            return k
    return None


def admissible(sc: Scenario) -> bool:
    """The scenario is within its configuration's bounds: the assumptions BMC puts on a run
    (ranges, leftovers as `stale` allows, pool pressure as `pool_pressure` allows, fault
    switches), evaluated on its concrete values."""
    cfg, o, v, p = sc.cfg, PyOps(sc.cfg.block_sizes), get_variant(sc.variant), sc.params()
    (lo, hi), (dlo, dhi) = cfg.length_range, cfg.default_alloc_range
    asm = [lo <= sc.length <= hi, dlo <= sc.default_tokens <= dhi, sc.bs in cfg.block_sizes,
           len(sc.aux0) == len(sc.held) == cfg.tp_size, cfg.topology == "a" or any(p.receives)]
    asm += row_assumptions(o, cfg, v, p, sc.aux0, sc.aux1) + held_assumptions(cfg, sc.held)
    for ch in sc.choices():
        asm += choice_assumptions(o, cfg, v, p, ch)
    return all(bool(x) for x in asm)


def truncated(sc: Scenario, step: int) -> Scenario:
    """The run up to and including `step` (a violation at `step` only looks back)."""
    return replace(sc, schedule=[dict(s) for s in sc.schedule[: step + 1]])


def representatives(copy_of: Sequence[int]) -> list[int]:
    """Per rank, the first rank of its class."""
    first: dict[int, int] = {}
    return [first.setdefault(q, r) for r, q in enumerate(copy_of)]


def constraints(u: bmc.Unrolling, copy_of: Sequence[int], sender_copy_of: Sequence[int] | None
                ) -> list[Any]:
    """Equalities that make every rank of a class (and, when the senders scale, every sender
    of a class) take its representative's choices and leftovers."""
    sy, out = u.sym, []

    def eq(a: Any, b: Any) -> None:
        if z3.is_expr(a) or z3.is_expr(b):
            out.append(a == b)

    for r, q in enumerate(representatives(copy_of)):
        if r == q:
            continue
        eq(sy.receives[r], sy.receives[q])
        eq(sy.held[r], sy.held[q])
        for b in range(u.cfg.pool_blocks):
            eq(sy.aux0[r][b], sy.aux0[q][b])
            eq(sy.aux1[r][b], sy.aux1[q][b])
        for ch in sy.choices:
            for f in RANK_CHOICES:
                eq(getattr(ch, f)[r], getattr(ch, f)[q])
            for b in range(u.cfg.pool_blocks):
                eq(ch.taken_aux0[r][b], ch.taken_aux0[q][b])
                eq(ch.taken_aux1[r][b], ch.taken_aux1[q][b])
    if sender_copy_of is not None:
        for e, q in enumerate(representatives(sender_copy_of)):
            for ch in sy.choices:
                for f in SENDER_CHOICES:
                    if e != q:
                        eq(getattr(ch, f)[e], getattr(ch, f)[q])
    return out


def bmc_search(variant: str, cfg: ModelConfig, prop: str, copy_of: Sequence[int] | None,
               sender_copy_of: Sequence[int] | None, timeout_ms: int
               ) -> tuple[str, Scenario | None, int | None, str]:
    """The shortest violation of `prop` within cfg.depth steps by BMC at cfg.tp_size, among
    the runs where the classes of `copy_of` act alike (None: every run). Returns
    (VIOLATED | PROVED | UNKNOWN, scenario, step, solver reason); the scenario is confirmed
    by a concrete replay."""
    u = bmc.build(cfg, get_variant(variant), timeout_ms)
    if copy_of is not None:
        u.assumptions += constraints(u, copy_of, sender_copy_of)
    res = bmc.check_property(u, PROPERTIES[prop], shortest=True)
    if res.verdict != bmc.VIOLATED:
        return res.verdict, None, None, res.reason
    assert res.model is not None and res.step is not None
    sc = from_model(u, res.model, res.step)
    if first_violation(sc, prop) != res.step:
        raise RuntimeError("internal error: the concrete replay does not reproduce the "
                           "solver's run")
    return bmc.VIOLATED, sc, res.step, ""


def _child(conn: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        conn.send(("ok", fn(*args)))
    except Exception as e:  # reported to the parent, which decides
        conn.send((ERROR, f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


def budgeted(fn: Callable[..., Any], args: tuple[Any, ...], seconds: float
             ) -> tuple[str, Any]:
    """("ok", fn(*args)) if it returns within `seconds`, else (TIMEOUT, None); an exception
    in fn gives (ERROR, message). Runs in a forked child that is killed at the budget (in a
    daemonic worker, which may not fork, it runs in-process and only the solver's own timeout
    bounds it)."""
    if seconds <= 0:
        return TIMEOUT, None
    if mp.current_process().daemon:
        try:
            return "ok", fn(*args)
        except Exception as e:
            return ERROR, f"{type(e).__name__}: {e}"
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child, args=(send, fn, args))
    p.start()
    send.close()
    try:
        if recv.poll(seconds):
            try:
                return tuple(recv.recv())  # type: ignore[return-value]
            except EOFError:
                return ERROR, f"search process died (exit code {p.exitcode})"
        return TIMEOUT, None
    finally:
        if p.is_alive():
            p.terminate()
        p.join()
        recv.close()


def symmetric_simulation(base: Scenario, prop: str, lift_fn: Callable[[Scenario], Scenario],
                         deadline: float, seed: int = 0) -> tuple[Scenario, int, int] | None:
    """Seeded random class-level runs (at the base configuration, its receivers fixed),
    lifted by `lift_fn` and replayed at T' until one violates `prop` or the deadline passes.
    Returns (scenario, step, runs tried)."""
    cfg = base.cfg
    if cfg.topology == "b":  # keep the classes: the base's receivers, not random ones
        cfg = replace(cfg, receivers=tuple(base.receivers))
    rng = random.Random(f"{seed}/symmetric/{base.variant}/{cfg}")
    tried = 0
    while time.perf_counter() < deadline:
        big = lift_fn(random_scenario(cfg, base.variant, rng))
        tried += 1
        k = first_violation(big, prop)
        if k is not None:
            return truncated(big, k), k, tried
    return None
