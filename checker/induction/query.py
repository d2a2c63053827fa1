"""One-step queries for every T: two concrete ranks plus witnesses for the rest of the group.

Ranks of the language group touch each other only through reductions: the collectives of an
iteration (MIN polls, MAX all-reduces, the `alloc_agree` MIN), the deadlock of mismatched
collective sequences, and on the embedding side the all-senders-ready condition of the first
chunk and the inflight MIN over senders. The query models ranks 0 and 1 (any two ranks `i`,
`j` of a group of any size T) and, per reduction of the step, one *witness* rank: a rank whose
contribution is the reduction's result (for the deadlock: a rank whose collective sequence
differs from rank 0's, if any rank's does). Every rank of the query starts in an arbitrary
state that satisfies the invariant (the frame, checker/induction/frame.py).

Why this is sound for every T (the GPUVerify two-thread reduction and the CMP method, made
exact by the witnesses): take any T-rank state in which the invariant holds for every rank and
every pair, and any step from it. Pick i, j and, per reduction, a rank attaining its result
(if that rank is i or j, or T is 1, use a copy of it: MIN, MAX and AND are idempotent, so a
copy changes no result and no collective sequence). These ranks' states satisfy the query's
premise, their step in the query computes the same reduction results as in the T-rank step
(the extremum is among them), hence the same next states of i and j. So if the query proves
the invariant for (i, j) after the step, it holds for every pair of every group; and if it
proves a property's violation impossible for the ranks of the query, no rank of any group
violates it. Embedding ranks: one per language rank (topology b, and topology a with E >= T);
several sessions on one embedding rank are not covered.

Two action classes keep the witness count low (fixpoint.py's interleaving argument: a model
step is its environment part followed by its language iteration, and every property is a
disjunction over the two parts): `env` (every environment action, no iteration) and `lang`
(one iteration, no environment action but aborts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import z3
from ranksync.spec.config import ModelConfig
from ranksync.spec.model import (
    Choices,
    Run,
    StepRecord,
    choice_assumptions,
    held_assumptions,
    leftovers,
    make_choices,
    row_assumptions,
    step,
)
from ranksync.spec.ops import Z3Ops
from ranksync.spec.state import State, init_state
from ranksync.spec.variants import Variant

from ..bmc import model_width
from . import observables as obs
from .clauses import Clause
from .frame import Capacity, Fresh, havoc, normalize, symbolic_params

Env = Literal["model", "havoc"]
Cls = Literal["env", "lang"]


def witnesses(v: Variant, env: Env, cls: Cls) -> list[str]:
    """The reductions of one action class, each needing a witness rank."""
    if cls == "env":
        return [] if env == "havoc" else ["first chunk: every sender ready", "inflight MIN"]
    out = ["poll_prealloc", "poll_transfer", "deadlock"]
    if v.sync_op is not None:
        out += ["sync_total", "sync_sent"] if v.sync_sent else ["sync_total"]
    if v.alloc_agree:
        out += ["agree_prealloc", "agree_resume"]
    return out


def group_config(base: ModelConfig, ranks: int) -> ModelConfig:
    """The query's model: `ranks` language ranks, one embedding rank each."""
    if base.topology == "a":
        return replace(base, tp_size=ranks, embedding_tp_size=ranks, receivers=None)
    return replace(base, tp_size=ranks, receivers=None)


@dataclass
class Query:
    cfg: ModelConfig
    variant: Variant
    env: Env
    cls: Cls
    o: Z3Ops
    pre: State
    post: State
    run: Run
    params: Any
    overflow: Any
    assumptions: list[Any]
    roles: list[str]  # per rank: "i", "j" or the reduction it witnesses
    start: State  # what the step starts from (the frame, or the frame after an arbitrary env)
    choices: Choices

    @property
    def ranks(self) -> int:
        return self.cfg.tp_size


def class_choices(cfg: ModelConfig, cls: Cls, w: int, eager: bool = False) -> Choices:
    """The step's choices with the actions of the other class fixed off (as constants, so
    their code folds away while the terms are built). `eager`: a fair, fault-free step of
    the class (spec.model.eager): every environment action fires, no abort, no chunk
    failure, no other request takes blocks (one may free some)."""
    ch = make_choices(cfg, lambda n: z3.Bool(f"ch.{n}"), lambda n: z3.BitVec(f"ch.{n}", w))
    T, E = cfg.tp_size, cfg.n_senders
    if cls == "env":
        ch.lang, ch.abort = False, False
        if eager:
            ch.messages, ch.deliver = [True] * T, [True] * T
            ch.chunks, ch.chunk_fail = [True] * E, [False] * E
            ch.encode = ch.emb_finish = True
            ch.others_alloc = [False] * T
        return ch
    ch.messages, ch.deliver = [False] * T, [False] * T
    ch.chunks, ch.chunk_fail = [False] * E, [False] * E
    ch.encode = ch.emb_finish = False
    ch.others_free, ch.others_alloc = [False] * T, [False] * T
    ch.lang = True
    if eager:
        ch.abort = False
    return ch


def havoc_env(o: Z3Ops, cfg: ModelConfig, st: State, fresh: Fresh) -> list[Any]:
    """An arbitrary environment as the language ranks see it: any status delivered, any
    buffer contents. Returns the range constraints of the new values."""
    asm = []
    for r, lr in enumerate(st.lang):
        s = fresh(f"env.status{r}", 0)
        asm += [s >= -1, s <= 4]
        lr.status = s
        lr.content = [fresh(f"env.content{r}[{i}]", 0) for i in range(len(lr.content))]
        lr.cnt = [fresh(f"env.cnt{r}[{b}]", 0) for b in range(len(lr.cnt))]
        lr.aux0 = [fresh(f"env.aux0{r}[{b}]", 0) for b in range(len(lr.aux0))]
        lr.aux1 = [fresh(f"env.aux1{r}[{b}]", 0) for b in range(len(lr.aux1))]
        lr.aux_room = [fresh(f"env.room{r}[{b}]", False) for b in range(len(lr.aux_room))]
        asm += [x >= 0 for x in lr.cnt] + [x <= cfg.slots for x in lr.cnt]
    st.faulted = o.Or(st.faulted, fresh("env.fault", False))
    return asm


def build(base: ModelConfig, v: Variant, env: Env, cls: Cls, cap: Capacity | None = None,
          with_witnesses: bool = True, eager: bool = False) -> Query:
    """The query of one action class. Without witnesses it is the exact T = 2 system (a
    cheap first stage for Houdini), not a proof for every T."""
    cap = cap or Capacity()
    roles = ["i", "j"] + (witnesses(v, env, cls) if with_witnesses else [])
    cfg = group_config(base, len(roles))
    w = model_width(cfg)
    o = Z3Ops(cfg.block_sizes, w)
    fresh = Fresh("pre", w)
    pre = havoc(cfg, cap, fresh)
    p, asm = symbolic_params(cfg, w)
    ch = class_choices(cfg, cls, w, eager)
    asm += [a for a in choice_assumptions(o, cfg, v, p, ch) if not isinstance(a, bool)]
    start = pre
    if env == "havoc" and cls == "env":
        from ranksync.spec.state import copy_state

        start = copy_state(pre)
        asm += havoc_env(o, cfg, start, Fresh("env", w))
    post, rec = step(o, cfg, v, start, p, ch)
    post_n, over = normalize(o, post, cap)
    if env == "havoc":
        over = False  # the embedding side is not modelled: its queues are never read
    run = Run(params=p, states=[pre, post_n], steps=[rec])
    return Query(cfg, v, env, cls, o, pre, post_n, run, p, over,
                 [a for a in asm if not isinstance(a, bool)], roles, start, ch)


def init_query(base: ModelConfig, v: Variant) -> tuple[Z3Ops, State, Any, list[Any]]:
    """`Init` of two ranks with symbolic leftovers (history, pool pressure as configured)."""
    cfg = group_config(base, 2)
    w = model_width(cfg)
    o = Z3Ops(cfg.block_sizes, w)
    p, asm = symbolic_params(cfg, w)
    P, T = cfg.pool_blocks, cfg.tp_size
    aux0 = [[z3.BitVec(f"init.aux0[{r}][{b}]", w) for b in range(P)] for r in range(T)]
    aux1 = [[z3.BitVec(f"init.aux1[{r}][{b}]", w) for b in range(P)] for r in range(T)]
    held = [z3.BitVec(f"init.held[{r}]", w) for r in range(T)]
    asm += row_assumptions(o, cfg, v, p, aux0, aux1) + held_assumptions(cfg, held)
    st = init_state(o, cfg, leftovers(o, cfg, v, p, aux0, aux1, held))
    return o, st, p, [a for a in asm if not isinstance(a, bool)]


# -- instantiating clauses -------------------------------------------------------------------
def envs(o: Z3Ops, cfg: ModelConfig, st: State, p: Any
         ) -> tuple[list[Mapping[str, Any]], list[list[dict[str, Any]]], dict[str, Any]]:
    ranks: list[Mapping[str, Any]] = [obs.rank(o, cfg, st, p, r) for r in range(cfg.tp_size)]
    blocks = [[obs.block(o, cfg, st, r, b) for b in range(cfg.pool_blocks)]
              for r in range(cfg.tp_size)]
    return ranks, blocks, obs.globals_(st, p)


def instances(o: Z3Ops, c: Clause, ranks: list[Mapping[str, Any]],
              blocks: list[list[dict[str, Any]]], g: dict[str, Any],
              pairs: list[tuple[int, int]], singles: list[int]) -> list[Any]:
    """The clause for the given ranks / pairs of ranks, every block."""
    sc = c.scope
    if sc == "global":
        return [c.eval(o, {"g": g})]
    if sc == "rank":
        return [c.eval(o, {"i": ranks[r], "g": g}) for r in singles]
    if sc == "pair":
        return [c.eval(o, {"i": ranks[a], "j": ranks[b], "g": g}) for a, b in pairs]
    nb = len(blocks[0])
    if sc == "block":
        return [c.eval(o, {"i": ranks[r], "ib": blocks[r][x], "g": g})
                for r in singles for x in range(nb)]
    return [c.eval(o, {"i": ranks[a], "j": ranks[b], "ib": blocks[a][x], "jb": blocks[b][x],
                       "g": g}) for a, b in pairs for x in range(nb)]


def premise_pairs(n: int) -> list[tuple[int, int]]:
    """Pairs the premise constrains: (i, j) and each concrete rank with each witness."""
    out = [(0, 1), (1, 0)]
    for w in range(2, n):
        out += [(0, w), (w, 0), (1, w), (w, 1)]
    return out


def as_bool(t: Any) -> Any:
    return z3.BoolVal(t) if isinstance(t, bool) else t


__all__ = ["Query", "StepRecord", "build", "init_query", "envs", "instances", "premise_pairs",
           "witnesses", "as_bool"]
