"""All-depth proofs on a small domain: explicit-state search to a fixpoint.

BMC proves a property up to a bound. When the breadth-first search of the concrete model
(every input of the domain, every environment choice) reaches a depth with no new state, the
reachable set is closed: every reachable state and every transition out of it has been
checked, so each `always` property that held on every transition holds at *every* depth of
that domain. A variant whose state grows without bound (the engine resends resumes while one
is pending, so its message queue grows) never closes; the search then stops at `max_depth`
and claims nothing beyond it.

The search state is the canonical model state plus "a fault has happened" (no_spurious_failure
looks back over the run). Premises are recorded too: a property whose premise no explored
transition reaches is vacuous on the domain, and is reported as such, never as proved.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field, replace
from typing import Any

from ranksync.spec.config import ModelConfig
from ranksync.spec.model import Choices, Run, step
from ranksync.spec.ops import PyOps
from ranksync.spec.properties import PROPERTIES
from ranksync.spec.state import State, copy_rank, init_state
from ranksync.spec.variants import get_variant

from .enumerate import canonical, inputs, none_choices

ALWAYS = [n for n, p in PROPERTIES.items() if p.kind == "always"]


@dataclass
class Fixpoint:
    variant: str
    topology: str
    tp_size: int
    closed: bool  # every input's search reached a depth with no new state
    depth: int  # deepest level explored (the closing depth when closed)
    states: int
    transitions: int
    seconds: float
    violated: dict[str, int] = field(default_factory=dict)  # property -> first depth
    premises: set[str] = field(default_factory=set)  # properties whose premise was reached
    overflow: bool = False  # the model's chunk queue was too small: nothing is claimed

    def verdict(self, prop: str) -> str:
        """PROVED (all depths, this domain) / VIOLATED / VACUOUS / OPEN (did not close)."""
        if prop in self.violated:
            return "VIOLATED"
        if not self.closed:
            return "OPEN"
        return "PROVED" if prop in self.premises else "VACUOUS"


def actions(cfg: ModelConfig) -> list[Choices]:
    """One environment action per step (interleaving). A model step applies any subset of the
    environment actions in a fixed order, then the language iteration; that is the same as
    the sequence of one-action steps in that order (a step without `lang` changes nothing
    else), so both reach the same states, and every property checked on a step is a
    disjunction of what its actions did: a violation in a many-action step is a violation in
    one of its one-action steps. Hence T+T+E+E+... choices instead of 2^(2T+4)."""
    T, E = cfg.tp_size, cfg.n_senders

    def one(**kw: Any) -> Choices:
        return none_choices(cfg, **kw)

    def only(n: int, i: int) -> list[bool]:
        return [j == i for j in range(n)]

    out = [one(messages=only(T, r)) for r in range(T)] + [one(deliver=only(T, r))
                                                          for r in range(T)]
    out += [one(encode=True), one(emb_finish=True), one(lang=True)]
    out += [one(chunks=only(E, e)) for e in range(E)]
    if cfg.faults:
        out += [one(chunks=only(E, e), chunk_fail=only(E, e)) for e in range(E)]
        out.append(one(lang=True, abort=True))
    if cfg.pool_pressure == "shared":
        out += [one(others_alloc=[True] * T), one(others_free=[True] * T)]
    elif cfg.pool_pressure == "per_rank":
        out += [one(others_alloc=list(x)) for x in itertools.product([False, True], repeat=T)
                if any(x)]
        out += [one(others_free=only(T, r)) for r in range(T)]
    return out


def compact(st: State) -> State:
    """The same concrete state with processed or invalid message slots dropped (the model
    only reads slots at or after `inbox_next`/`outbox_next`), so a step's cost stays flat."""
    sess = []
    for s in st.sess:
        c = copy_rank(s)
        c.inbox = [m for j, m in enumerate(s.inbox) if m["valid"] and j >= s.inbox_next]
        c.outbox = [m for j, m in enumerate(s.outbox) if m["valid"] and j >= s.outbox_next]
        c.inbox_next = c.outbox_next = 0
        sess.append(c)
    return replace(st, sess=sess)


def search(cfg: ModelConfig, variant: str, max_depth: int = 40, max_states: int = 200_000
           ) -> Fixpoint:
    """Breadth-first search of every input of `cfg`'s domain until closed, or until
    `max_depth` levels or `max_states` states (then nothing is claimed beyond the levels done)."""
    t0 = time.perf_counter()
    o = PyOps(cfg.block_sizes)
    v = get_variant(variant)
    # the chunk queue (per_session) holds 1 + 4 * sessions entries; a run that would need more
    # is reported as overflow and the search does not count as closed
    cfg = replace(cfg, depth=4)
    acts = actions(cfg)
    res = Fixpoint(variant, cfg.topology, cfg.tp_size, closed=True, depth=0, states=0,
                   transitions=0, seconds=0.0)
    props = {n: PROPERTIES[n] for n in ALWAYS}
    for p, left in inputs(cfg):
        start = init_state(o, cfg, left)
        frontier: dict[Any, tuple[State, bool]] = {(canonical(start), False): (start, False)}
        seen = set(frontier)
        d = 0
        while frontier and d < max_depth and res.states < max_states:
            nxt: dict[Any, tuple[State, bool]] = {}
            for st, _ in frontier.values():
                for ch in acts:
                    st2, rec = step(o, cfg, v, st, p, ch)
                    res.transitions += 1
                    run = Run(params=p, states=[st, st2], steps=[rec])
                    for name, prop in props.items():
                        if prop.premise(o, cfg, run, 0):
                            res.premises.add(name)
                        bad = prop.bad(o, cfg, run, 0)
                        if bad and name not in res.violated:
                            res.violated[name] = d
                    if any(sn.chunks > len(sn.cq) for sn in st2.send):
                        res.overflow = True
                    fault2 = bool(st2.faulted)
                    key = (canonical(st2), fault2)
                    if key not in seen:
                        seen.add(key)
                        nxt[key] = (compact(st2), fault2)
            res.states += len(frontier)
            frontier = nxt
            d += 1
        res.depth = max(res.depth, d)
        res.closed = res.closed and not frontier and not res.overflow
    res.seconds = time.perf_counter() - t0
    return res
