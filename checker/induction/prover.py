"""Checking a stored inductive invariant: one object per (variant, topology) that builds the
one-step queries once and answers several questions with them.

    Init => Inv                       (two ranks, symbolic leftovers)
    Inv /\\ Step => Inv'              (each action class; no queue overflow)
    Inv /\\ Step => not bad           (a property, or a witness that must stay unreachable)

Each answer is PROVED, or a counterexample to induction (the solver model of the pre-state
and the step, with the class and the broken obligation), or UNKNOWN. A property proved this
way holds for every T and every depth (checker/induction/query.py says why), on the
parameter domain of the configuration's [model] ranges.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import z3
from ranksync.spec.config import ModelConfig
from ranksync.spec.model import Run
from ranksync.spec.ops import Ops, Term
from ranksync.spec.variants import Variant

from .clauses import Clause
from .houdini import POST_PAIRS, Terms, replace_tp, solver
from .query import Cls, Env, Query, as_bool, build, envs, init_query, instances

Pred = Any  # (o, cfg, run, k) -> Term, as in spec.properties


@dataclass
class Answer:
    verdict: str  # PROVED | CTI | UNKNOWN
    cls: str = ""
    what: str = ""
    model: Any = None
    query: Query | None = None
    seconds: float = 0.0


class Prover:
    def __init__(self, base: ModelConfig, v: Variant, env: Env, inv: list[Clause],
                 timeout_ms: int) -> None:
        self.base, self.v, self.env, self.inv, self.timeout_ms = base, v, env, inv, timeout_ms
        self._terms: dict[Cls, Terms] = {}
        self._inductive: Answer | None = None

    def terms(self, cls: Cls) -> Terms:
        if cls not in self._terms:
            tm = Terms(build(self.base, self.v, self.env, cls))
            tm.add(self.inv)
            self._terms[cls] = tm
        return self._terms[cls]

    def _solve(self, tm: Terms, goal: list[Any]) -> tuple[Any, z3.ModelRef | None, str]:
        s = solver(self.timeout_ms)
        s.add(*tm.q.assumptions)
        for c in self.inv:
            s.add(*tm.pre[c])
        s.add(z3.Or(*goal))
        r = s.check()
        return r, (s.model() if r == z3.sat else None), (s.reason_unknown()
                                                         if r == z3.unknown else "")

    def initial(self) -> Answer:
        t0 = time.perf_counter()
        o, st, p, asm = init_query(self.base, self.v)
        rk, bk, g = envs(o, replace_tp(self.base, 2), st, p)
        init_t = {c: as_bool(o.And(*instances(o, c, rk, bk, g, POST_PAIRS + [(0, 0)], [0, 1])))
                  for c in self.inv}
        s = solver(self.timeout_ms)
        s.add(*asm)
        s.add(z3.Or(*[z3.Not(t) for t in init_t.values()]) if self.inv else z3.BoolVal(False))
        r = s.check()
        if r == z3.sat:
            m = s.model()
            bad = next(c for c in self.inv if not z3.is_true(m.eval(init_t[c], True)))
            return Answer("CTI", "init", bad.text, m, None, time.perf_counter() - t0)
        if r == z3.unknown:
            return Answer("UNKNOWN", "init", s.reason_unknown(), seconds=time.perf_counter() - t0)
        return Answer("PROVED", seconds=time.perf_counter() - t0)

    def inductive(self) -> Answer:
        """Init => Inv and Inv /\\ Step => Inv' for both classes (memoized)."""
        if self._inductive is not None:
            return self._inductive
        a = self.initial()
        if a.verdict == "PROVED":
            t0 = time.perf_counter()
            for cls in ("env", "lang"):
                tm = self.terms(cls)  # type: ignore[arg-type]
                goal = [z3.Not(tm.post[c]) for c in self.inv] + [as_bool(tm.q.overflow)]
                r, m, why = self._solve(tm, goal)
                if r == z3.unsat:
                    continue
                if m is None:
                    a = Answer("UNKNOWN", cls, why)
                    break
                what = "queue overflow" if z3.is_true(m.eval(as_bool(tm.q.overflow), True)) \
                    else next(c.text for c in self.inv if not z3.is_true(m.eval(tm.post[c], True)))
                a = Answer("CTI", cls, what, m, tm.q)
                break
            a.seconds += time.perf_counter() - t0
        self._inductive = a
        return a

    def excludes(self, name: str, bad: Pred) -> Answer:
        """Inv /\\ Step => not bad(step), for both classes (bad: a property's violation or a
        witness that must be unreachable)."""
        t0 = time.perf_counter()
        for cls in ("env", "lang"):
            tm = self.terms(cls)  # type: ignore[arg-type]
            q = tm.q
            b = as_bool(bad(q.o, q.cfg, q.run, 0))
            r, m, why = self._solve(tm, [b])
            if r == z3.unsat:
                continue
            if m is None:
                return Answer("UNKNOWN", cls, why, seconds=time.perf_counter() - t0)
            return Answer("CTI", cls, name, m, q, time.perf_counter() - t0)
        return Answer("PROVED", seconds=time.perf_counter() - t0)


def chain(pv: Prover, start: list[Clause], stages: list[tuple[Cls, list[Clause]]],
          goal: list[Clause]) -> Answer:
    r"""Bounded response for every T: from any state of Inv /\ `start`, the eager steps of
    `stages` (environment part, language iteration, ...) reach each stage's predicate in turn
    -- a predicate of every rank, so the witnesses of the next step satisfy it too -- the
    last stage implies `goal`, and `goal` persists under further eager steps."""
    t0 = time.perf_counter()
    prev = start
    for k, (cls, stage) in enumerate(stages):
        nxt = start + stage  # the window's start conditions persist (they are monotone)
        a = _implies_after(pv, cls, prev, nxt, f"stage {k + 1} (after {cls})")
        if a.verdict != "PROVED":
            a.seconds = time.perf_counter() - t0
            return a
        prev = nxt
    last = _implies_now(pv, prev, goal)
    if last.verdict != "PROVED":
        last.seconds = time.perf_counter() - t0
        return last
    for cls in ("env", "lang"):  # the goal stays reached
        # from the window's end (start conditions and goal), both persist
        a = _implies_after(pv, cls, start + goal, start + goal,  # type: ignore[arg-type]
                           f"goal persists ({cls})")
        if a.verdict != "PROVED":
            a.seconds = time.perf_counter() - t0
            return a
    return Answer("PROVED", seconds=time.perf_counter() - t0)


def _implies_after(pv: Prover, cls: Cls, pre: list[Clause], post: list[Clause], what: str
                   ) -> Answer:
    q = build(pv.base, pv.v, pv.env, cls, eager=True)
    tm = Terms(q)
    tm.add(pv.inv + pre + post)
    s = solver(pv.timeout_ms)
    s.add(*q.assumptions)
    for c in pv.inv + pre:
        s.add(*tm.pre[c])
    if "poll_transfer" in q.roles:
        # The transfer poll's witness is any rank attaining the MIN. If some session has been
        # marked failed (the ghost `failed_any`, set exactly when some rank's `failed_session`
        # is), that rank exists, and once its Failed status is delivered its poll is the MIN:
        # so the witness may be taken to be it. (Liveness needs this: without it the query
        # could pick a rank that has not failed and keep the group waiting forever.)
        w = q.roles.index("poll_transfer")
        s.add(z3.Implies(as_bool(q.pre.failed_any), as_bool(q.pre.sess[w].failed_session)))
    s.add(z3.Or(*[z3.Not(tm.post[c]) for c in post]))
    r = s.check()
    if r == z3.unsat:
        return Answer("PROVED")
    if r == z3.unknown:
        return Answer("UNKNOWN", cls, s.reason_unknown())
    m = s.model()
    bad = next(c.text for c in post if not z3.is_true(m.eval(tm.post[c], True)))
    return Answer("CTI", cls, f"{what}: {bad}", m, q)


def _implies_now(pv: Prover, pre: list[Clause], goal: list[Clause]) -> Answer:
    r"""Inv /\ pre (every rank) => goal (ranks i, j), on the frame before any step."""
    q = build(pv.base, pv.v, pv.env, "lang", eager=True)
    tm = Terms(q)
    tm.add(pv.inv + pre)
    rk, bk, g = envs(q.o, q.cfg, q.pre, q.params)
    want = [as_bool(q.o.And(*instances(q.o, c, rk, bk, g, POST_PAIRS, [0]))) for c in goal]
    s = solver(pv.timeout_ms)
    s.add(*q.assumptions)
    for c in pv.inv + pre:
        s.add(*tm.pre[c])
    s.add(z3.Or(*[z3.Not(w) for w in want]))
    r = s.check()
    if r == z3.unsat:
        return Answer("PROVED")
    if r == z3.unknown:
        return Answer("UNKNOWN", "", s.reason_unknown())
    return Answer("CTI", "", "the last stage does not imply the goal", s.model(), q)


def step_pred(fn: Any) -> Any:
    """A predicate on (o, cfg, run, k) from one on (o, cfg, run): the query's run has one step."""
    def pred(o: Ops, cfg: ModelConfig, run: Run, k: int) -> Term:
        return fn(o, cfg, run)
    return pred
