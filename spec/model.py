"""The transition system: `Next` = environment actions, then one language iteration.

One step of the model (TLA+ style, each line a named action of protocol.md):

    Next == /\\ \\A r : embedding_thread(r)            \\* §7.4   if messages[r]
            /\\ scheduler_send_first_chunk           \\* §7.1.3 if encode
            /\\ \\A e : transfer_worker(e)             \\* §7.3   if chunks[e]
            /\\ scheduler_inflight_poll               \\* §7.1.4 if emb_finish
            /\\ \\A r : language_thread_deliver(r)     \\* §3.2   if deliver[r]
            /\\ \\A r : others_free(r), others_alloc(r) \\* §5.2   other live requests
            /\\ process_multimodal_language_queue     \\* §8.2   if lang

Every nondeterministic choice of the environment (protocol.md §13) is an input of the step,
so the same code runs symbolically (Z3 variables, for BMC and induction) and concretely
(Python values, for simulation, explicit search, traces and counterexample replay).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import allocator, content
from . import embedding as emb
from .branches import LangObs
from .config import ModelConfig
from .language import process_multimodal_language_queue
from .ops import Ops, Term
from .state import Leftovers, State, copy_state, init_state
from .variants import Variant


@dataclass
class Choices:
    """The environment's choices for one step (docs/trace-format.md "Schedule")."""

    messages: list[Term]  # per language rank
    encode: Term
    chunks: list[Term]  # per embedding rank (sender)
    chunk_fail: list[Term]
    emb_finish: Term
    deliver: list[Term]  # per language rank
    abort: Term
    others_free: list[Term]  # per language rank
    others_alloc: list[Term]  # per language rank
    lang: Term
    # what other requests leave in the blocks others_alloc gives them: [rank][block]
    taken_aux0: list[list[Term]]
    taken_aux1: list[list[Term]]


def make_choices(cfg: ModelConfig, fresh: Callable[[str], Term],
                 fresh_int: Callable[[str], Term]) -> Choices:
    T, E, P = cfg.tp_size, cfg.n_senders, cfg.pool_blocks
    return Choices(
        messages=[fresh(f"messages[{r}]") for r in range(T)],
        encode=fresh("encode"),
        chunks=[fresh(f"chunks[{e}]") for e in range(E)],
        chunk_fail=[fresh(f"chunk_fail[{e}]") for e in range(E)],
        emb_finish=fresh("emb_finish"),
        deliver=[fresh(f"deliver[{r}]") for r in range(T)],
        abort=fresh("abort"),
        others_free=[fresh(f"others_free[{r}]") for r in range(T)],
        others_alloc=[fresh(f"others_alloc[{r}]") for r in range(T)],
        lang=fresh("lang"),
        taken_aux0=[[fresh_int(f"taken_aux0[{r}][{b}]") for b in range(P)] for r in range(T)],
        taken_aux1=[[fresh_int(f"taken_aux1[{r}][{b}]") for b in range(P)] for r in range(T)],
    )


def receives_data(v: Variant, p: emb.Params, r: int) -> Term:
    """Rank r gets data from its sender (topology b: a receiver, or every rank under the design
    `data_to_all`). The same holds for every earlier request: the deployment is fixed."""
    return True if v.data_to_all else p.receives[r]


def leftover_content(o: Ops, cfg: ModelConfig, v: Variant, p: emb.Params, r: int, b: int,
                     s: int) -> Term:
    """What earlier or other requests left in slot s of block b of rank r (spec/content.py)."""
    if cfg.stale == "zeros":
        return content.ZERO
    own = content.stale(cfg, b, s, r if cfg.stale == "per_rank" else None)
    return o.If(receives_data(v, p, r), own, content.ZERO)


def leftovers(o: Ops, cfg: ModelConfig, v: Variant, p: emb.Params, aux0: Sequence[Sequence[Term]],
              aux1: Sequence[Sequence[Term]], held: Sequence[Term]) -> list[Leftovers]:
    """`Init`'s buffers and pool per rank from the (symbolic or concrete) leftover rows."""
    S = cfg.slots
    return [Leftovers(aux0=list(aux0[r]), aux1=list(aux1[r]),
                      content=[leftover_content(o, cfg, v, p, r, b, s)
                               for b in range(cfg.pool_blocks) for s in range(S)],
                      held=held[r]) for r in range(cfg.tp_size)]


def row_assumptions(o: Ops, cfg: ModelConfig, v: Variant, p: emb.Params,
                    aux0: Sequence[Sequence[Term]], aux1: Sequence[Sequence[Term]]) -> list[Term]:
    """What `stale` allows of leftover aux rows ([rank][block]): any row an earlier request
    could leave, the same on every rank that received it (history), nothing on a rank that
    receives no data."""
    hi, dmax = cfg.length_range[1], cfg.mrope_delta + 1
    out: list[Term] = []
    for r in range(cfg.tp_size):
        rec = receives_data(v, p, r)
        for b in range(cfg.pool_blocks):
            a0, a1 = aux0[r][b], aux1[r][b]
            if cfg.stale == "zeros":
                out += [a0 == 0, a1 == 0]
                continue
            out += [a0 >= 0, a0 <= hi, a1 >= 0, a1 <= dmax]
            out += [o.Or(rec, a0 == 0), o.Or(rec, a1 == 0)]
            if cfg.stale == "history":
                for q in range(r):
                    both = o.And(rec, receives_data(v, p, q))
                    out += [o.Or(o.Not(both), a0 == aux0[q][b]),
                            o.Or(o.Not(both), a1 == aux1[q][b])]
    return out


def held_assumptions(cfg: ModelConfig, held: Sequence[Term]) -> list[Term]:
    """Blocks other requests hold at the start: within `held_range`, alike on every rank
    unless pool pressure is a per-rank what-if."""
    h0, h1 = cfg.held
    out: list[Term] = []
    for h in held:
        out += [h >= h0, h <= h1]
        if cfg.pool_pressure != "per_rank":
            out.append(h == held[0])
    return out


def choice_assumptions(o: Ops, cfg: ModelConfig, v: Variant, p: emb.Params, ch: Choices
                       ) -> list[Term]:
    """Restrictions the configuration puts on the environment."""
    out: list[Term] = []
    if not cfg.faults:
        out += [o.Not(ch.abort)] + [o.Not(x) for x in ch.chunk_fail]
    out += [o.Or(o.Not(f), c) for f, c in zip(ch.chunk_fail, ch.chunks, strict=True)]
    if cfg.pool_pressure == "none":
        out += [o.Not(x) for x in ch.others_alloc + ch.others_free]
    elif cfg.pool_pressure == "shared":  # other requests run on every rank alike
        out += [x == ch.others_alloc[0] for x in ch.others_alloc[1:]]
        out += [x == ch.others_free[0] for x in ch.others_free[1:]]
    out += row_assumptions(o, cfg, v, p, ch.taken_aux0, ch.taken_aux1)
    return out


def eager(o: Ops, ch: Choices) -> Term:
    """A fair, fault-free step: every enabled environment action fires, the language iterates,
    and no other request takes blocks."""
    return o.And(*ch.messages, ch.encode, *ch.chunks, ch.emb_finish, *ch.deliver, ch.lang,
                 o.Not(ch.abort), *[o.Not(x) for x in ch.others_alloc],
                 *[o.Not(x) for x in ch.chunk_fail])


def _faults(o: Ops, ch: Choices) -> Term:
    return o.Or(o.And(ch.abort, ch.lang), *ch.chunk_fail, *ch.others_alloc)


@dataclass
class StepRecord:
    choices: Choices
    effects: emb.Effects
    obs: list[LangObs]
    mismatch: Term  # the ranks' collective sequences differed: deadlock from here on
    iterated: Term  # a language iteration ran (lang and no earlier deadlock)
    encoded_before: Term
    eager: Term
    encode_fired: Term  # `encode` was enabled and fired (a disabled choice is a no-op)
    taken: list[list[Term]]  # per rank and block: given to other requests by others_alloc


def pool_actions(o: Ops, cfg: ModelConfig, v: Variant, st: State, p: emb.Params, ch: Choices
                 ) -> list[list[Term]]:
    """Other live requests free, then allocate, on the ranks the choices name (§5.2)."""
    taken = []
    for r, lr in enumerate(st.lang):
        allocator.others_free(o, lr, ch.others_free[r])
        left = [leftover_content(o, cfg, v, p, r, b, s)
                for b in range(cfg.pool_blocks) for s in range(cfg.slots)]
        taken.append(allocator.others_alloc(o, lr, ch.others_alloc[r], cfg.slots,
                                            ch.taken_aux0[r], ch.taken_aux1[r], left))
    return taken


def step(o: Ops, cfg: ModelConfig, v: Variant, st0: State, p: emb.Params, ch: Choices
         ) -> tuple[State, StepRecord]:
    T = cfg.tp_size
    st = copy_state(st0)
    eff = emb.Effects(writes=[[] for _ in range(T)], delivered=[[] for _ in range(T)])
    encoded_before = st.encoded
    for r in range(T):
        emb.embedding_thread(o, cfg, v, st, r, ch.messages[r])
    encode_fired = emb.scheduler_send_first_chunk(o, cfg, st, ch.encode)
    for e in range(cfg.n_senders):
        emb.transfer_worker(o, cfg, v, st, p, e, ch.chunks[e], ch.chunk_fail[e], eff)
    emb.scheduler_inflight_poll(o, cfg, st, p, ch.emb_finish)
    for r in range(T):
        emb.language_thread_deliver(o, st, r, ch.deliver[r], eff)
    taken = pool_actions(o, cfg, v, st, p, ch)

    iterated = o.And(ch.lang, o.Not(st.deadlock))
    obs = process_multimodal_language_queue(o, cfg, v, st, p, ch.abort, iterated)
    sig = [(ob.poll_pre, ob.poll_tr, ob.n_max, ob.n_min_pre, ob.n_min_tr) for ob in obs]
    mismatch = o.Or(*[o.Or(*[a != b for a, b in zip(s, sig[0], strict=True)]) for s in sig[1:]])
    mismatch = o.And(iterated, mismatch)
    # A deadlocked iteration does not complete; what the state would be is meaningless, so
    # from here on the language is frozen and every property is masked (`properties.live`).
    st.deadlock = o.Or(st.deadlock, mismatch)
    st.faulted = o.Or(st.faulted, _faults(o, ch))
    rec = StepRecord(choices=ch, effects=eff, obs=obs, mismatch=mismatch, iterated=iterated,
                     encoded_before=encoded_before, eager=eager(o, ch),
                     encode_fired=encode_fired, taken=taken)
    return st, rec


@dataclass
class Run:
    params: emb.Params
    states: list[State]  # states[0] = Init, states[k+1] after step k
    steps: list[StepRecord]


def unroll(o: Ops, cfg: ModelConfig, v: Variant, p: emb.Params, left: list[Leftovers],
           choices: Sequence[Choices]) -> Run:
    st = init_state(o, cfg, left)
    states, recs = [st], []
    for ch in choices:
        st, rec = step(o, cfg, v, st, p, ch)
        states.append(st)
        recs.append(rec)
    return Run(params=p, states=states, steps=recs)
