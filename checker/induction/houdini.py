"""Houdini over invariant candidates, core-based shrinking, and the check of a stored invariant.

Houdini (Flanagan and Leino): keep the candidates that hold initially; then repeatedly ask for
a step from a state satisfying every kept candidate (for i, j and every witness) to a state
that breaks some of them (for i and j), and drop what breaks; what remains is the strongest
inductive subset. `shrink` then keeps only what the property's proof needs (unsat cores), and
`check` re-checks a stored invariant from scratch: Init => Inv, Inv /\\ Step => Inv', and
Inv /\\ Step => not bad, for each action class. A failed check returns the counterexample to
induction (a solver model of the pre-state and the step), never a bare "no".
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import z3
from ranksync.spec.config import ModelConfig
from ranksync.spec.properties import Property
from ranksync.spec.variants import Variant

from .clauses import Clause
from .query import Cls, Env, Query, as_bool, build, envs, init_query, instances, premise_pairs
from .walk import walk_drops

POST_PAIRS = [(0, 1), (1, 0)]


def solver(timeout_ms: int) -> z3.Solver:
    s = z3.Then("simplify", "propagate-values", "solve-eqs", "bit-blast", "sat").solver()
    s.set("timeout", timeout_ms)
    return s


@dataclass
class Terms:
    """A query's clauses as terms: the premise (every rank / premise pair) and the conclusion
    (i, j) of each clause."""

    q: Query
    pre: dict[Clause, list[Any]] = field(default_factory=dict)
    post: dict[Clause, Any] = field(default_factory=dict)

    def add(self, cs: Iterable[Clause]) -> None:
        q = self.q
        n = q.ranks
        rk, bk, g = envs(q.o, q.cfg, q.pre, q.params)
        rk2, bk2, g2 = envs(q.o, q.cfg, q.post, q.params)
        for c in cs:
            if c in self.pre:
                continue
            self.pre[c] = [as_bool(t) for t in instances(q.o, c, rk, bk, g, premise_pairs(n),
                                                         list(range(n)))]
            self.post[c] = as_bool(q.o.And(*instances(q.o, c, rk2, bk2, g2, POST_PAIRS, [0])))


@dataclass
class Outcome:
    kept: list[Clause]
    dropped: dict[Clause, str]  # clause -> why ("init", "env", "lang")
    queries: int
    seconds: float
    failure: str = ""  # an undroppable obligation failed (overflow), with the class
    model: Any = None
    query: Query | None = None


def _true(m: z3.ModelRef, t: Any) -> bool:
    return bool(z3.is_true(m.eval(t, model_completion=True)))


def houdini(base: ModelConfig, v: Variant, env: Env, cands: list[Clause], timeout_ms: int,
            log: Callable[[str], None] = lambda s: None, with_witnesses: bool = True,
            walk: bool = True, seed: int = 0) -> Outcome:
    t0 = time.perf_counter()
    rng = random.Random(seed)
    out = Outcome(kept=list(cands), dropped={}, queries=0, seconds=0.0)
    # Init
    o, st, p, asm = init_query(base, v)
    rk, bk, g = envs(o, replace_tp(base, 2), st, p)
    init_t = {c: as_bool(o.And(*instances(o, c, rk, bk, g, POST_PAIRS + [(0, 0)], [0, 1])))
              for c in out.kept}
    while True:
        s = solver(timeout_ms)
        s.add(*asm)
        s.add(z3.Or(*[z3.Not(init_t[c]) for c in out.kept]))
        out.queries += 1
        r = s.check()
        if r != z3.sat:
            if r == z3.unknown:
                out.failure = f"init: solver {s.reason_unknown()}"
                return _done(out, t0)
            break
        m = s.model()
        bad = [c for c in out.kept if not _true(m, init_t[c])]
        for c in bad:
            out.dropped[c] = "init"
        out.kept = [c for c in out.kept if c not in bad]
    log(f"init: {len(out.kept)} of {len(cands)} candidates hold")
    terms = {cls: Terms(build(base, v, env, cls, with_witnesses=with_witnesses))  # type: ignore[arg-type]
             for cls in ("env", "lang")}
    # Rounds: the premise is every candidate kept when the round starts (blasted once, in an
    # incremental solver); within a round each model drops what it breaks. A model of a
    # stronger premise is a model of the weaker one, so every drop is justified; a round
    # ends when nothing more breaks under its premise, and Houdini when a round drops nothing.
    changed = True
    while changed:
        changed = False
        for cls, tm in terms.items():
            tm.add(out.kept)
            s = z3.SolverFor("QF_BV")
            s.set("timeout", timeout_ms)
            s.add(*tm.q.assumptions)
            for c in out.kept:
                s.add(*tm.pre[c])
            live = list(out.kept)
            k = 0
            while True:
                k += 1
                goal = z3.Bool(f"goal#{k}")
                s.add(z3.Implies(goal, z3.Or(*[z3.Not(tm.post[c]) for c in live],
                                                 as_bool(tm.q.overflow))))
                out.queries += 1
                r = s.check(goal)
                if r == z3.unsat:
                    break
                if r == z3.unknown:
                    out.failure = f"{cls}: solver {s.reason_unknown()}"
                    return _done(out, t0)
                m = s.model()
                bad = [c for c in live if not _true(m, tm.post[c])]
                if not bad:  # only the overflow: the candidates cannot bound the queues
                    out.failure, out.model, out.query = f"{cls}: queue overflow", m, tm.q
                    return _done(out, t0)
                more = walk_drops(tm.q, m, [c for c in live if c not in bad], rng) \
                    if walk else set()
                for c in bad:
                    out.dropped[c] = cls
                for c in more:
                    out.dropped[c] = f"{cls} (walk)"
                live = [c for c in live if c not in bad and c not in more]
                changed = True
                log(f"{cls}: dropped {len(bad)} + {len(more)} by walks, {len(live)} left")
            out.kept = live
    return _done(out, t0)


def _done(out: Outcome, t0: float) -> Outcome:
    out.seconds = time.perf_counter() - t0
    return out


def replace_tp(base: ModelConfig, n: int) -> ModelConfig:
    from .query import group_config

    return group_config(base, n)


# -- checking one property against an invariant ---------------------------------------------
@dataclass
class Check:
    verdict: str  # PROVED | CTI | VIOLATED_INIT | UNKNOWN
    cls: str = ""
    what: str = ""  # the broken obligation: a clause, "overflow" or the property
    model: Any = None
    query: Query | None = None
    seconds: float = 0.0
    queries: int = 0


def check(base: ModelConfig, v: Variant, env: Env, inv: list[Clause], prop: Property | None,
          timeout_ms: int, queries: dict[Cls, Query] | None = None) -> Check:
    """Init => Inv; for each class: Inv /\\ Step => Inv' /\\ no overflow /\\ not bad."""
    t0 = time.perf_counter()
    n = 0
    o, st, p, asm = init_query(base, v)
    rk, bk, g = envs(o, replace_tp(base, 2), st, p)
    s = solver(timeout_ms)
    s.add(*asm)
    init_t = {c: as_bool(o.And(*instances(o, c, rk, bk, g, POST_PAIRS + [(0, 0)], [0, 1])))
              for c in inv}
    s.add(z3.Or(*[z3.Not(t) for t in init_t.values()]) if inv else z3.BoolVal(False))
    n += 1
    r = s.check()
    if r == z3.sat:
        m = s.model()
        bad = next(c for c in inv if not _true(m, init_t[c]))
        return Check("VIOLATED_INIT", "init", bad.text, m, None, time.perf_counter() - t0, n)
    if r == z3.unknown:
        return Check("UNKNOWN", "init", s.reason_unknown(), seconds=time.perf_counter() - t0,
                     queries=n)
    for cls in ("env", "lang"):
        q = (queries or {}).get(cls) or build(base, v, env, cls)  # type: ignore[arg-type]
        tm = Terms(q)
        tm.add(inv)
        s = solver(timeout_ms)
        s.add(*q.assumptions)
        for c in inv:
            s.add(*tm.pre[c])
        bad_p = as_bool(prop.bad(q.o, q.cfg, q.run, 0)) if prop is not None else z3.BoolVal(False)
        goal = [z3.Not(tm.post[c]) for c in inv] + [as_bool(q.overflow), bad_p]
        s.add(z3.Or(*goal))
        n += 1
        r = s.check()
        if r == z3.unsat:
            continue
        if r == z3.unknown:
            return Check("UNKNOWN", cls, s.reason_unknown(), seconds=time.perf_counter() - t0,
                         queries=n)
        m = s.model()
        if prop is not None and _true(m, bad_p):
            what = prop.name
        elif _true(m, as_bool(q.overflow)):
            what = "overflow"
        else:
            what = next(c.text for c in inv if not _true(m, tm.post[c]))
        return Check("CTI", cls, what, m, q, time.perf_counter() - t0, n)
    return Check("PROVED", seconds=time.perf_counter() - t0, queries=n)
