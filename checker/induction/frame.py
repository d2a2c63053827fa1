"""The state of the model as one fixed-shape vector of Z3 variables, for one-step queries.

BMC unrolls from `Init`; induction starts anywhere: a *frame* is the model's `State` with
every leaf a fresh variable, and the message queues and the chunk queue cut to fixed
capacities (the model appends to them; `normalize` packs the pending entries of a successor
state back into the capacities and reports an overflow when they do not fit, which the
invariant must rule out: nothing is ever dropped silently).

`concrete` turns a solver model of a frame back into a Python `State`, so a counterexample to
induction is replayed on the concrete model and shown like any other run.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import z3
from ranksync.spec.config import FAILED, ModelConfig
from ranksync.spec.embedding import Params
from ranksync.spec.ops import PyOps, Z3Ops
from ranksync.spec.state import LangRank, Leftovers, Sender, Session, State, init_state

INBOX_FIELDS = ("valid", "kind", "sent", "allocated", "n")  # plus "blocks"
OUTBOX_FIELDS = ("valid", "status")


@dataclass(frozen=True)
class Capacity:
    inbox: int = 3  # pending language -> embedding messages per session
    outbox: int = 2  # pending status messages per session (frame.canonical_statuses)
    chunks: int = 3  # queued chunks per sender


def _template(cfg: ModelConfig) -> State:
    """A concrete state of the right shape (leaf types tell bools from integers)."""
    o = PyOps(cfg.block_sizes)
    left = [Leftovers(aux0=[0] * cfg.pool_blocks, aux1=[0] * cfg.pool_blocks,
                      content=[0] * (cfg.pool_blocks * cfg.slots), held=0)
            for _ in range(cfg.tp_size)]
    return init_state(o, cfg, left)


class Fresh:
    """Fresh variables named `prefix.path`."""

    def __init__(self, prefix: str, width: int) -> None:
        self.prefix, self.width = prefix, width
        self.vars: dict[str, Any] = {}

    def __call__(self, path: str, like: Any) -> Any:
        name = f"{self.prefix}.{path}"
        v = z3.Bool(name) if isinstance(like, bool) else z3.BitVec(name, self.width)
        self.vars[name] = v
        return v


def _havoc_record(rec: Any, fresh: Fresh, path: str) -> Any:
    kw = {}
    for f in fields(rec):
        val = getattr(rec, f.name)
        if isinstance(val, list) and val and isinstance(val[0], dict):
            continue  # queues: handled by the caller
        if isinstance(val, list):
            kw[f.name] = [fresh(f"{path}.{f.name}[{i}]", x) for i, x in enumerate(val)]
        else:
            kw[f.name] = fresh(f"{path}.{f.name}", val)
    return kw


def havoc(cfg: ModelConfig, cap: Capacity, fresh: Fresh) -> State:
    """A frame: every state variable of `cfg`'s model a fresh variable."""
    t = _template(cfg)
    mb = cfg.max_blocks
    lang = [LangRank(**_havoc_record(x, fresh, f"lang{r}")) for r, x in enumerate(t.lang)]
    sess = []
    for r, x in enumerate(t.sess):
        kw = _havoc_record(x, fresh, f"sess{r}")
        kw["inbox"] = [{**{k: fresh(f"sess{r}.in{j}.{k}", False if k == "valid" else 0)
                           for k in INBOX_FIELDS},
                        "blocks": [fresh(f"sess{r}.in{j}.blocks[{i}]", 0) for i in range(mb)]}
                       for j in range(cap.inbox)]
        kw["outbox"] = [{k: fresh(f"sess{r}.out{j}.{k}", False if k == "valid" else 0)
                         for k in OUTBOX_FIELDS} for j in range(cap.outbox)]
        kw["inbox_next"] = kw["outbox_next"] = 0
        sess.append(Session(**kw))
    send = []
    for e, x in enumerate(t.send):
        kw = _havoc_record(x, fresh, f"send{e}")
        kw["cq"] = [fresh(f"send{e}.cq[{i}]", 0) for i in range(cap.chunks)]
        send.append(Sender(**kw))
    glob = {f.name: fresh(f"g.{f.name}", getattr(t, f.name)) for f in fields(State)
            if f.name not in ("lang", "sess", "send")}
    return State(lang=lang, sess=sess, send=send, **glob)


def _pack(o: Z3Ops, slots: list[dict[str, Any]], first: Any, cap: int
          ) -> tuple[list[dict[str, Any]], Any]:
    """The pending entries (valid, at or after `first`) packed into `cap` slots, in order;
    and "more than `cap` were pending"."""
    pend = [o.And(m["valid"], j >= first) for j, m in enumerate(slots)]
    before = [o.count(pend[:j]) for j in range(len(slots))]
    out = []
    for q in range(cap):
        hit = [o.And(pend[j], before[j] == q) for j in range(len(slots))]
        slot: dict[str, Any] = {}
        for k, v in slots[0].items():
            if k == "valid":
                slot[k] = o.Or(*hit)
                continue
            if isinstance(v, list):
                slot[k] = [_choose(o, hit, [m[k][i] for m in slots]) for i in range(len(v))]
            else:
                slot[k] = _choose(o, hit, [m[k] for m in slots])
        out.append(slot)
    return out, o.count(pend) > cap


def _choose(o: Z3Ops, hit: list[Any], vals: list[Any]) -> Any:
    out = vals[-1]
    for h, v in zip(reversed(hit[:-1]), reversed(vals[:-1]), strict=True):
        out = o.If(h, v, out)
    return out


def canonical_statuses(o: Z3Ops, slots: list[dict[str, Any]], first: Any
                       ) -> list[dict[str, Any]]:
    """The pending status messages of a session, merged into at most two with the same
    effect: `language_thread` applies them all at once with `update_status` (absent -> s;
    Failed wins; else the maximum), and for any earlier status
        [.., s1, s2] (no Failed) == [max(s1, s2)],   [.., Failed] == [Failed],
        [Failed, s] == "s, whatever came before".
    So the pending list is [], [s], [Failed] or [Failed, max of what follows the last
    Failed]: the queue needs no bound (only the trace's `delivered` list would differ)."""
    pend = [o.And(m["valid"], j >= first) for j, m in enumerate(slots)]
    failed_at = [o.And(p, m["status"] == FAILED) for p, m in zip(pend, slots, strict=True)]
    any_failed = o.Or(*failed_at)
    best: Any = -1  # max of the non-Failed pending statuses after the last Failed
    for k, (p, m) in enumerate(zip(pend, slots, strict=True)):
        later_fail = o.Or(*failed_at[k + 1:])
        take = o.And(p, m["status"] != FAILED, o.Not(later_fail))
        best = o.If(o.And(take, m["status"] > best), m["status"], best)
    has_best = best >= 0
    return [{"valid": any_failed, "status": FAILED},
            {"valid": has_best, "status": o.If(has_best, best, 0)}]


def normalize(o: Z3Ops, st: State, cap: Capacity) -> tuple[State, Any]:
    """A successor state in frame shape, and whether it overflowed the capacities."""
    over = []
    sess = []
    for s in st.sess:
        inbox, o1 = _pack(o, s.inbox, s.inbox_next, cap.inbox)
        outbox, o2 = canonical_statuses(o, s.outbox, s.outbox_next), False
        kw = {f.name: getattr(s, f.name) for f in fields(s)}
        kw.update(inbox=inbox, outbox=outbox, inbox_next=0, outbox_next=0)
        sess.append(Session(**kw))
        over += [o1, o2]
    send = []
    for x in st.send:
        over.append(x.chunks > cap.chunks)
        kw = {f.name: getattr(x, f.name) for f in fields(x)}
        kw["cq"] = list(x.cq[:cap.chunks])
        send.append(Sender(**kw))
    out = State(lang=st.lang, sess=sess, send=send, encoded=st.encoded, src_alive=st.src_alive,
                src_frees=st.src_frees, deadlock=st.deadlock, faulted=st.faulted,
                failed_any=st.failed_any)
    return out, o.Or(*over)


def concrete(m: z3.ModelRef, st: State) -> State:
    """The Python state a solver model gives a frame (or any state of terms)."""
    def val(x: Any) -> Any:
        if isinstance(x, bool | int):
            return x
        v = m.eval(x, model_completion=True)
        return z3.is_true(v) if z3.is_bool(v) else v.as_signed_long()

    def rec(x: Any) -> Any:
        if isinstance(x, list):
            return [rec(y) for y in x]
        if isinstance(x, dict):
            return {k: rec(v) for k, v in x.items()}
        if hasattr(x, "__dataclass_fields__"):
            return type(x)(**{f.name: rec(getattr(x, f.name)) for f in fields(x)})
        return val(x)

    return rec(st)  # type: ignore[no-any-return]


def symbolic_params(cfg: ModelConfig, w: int) -> tuple[Params, list[Any]]:
    """L, bs, the default allocation and the receivers as variables, with their ranges."""
    L = z3.BitVec("L", w)
    bs = z3.BitVec("bs", w)
    D = z3.BitVec("default_allocate_tokens", w)
    receives: list[Any] = ([True] * cfg.tp_size if cfg.topology == "a" else
                           [z3.Bool(f"receives[{r}]") for r in range(cfg.tp_size)])
    lo, hi = cfg.length_range
    dlo, dhi = cfg.default_alloc_range
    asm = [L >= lo, L <= hi, D >= dlo, D <= dhi, z3.Or(*[bs == b for b in cfg.block_sizes])]
    p = Params(length=L, bs=bs, default_tokens=D, receives=receives, delta=cfg.mrope_delta)
    return p, asm
