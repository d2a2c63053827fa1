"""Concrete walks from a counterexample to induction: many Houdini drops per solver call.

The solver's model gives a state of the query's ranks that satisfies every kept candidate on
the pairs the premise constrains. Random steps of the concrete model from it (environment
part and language iteration as separate steps, the queries' action classes) give more
states; whenever a state satisfies every kept candidate on every rank, pair and block, a
candidate that fails in its successor is not inductive and is dropped -- the same
justification as a solver model, found without a solver call. Ranks of the query are
interchangeable, so any pair may play i and j.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import z3
from ranksync.spec.embedding import Params
from ranksync.spec.model import step
from ranksync.spec.ops import PyOps

from ..scenario import Scenario
from ..simulate import random_schedule
from .clauses import Clause
from .frame import concrete
from .mine import Samples, split_schedule, tabulate
from .query import Query
from .vector import failing_states


def _val(m: z3.ModelRef, x: Any) -> Any:
    if isinstance(x, bool | int):
        return x
    v = m.eval(x, model_completion=True)
    return z3.is_true(v) if z3.is_bool(v) else v.as_signed_long()


def walk_drops(q: Query, m: z3.ModelRef, live: list[Clause], rng: random.Random,
               walks: int = 6) -> set[Clause]:
    cfg = q.cfg
    o = PyOps(cfg.block_sizes)
    p = Params(length=_val(m, q.params.length), bs=_val(m, q.params.bs),
               default_tokens=_val(m, q.params.default_tokens),
               receives=[bool(_val(m, x)) for x in q.params.receives], delta=q.params.delta)
    start = concrete(m, q.pre)
    data = [r for r in range(cfg.tp_size) if q.variant.data_to_all or p.receives[r]]
    states: list[Any] = []
    succ: list[int] = []  # index of the successor state, -1 at a walk's end
    for _ in range(walks):
        sched = split_schedule(random_schedule(cfg, data, rng))
        sc = Scenario(cfg=cfg, variant=q.variant.name, length=p.length, bs=p.bs,
                      default_tokens=p.default_tokens, receivers=data, aux0=[], aux1=[],
                      held=[0] * cfg.tp_size, schedule=sched)
        st = start
        for ch in sc.choices():
            states.append(st)
            succ.append(len(states))
            st, _rec = step(o, cfg, q.variant, st, p, ch)
            if st.deadlock:
                break
        states.append(st)
        succ.append(-1)
    tab = tabulate(Samples(cfg, [(s, p, cfg) for s in states]))
    n = len(states)
    fails = np.stack([failing_states(c, tab, n) for c in live]) if live else np.zeros((0, n))
    succ_a = np.array(succ)
    has_succ = succ_a >= 0
    alive = np.ones(len(live), dtype=bool)
    dropped: set[Clause] = set()
    while True:
        ok = ~fails[alive].any(axis=0)  # states where every kept candidate holds
        src = ok & has_succ
        bad = fails[:, succ_a[src]].any(axis=1) & alive if src.any() else np.zeros_like(alive)
        if not bad.any():
            return dropped
        for k in np.flatnonzero(bad):
            dropped.add(live[k])
        alive &= ~bad
