"""Explicit-state enumeration of the concrete model (Stateright-style breadth-first search).

Used two ways: tests pin the number of reachable states of a tiny configuration (so any
unintended change to the model fails loudly), and the benchmark checks the prover's
obligations by brute force on a small domain and compares the time with BMC.

States are canonicalised before hashing: processed or invalid message slots are dropped
(future behaviour depends only on the pending ones).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any

from ranksync.spec.config import ModelConfig
from ranksync.spec.embedding import Params
from ranksync.spec.model import Choices, Run, StepRecord, leftovers, step
from ranksync.spec.ops import PyOps
from ranksync.spec.properties import PROPERTIES
from ranksync.spec.state import Leftovers, State, init_state
from ranksync.spec.variants import SEED, get_variant


def _canon(x: Any) -> Any:
    if isinstance(x, list):
        return tuple(_canon(v) for v in x)
    if isinstance(x, dict):
        return tuple(sorted((k, _canon(v)) for k, v in x.items()))
    if hasattr(x, "__dataclass_fields__"):
        return tuple(_canon(getattr(x, f.name)) for f in fields(x))
    return x


def canonical(st: State) -> Any:
    sess = []
    for s in st.sess:
        inbox = [m for j, m in enumerate(s.inbox) if m["valid"] and j >= s.inbox_next]
        outbox = [m["status"] for j, m in enumerate(s.outbox) if m["valid"] and j >= s.outbox_next]
        rest = {f.name: getattr(s, f.name) for f in fields(s)
                if f.name not in ("inbox", "outbox", "inbox_next", "outbox_next")}
        sess.append((_canon(inbox), tuple(outbox), _canon(rest)))
    return (_canon(st.lang), tuple(sess), _canon(st.send), st.encoded, st.src_alive,
            st.src_frees, st.deadlock)


def none_choices(cfg: ModelConfig, **kw: Any) -> Choices:
    """The empty step (every environment action off, no iteration), with `kw` set."""
    T, E, P = cfg.tp_size, cfg.n_senders, cfg.pool_blocks
    base: dict[str, Any] = {
        "messages": [False] * T, "encode": False, "chunks": [False] * E,
        "chunk_fail": [False] * E, "emb_finish": False, "deliver": [False] * T,
        "abort": False, "others_free": [False] * T, "others_alloc": [False] * T,
        "lang": False, "taken_aux0": [[0] * P for _ in range(T)],
        "taken_aux1": [[0] * P for _ in range(T)]}
    return Choices(**{**base, **kw})


def actions(cfg: ModelConfig) -> list[Choices]:
    """Environment choices: per-rank message draining and delivery, one chunk per sender,
    encode, inflight poll, iterate; faults and pool pressure (uniform over ranks) as the
    configuration allows. Other requests leave zeros in blocks they take (small domain)."""
    T, E = cfg.tp_size, cfg.n_senders
    out = []
    fault_opts: list[tuple[bool, bool, bool, bool]] = [(False, False, False, False)]
    if cfg.faults:
        fault_opts += [(True, False, False, False), (False, True, False, False)]
    if cfg.pool_pressure != "none":
        fault_opts += [(False, False, True, False), (False, False, False, True)]
    for msgs, dlv in itertools.product(itertools.product([False, True], repeat=T), repeat=2):
        for enc, chunk, fin, lang in itertools.product([False, True], repeat=4):
            for abort, cfail, take, give in fault_opts:
                if cfail and not chunk:
                    continue
                out.append(none_choices(
                    cfg, messages=list(msgs), encode=enc, chunks=[chunk] * E,
                    chunk_fail=[cfail] * E, emb_finish=fin, deliver=list(dlv), abort=abort,
                    others_alloc=[take] * T, others_free=[give] * T, lang=lang))
    return out


@dataclass
class Enumeration:
    states_per_depth: list[int] = field(default_factory=list)
    transitions: int = 0
    violations: dict[str, int] = field(default_factory=dict)  # property -> first depth

    @property
    def states(self) -> int:
        return sum(self.states_per_depth)


def inputs(cfg: ModelConfig) -> Iterator[tuple[Params, list[Leftovers]]]:
    """Every value of the symbolic parameters: L, block size, default allocation, receivers
    and blocks held by other requests (leftover aux rows: zeros only, to stay small)."""
    T, P = cfg.tp_size, cfg.pool_blocks
    o = PyOps(cfg.block_sizes)
    rec_sets: list[list[bool]] = [[True] * T] if cfg.topology == "a" else (
        [[r in cfg.receivers for r in range(T)]] if cfg.receivers is not None else
        [list(b) for b in itertools.product([False, True], repeat=T) if any(b)])
    h0, h1 = cfg.held
    for L in range(cfg.length_range[0], cfg.length_range[1] + 1):
        for bs in cfg.block_sizes:
            for D in range(cfg.default_alloc_range[0], cfg.default_alloc_range[1] + 1):
                for rec in rec_sets:
                    for h in range(h0, h1 + 1):
                        p = Params(L, bs, D, list(rec), cfg.mrope_delta)
                        zeros = [[0] * P for _ in range(T)]
                        yield p, leftovers(o, cfg, SEED, p, zeros, zeros, [h] * T)


def enumerate_states(cfg: ModelConfig, variant: str, check: bool = True) -> Enumeration:
    """Breadth-first search to cfg.depth over every input and environment choice; with
    `check`, also the first depth at which each `always` property is violated."""
    o = PyOps(cfg.block_sizes)
    v = get_variant(variant)
    acts = actions(cfg)
    res = Enumeration(states_per_depth=[0] * (cfg.depth + 1))
    # single-step invariants only: no_spurious_failure looks back over the run's faults
    always = {n: p for n, p in PROPERTIES.items()
              if p.kind == "always" and n != "no_spurious_failure"}
    for p, left in inputs(cfg):
        frontier = {canonical(s): s for s in [init_state(o, cfg, left)]}
        seen = set(frontier)
        res.states_per_depth[0] += 1
        for d in range(cfg.depth):
            nxt: dict[Any, State] = {}
            for st in frontier.values():
                for ch in acts:
                    st2, rec = step(o, cfg, v, st, p, ch)
                    res.transitions += 1
                    if check:
                        _check(o, cfg, always, st, st2, rec, p, d, res)
                    c = canonical(st2)
                    if c not in seen:
                        seen.add(c)
                        nxt[c] = st2
            res.states_per_depth[d + 1] += len(nxt)
            frontier = nxt
    return res


def _check(o: PyOps, cfg: ModelConfig, props: dict[str, Any], st: State, st2: State,
           rec: StepRecord, p: Params, d: int, res: Enumeration) -> None:
    run = Run(params=p, states=[st, st2], steps=[rec])
    for name, prop in props.items():
        if name not in res.violations and prop.bad(o, cfg, run, 0):
            res.violations[name] = d
