"""The transition system: `Next` = environment actions, then one language iteration.

One step of the model (TLA+ style, each line a named action of protocol.md):

    Next == /\\ \\A r : embedding_thread(r)            \\* §7.4   if messages[r]
            /\\ scheduler_send_first_chunk           \\* §7.1.3 if encode
            /\\ \\A e : transfer_worker(e)             \\* §7.3   if chunks[e]
            /\\ scheduler_inflight_poll               \\* §7.1.4 if emb_finish
            /\\ \\A r : language_thread_deliver(r)     \\* §3.2   if deliver[r]
            /\\ process_multimodal_language_queue     \\* §8.2   if lang

Every nondeterministic choice of the environment (protocol.md §13) is an input of the step,
so the same code runs symbolically (Z3 variables, for BMC) and concretely (Python values,
for enumeration, traces and counterexample replay).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import embedding as emb
from .config import ModelConfig
from .language import LangObs, process_multimodal_language_queue
from .ops import Ops, Term
from .state import State, copy_rank, init_state
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
    alloc_fail: list[Term]  # per language rank
    lang: Term


def make_choices(cfg: ModelConfig, fresh: Callable[[str], Term]) -> Choices:
    T, E = cfg.tp_size, cfg.n_senders
    return Choices(
        messages=[fresh(f"messages[{r}]") for r in range(T)],
        encode=fresh("encode"),
        chunks=[fresh(f"chunks[{e}]") for e in range(E)],
        chunk_fail=[fresh(f"chunk_fail[{e}]") for e in range(E)],
        emb_finish=fresh("emb_finish"),
        deliver=[fresh(f"deliver[{r}]") for r in range(T)],
        abort=fresh("abort"),
        alloc_fail=[fresh(f"alloc_fail[{r}]") for r in range(T)],
        lang=fresh("lang"),
    )


def choice_assumptions(o: Ops, cfg: ModelConfig, ch: Choices) -> list[Term]:
    """Restrictions the configuration puts on the environment."""
    out: list[Term] = []
    if not cfg.faults:
        out += [o.Not(ch.abort)] + [o.Not(x) for x in ch.chunk_fail]
    out += [o.Or(o.Not(f), c) for f, c in zip(ch.chunk_fail, ch.chunks, strict=True)]
    if cfg.alloc_fail == "none":
        out += [o.Not(x) for x in ch.alloc_fail]
    elif cfg.alloc_fail == "uniform":
        out += [x == ch.alloc_fail[0] for x in ch.alloc_fail[1:]]
    return out


def eager(o: Ops, ch: Choices) -> Term:
    """A fair, fault-free step: every enabled environment action fires, the language iterates."""
    return o.And(*ch.messages, ch.encode, *ch.chunks, ch.emb_finish, *ch.deliver, ch.lang,
                 o.Not(ch.abort), *[o.Not(x) for x in ch.alloc_fail],
                 *[o.Not(x) for x in ch.chunk_fail])


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


def step(o: Ops, cfg: ModelConfig, v: Variant, st0: State, p: emb.Params, ch: Choices
         ) -> tuple[State, StepRecord]:
    T = cfg.tp_size
    st = State(lang=[copy_rank(x) for x in st0.lang], sess=[copy_rank(x) for x in st0.sess],
               send=[copy_rank(x) for x in st0.send], encoded=st0.encoded,
               src_alive=st0.src_alive, src_frees=st0.src_frees, deadlock=st0.deadlock)
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

    iterated = o.And(ch.lang, o.Not(st.deadlock))
    obs = process_multimodal_language_queue(o, cfg, v, st, p, ch.abort, ch.alloc_fail,
                                            iterated)
    sig = [(ob.poll_pre, ob.poll_tr, ob.n_max, ob.n_min_pre, ob.n_min_tr) for ob in obs]
    mismatch = o.Or(*[o.Or(*[a != b for a, b in zip(s, sig[0], strict=True)]) for s in sig[1:]])
    mismatch = o.And(iterated, mismatch)
    # A deadlocked iteration does not complete; what the state would be is meaningless, so
    # from here on the language is frozen and every property is masked (`properties.live`).
    st.deadlock = o.Or(st.deadlock, mismatch)
    rec = StepRecord(choices=ch, effects=eff, obs=obs, mismatch=mismatch, iterated=iterated,
                     encoded_before=encoded_before, eager=eager(o, ch),
                     encode_fired=encode_fired)
    return st, rec


@dataclass
class Run:
    params: emb.Params
    states: list[State]  # states[0] = Init, states[k+1] after step k
    steps: list[StepRecord]


def unroll(o: Ops, cfg: ModelConfig, v: Variant, p: emb.Params, aux0: Sequence[Sequence[Term]],
           aux1: Sequence[Sequence[Term]], choices: Sequence[Choices]) -> Run:
    st = init_state(cfg, [list(x) for x in aux0], [list(x) for x in aux1])
    states, recs = [st], []
    for ch in choices:
        st, rec = step(o, cfg, v, st, p, ch)
        states.append(st)
        recs.append(rec)
    return Run(params=p, states=states, steps=recs)
