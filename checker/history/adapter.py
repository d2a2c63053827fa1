"""The one place that knows the model's internals: an engine run, recorded, as a
`spec.model.Run`, and every property of `spec/properties.py` evaluated on it with `PyOps`.

The properties are predicates over a Run (states, step records with `LangObs` and `Effects`).
This module builds those objects from the recorded events (mapping.RankStep and the
embedding side's env record) and fills exactly the fields the properties read:

| model field | from the engine run |
|---|---|
| `LangObs.poll_pre/poll_tr`, `vals["p_*"]` | the MIN all-reduces of `poll_and_all_reduce` |
| `pre_branch` | init sent / handshake-failed line / poll only / waiting but nothing allocated |
| `tr_branch` | poll result and what followed: failure handler, hand-off (resumed: a resume was sent before, or a Merging line), resume sent, allocation failure, 'Unexpected', nothing |
| `decision`, `vals["total"/"sent"/"first"/"need"]` | the first decision line (Synced / Using cached / Partial / Unexpected / the DEBUG waiting lines) through the alias table; `first` = the rank read its buffers (`get_buf`) before deciding; on a path that logs only S, L is the value the rank logged when it cached its partial data (every listed commit caches L then) |
| `resume`, `resume_invalid` | the resume message on the wire; tokens landed on the rank so far (the embedding side's writes), an outstanding resume (its message not processed yet, or its chunk not run) |
| `handoff`, `intact`, `vals["handoff"]` | the request handed to the waiting queue, checked token by token |
| `freed`, `bad_free`; `State.owned/nfree/nheld` | allocator calls (ghost ownership), the real free list at the end of the step, the blocks other live requests hold |
| `left`, `length`, `content`, `mrope`, `delta` | what was handed off (or removal), the handed-off fill ids and rows and a mock's mrope and delta decoded to content ids (the trace's ids, imported: spec/content.py) |
| `State.faulted` | an abort, a failed chunk or other requests taking blocks so far (the schedule), or blocks held at the start |
| `phase`, `embedding_indices` | queue membership at the end of the step; the last allocation |
| `Effects.writes`, `bad_write`, `bad_source` | the embedding side's writes into the rank's blocks; a write into a block the request did not own; a write from freed source blocks |
| `State.src_alive`, `src_frees` | the embedding scheduler (driven), or the model's run of the same schedule (scripted: that environment was the model's) |
| `mismatch` | the ranks reached different collectives, or the engine raised |

Scripted mode (a commit whose connection layer cannot be driven) replays the model's writes
and statuses, which answer the model's messages: a run is judged only through the first step
where the engine sent another init/resume than the model (`replay_valid_steps`).

When the lead's refactor of `spec/` lands (named steps, `handoff_agreement`, per-slot
content ids) only this module changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ranksync.spec import content as ids
from ranksync.spec.branches import (
    LEFT_MOCK,
    LEFT_NO_MM,
    LEFT_REMOVED,
    PRE_HANDSHAKE_FAILED,
    PRE_INIT,
    PRE_NO_SPACE,
    PRE_NONE,
    PRE_WAIT,
    TR_FAILED,
    TR_NO_MEMORY,
    TR_NONE,
    TR_OVERLONG,
    TR_RESUME,
    TR_SUCCESS,
    TR_SUCCESS_RESUMED,
    TR_UNEXPECTED,
    TR_WAIT,
    TR_WAIT_RESUME,
    LangObs,
)
from ranksync.spec.config import WAITING_FOR_INPUT, ModelConfig
from ranksync.spec.embedding import Effects, Params
from ranksync.spec.model import Choices, Run, StepRecord, eager
from ranksync.spec.ops import PyOps
from ranksync.spec.properties import PROPERTIES
from ranksync.spec.state import (
    DONE,
    FAILED_OUT,
    PREALLOC,
    TRANSFER,
    Leftovers,
    copy_state,
    init_state,
)

from . import mapping as M

# engine branches the model has no code for (only equality between ranks matters to them)
TR_ALLOC_WAIT, TR_SUCCESS_IDLE, TR_OTHER = 20, 21, 22
PHASES = {"prealloc": PREALLOC, "transfer": TRANSFER, "handed off": DONE, "removed": FAILED_OUT,
          "gone": FAILED_OUT}


@dataclass
class _Ghost:
    """What the adapter tracks per rank between steps."""

    phase: int = PREALLOC
    owned: set[int] = field(default_factory=set)
    indices: list[int] = field(default_factory=list)
    waiting: bool = False
    resumed: bool = False  # a resume was sent (the partial data are cached)
    cached_l: int | None = None
    landed: int = 0
    resume_out: bool = False  # scripted mode: a resume whose data has not landed yet
    nfree: list[int] = field(default_factory=list)
    held: list[int] = field(default_factory=list)  # blocks other live requests hold


@dataclass
class Built:
    cfg: ModelConfig
    run: Run
    errors: list[M.MappingError]
    crashes: list[dict[str, Any]]
    bad_writes: list[set[int]]  # per step: ranks that got a write into a block not theirs
    cut: bool = False  # scripted: the run was cut where the replayed environment stopped


def config_of(trace: dict[str, Any]) -> ModelConfig:
    s = trace["scenario"]
    return ModelConfig(
        tp_size=s["tp_size"], topology=s["topology"],
        embedding_tp_size=s["embedding_tp_size"] if s["topology"] == "a" else 1,
        receivers=tuple(s["receivers"]) if s["topology"] == "b" else None,
        depth=max(1, len(trace["schedule"])), pool_blocks=s["pool_blocks"],
        block_sizes=(s["block_size"],), length_range=(s["embedding_length"],) * 2,
        default_alloc_range=(s["default_allocate_tokens"],) * 2,
        mrope_delta=s["mrope_delta"], hidden=s["hidden"], rid=s["rid"], room=s["room"])


def _choices(cfg: ModelConfig, s: dict[str, Any]) -> Choices:
    def members(name: str, n: int) -> list[bool]:
        return [i in (s.get(name) or []) for i in range(n)]
    T, E, P = cfg.tp_size, cfg.n_senders, cfg.pool_blocks
    zeros = [[0] * P for _ in range(T)]
    return Choices(messages=members("messages", T), encode=bool(s.get("encode", False)),
                   chunks=members("chunks", E), chunk_fail=members("chunk_fail", E),
                   emb_finish=bool(s.get("emb_finish", False)), deliver=members("deliver", T),
                   abort=bool(s.get("abort", False)), others_free=members("others_free", T),
                   # version 1's alloc_fail: blocks held by other requests, a fault as well
                   others_alloc=[a or f for a, f in zip(members("others_alloc", T),
                                                        members("alloc_fail", T), strict=True)],
                   lang=bool(s.get("lang", True)), taken_aux0=zeros, taken_aux1=zeros)


def _model_env(trace: dict[str, Any]) -> list[tuple[bool, int, bool]]:
    """(src_alive, src_frees, encode enabled) of each step of the model's run of the
    trace's schedule (scripted mode: that environment was the model's)."""
    from ..conformance import scenario_from_trace

    run = scenario_from_trace(trace).replay()
    out = []
    for st0, st in zip(run.states, run.states[1:], strict=False):
        enabled = not st0.encoded and all(s.status == WAITING_FOR_INPUT for s in st0.send)
        out.append((bool(st.src_alive), int(st.src_frees), bool(enabled)))
    return out


def _eager(o: PyOps, ch: Choices, encoded: bool, enabled: bool) -> bool:
    """`spec.model.eager`: every enabled environment action fires. Traces export `encode`
    only where it fired, so an `encode` that could not fire (done, or not enabled yet)
    counts as fired, as in the model's own run."""
    return bool(eager(o, ch if (enabled and not encoded) else replace(ch, encode=True)))


MESSAGES = ("init", "resume")


def replay_valid_steps(trace: dict[str, Any], ranks: list[list[list[dict[str, Any]]]]) -> int:
    """Scripted mode replays the model's embedding side, which answers the *model's* messages:
    the replay stays valid through the first step where the engine sent other messages
    (init / resume) than the model, not after it."""
    for k, exp in enumerate(trace["expected"][: len(ranks)]):
        for r, evs in enumerate(ranks[k]):
            want = [e for e in exp["ranks"][r] if e.get("ev") in MESSAGES] \
                if r < len(exp["ranks"]) else []
            if [e for e in evs if e.get("ev") in MESSAGES] != want:
                return k + 1
    return len(ranks)


def build(trace: dict[str, Any], ranks: list[list[list[dict[str, Any]]]],
          env: list[dict[str, Any]], driven: bool) -> Built:
    cut = len(ranks) if driven else replay_valid_steps(trace, ranks)
    ranks = ranks[:cut]
    cfg = config_of(trace)
    sc = trace["scenario"]
    T, L, bs, P = cfg.tp_size, int(sc["embedding_length"]), int(sc["block_size"]), cfg.pool_blocks
    o = PyOps((bs,))
    params = Params(length=L, bs=bs, default_tokens=int(sc["default_allocate_tokens"]),
                    receives=[r in sc["receivers"] for r in range(T)], delta=sc["mrope_delta"])
    held0 = [[int(b) for b in x] for x in sc.get("initial_held") or [[] for _ in range(T)]]
    free0 = sc.get("initial_free") or [[b for b in range(P) if b not in held0[r]]
                                       for r in range(T)]
    states = [init_state(o, cfg, [Leftovers(aux0=[0] * P, aux1=[0] * P,
                                            content=[ids.ZERO] * (P * cfg.slots),
                                            held=len(held0[r])) for r in range(T)])]
    for r, lr in enumerate(states[0].lang):  # the trace's own block ids
        lr.nfree = [free0[r].count(b) for b in range(P)]
        lr.nheld = [held0[r].count(b) for b in range(P)]
    ghosts = [_Ghost(nfree=list(states[0].lang[r].nfree), held=list(held0[r]))
              for r in range(T)]
    faulted = any(held0)
    errors: list[M.MappingError] = []
    crashes: list[dict[str, Any]] = []
    steps: list[StepRecord] = []
    bad_writes: list[set[int]] = []
    model_env = None if driven else _model_env(trace)
    deadlock, encoded = False, False
    for k, sch in enumerate(trace["schedule"][: len(ranks)]):
        ch = _choices(cfg, sch)
        e = env[k] if k < len(env) else {}
        eff = Effects(writes=[[] for _ in range(T)], delivered=[[] for _ in range(T)])
        bad_writes.append(set())
        for r in range(T):
            g = ghosts[r]
            for w in (e.get("writes") or [[]] * T)[r]:
                garbage = w["start"] is None or bool(w.get("garbage"))
                eff.writes[r].append({"when": True, "block": w["block"], "count": w["count"],
                                      "start": w["start"] or 0, "garbage": garbage,
                                      "aux": w.get("aux") is not None})
                if w["block"] not in g.owned:
                    eff.bad_write = True
                    bad_writes[-1].add(r)
                eff.bad_source = eff.bad_source or garbage
                if w["count"] > 0:
                    g.landed += w["count"]
                    g.resume_out = False
            for s in (e.get("delivered") or [[]] * T)[r]:
                eff.delivered[r].append({"when": True, "status": s})
        fired = bool(e.get("encode_fired")) if driven else bool(sch.get("encode", False))
        enabled = bool(e.get("encode_enabled")) if driven else bool(
            model_env is not None and k < len(model_env) and model_env[k][2])
        iterated = bool(sch.get("lang", True)) and not deadlock
        decoded = [M.decode(ranks[k][r]) if r < len(ranks[k]) else M.decode([])
                   for r in range(T)]
        mismatch = iterated and any(d.deadlock or d.exception for d in decoded)
        obs = []
        for r, d in enumerate(decoded):
            for msg in d.unmatched:
                errors.append(M.MappingError("log format", f"line {msg!r} matches no format "
                                             f"in formats.toml (nearest: "
                                             f"{M.F.nearest(msg).literal()!r})", k, r))
            if d.exception:
                crashes.append({"step": k, "rank": r, **d.exception})
            awaiting = (bool((e.get("awaiting") or [False] * T)[r])
                        or bool((e.get("pending_resumes") or [0] * T)[r])) if driven \
                else ghosts[r].resume_out
            obs.append(_obs(cfg, d, ghosts[r], L, awaiting, k, r, errors) if iterated and not
                       mismatch else _blank(cfg))
        deadlock = deadlock or mismatch
        faulted = faulted or (ch.abort and ch.lang) or any(ch.chunk_fail) or any(
            ch.others_alloc)
        st = copy_state(states[-1])
        st.encoded, st.deadlock, st.faulted = st.encoded or fired, deadlock, faulted
        if driven:
            st.src_alive, st.src_frees = bool(e.get("src_alive")), int(e.get("src_frees", 0))
        elif model_env is not None and k < len(model_env):
            st.src_alive, st.src_frees = model_env[k][:2]
        for r, lr in enumerate(st.lang):
            g = ghosts[r]
            lr.phase = g.phase
            lr.owned = [b in g.owned for b in range(P)]
            lr.nfree = list(g.nfree)
            lr.nheld = [g.held.count(b) for b in range(P)]
            idx = (g.indices + [0] * cfg.max_blocks)[: cfg.max_blocks]
            lr.embedding_indices, lr.n_indices = idx, len(g.indices)
        states.append(st)
        taken = {(r, int(x["block"])) for r, t in enumerate(
            (trace["expected"][k].get("taken") or []) if k < len(trace["expected"]) else [])
            for x in t}
        steps.append(StepRecord(choices=ch, effects=eff, obs=obs, mismatch=mismatch,
                                iterated=iterated, encoded_before=encoded,
                                eager=_eager(o, ch, encoded, enabled),
                                encode_fired=fired,
                                taken=[[(r, b) in taken for b in range(P)] for r in range(T)]))
        encoded = encoded or fired
    return Built(cfg, Run(params=params, states=states, steps=steps), errors, crashes,
                 bad_writes, cut=cut < len(trace["schedule"]) and not driven)


def _blank(cfg: ModelConfig) -> LangObs:
    """A rank that did not iterate (every value a property reads present, PyOps evaluates
    both sides of And/Or)."""
    ob = LangObs()
    ob.vals.update(p_pre=None, p_tr=None, first=False, total=0, sent=0, need=0,
                   outstanding=False, landed=0)
    ob.content = [ids.ZERO] * cfg.positions
    ob.mrope = [ids.mrope_unknown(cfg)] * (3 * cfg.positions)
    return ob


def _handed(cfg: ModelConfig, ob: LangObs, handoff: dict[str, Any], data: dict[str, Any]
            ) -> None:
    """What the rank hands to the TP forward, in the model's content ids (the trace's ids
    imported: spec/content.py), for handoff_agreement."""
    ob.left = LEFT_MOCK if handoff["mm_inputs"] == "mock" else LEFT_NO_MM
    ob.length = int(handoff["length"])
    got = [ids.import_id(cfg, int(c)) for c in data.get("content") or []]
    ob.content = (got + [ids.ZERO] * cfg.positions)[: cfg.positions]
    rows = data.get("mrope") or [[], [], []]
    ob.mrope = [ids.mrope_unknown(cfg)] * (3 * cfg.positions)
    for row, line in enumerate(rows[:3]):
        for pos, v in enumerate(line[: cfg.positions]):
            c, rr = divmod(int(v), 3)
            ob.mrope[3 * pos + row] = 3 * ids.import_id(cfg, c) + rr
    ob.delta = int(data.get("delta") or 0)


def _obs(cfg: ModelConfig, d: M.RankStep, g: _Ghost, L: int, awaiting: bool, k: int, r: int,
         errors: list[M.MappingError]) -> LangObs:
    ob = _blank(cfg)
    ob.poll_pre, ob.poll_tr = d.p_pre is not None, d.p_tr is not None
    ob.n_max = d.n_max
    ob.vals.update(p_pre=d.p_pre, p_tr=d.p_tr, outstanding=awaiting, landed=g.landed)
    for e in d.events:  # allocator calls, in order: ghost ownership
        if e.get("ev") == "alloc" and e.get("result") and not e.get("fake"):
            g.owned |= set(e["result"])
        elif e.get("ev") == "free" and e.get("blocks") is not None and not e.get("fake"):
            ob.freed = True
            for b in e["blocks"]:
                ob.bad_free = ob.bad_free or b not in g.owned
                g.owned.discard(b)
    # -- prealloc --
    if ob.poll_pre and d.p_pre == 2:
        g.waiting = True
    init = d.first("init", "pre")
    if "handshake_failed" in d.log_kinds("pre"):
        ob.pre_branch, g.phase = PRE_HANDSHAKE_FAILED, FAILED_OUT
    elif init is not None:
        ob.pre_branch, g.phase, g.indices = PRE_INIT, TRANSFER, list(init["blocks"])
    elif g.phase == PREALLOC and g.waiting:
        ob.pre_branch = PRE_NO_SPACE
    else:
        ob.pre_branch = PRE_WAIT if ob.poll_pre else PRE_NONE
    # -- transfer --
    p = d.p_tr
    resume = d.first("resume", "tr")
    removed = d.has("removed", "tr")
    handoff = d.first("handoff", "tr")
    if p is None:
        ob.tr_branch = TR_NONE
    elif p == 0:
        ob.tr_branch = TR_FAILED
    elif p == 4:
        merged = "merging" in d.log_kinds("tr") or g.resumed
        ob.tr_branch = TR_OVERLONG if removed else (
            (TR_SUCCESS_RESUMED if merged else TR_SUCCESS) if handoff else TR_SUCCESS_IDLE)
    elif p == 3:
        alloc_none = any(e.get("ev") == "alloc" and e.get("result") is None for e in d.tr)
        ob.tr_branch = (TR_RESUME if resume else TR_NO_MEMORY if removed
                        else TR_UNEXPECTED if "unexpected" in d.log_kinds("tr")
                        else TR_ALLOC_WAIT if alloc_none else TR_WAIT_RESUME)
        _decision(ob, d, g, k, r, errors)
    elif p in (1, 2):
        ob.tr_branch = TR_WAIT
    else:
        ob.tr_branch = TR_OTHER
    if resume is not None:
        ob.resume = True
        sent = int(resume["sent_tokens"])
        ob.resume_invalid = g.landed >= L or awaiting or sent != g.landed
        ob.vals.update(resume_sent=sent)
        g.indices, g.resumed, g.resume_out = list(resume["blocks"]), True, True
    if handoff is not None:
        ob.handoff, ob.intact = True, bool(handoff["intact"])
        _handed(cfg, ob, handoff, d.first("handoff_data", "tr") or {})
        g.resumed = False
    if removed or ob.pre_branch == PRE_HANDSHAKE_FAILED:
        g.phase = FAILED_OUT
        ob.left = LEFT_REMOVED
    snap = d.snap
    if snap is not None:
        g.phase = PHASES.get(str(snap["phase"]), g.phase)
        if snap.get("free") is None:
            errors.append(M.MappingError("allocator", "the allocator's free list (free_blocks) "
                                         "is not observable", k, r))
        else:
            g.nfree = [snap["free"].count(b) for b in range(len(g.nfree))]
        g.held = [int(b) for b in snap.get("held") or []]
    return ob


def _decision(ob: LangObs, d: M.RankStep, g: _Ghost, k: int, r: int,
              errors: list[M.MappingError]) -> None:
    """The values of the Transferring decision, where the rank evaluated it."""
    total, sent, at = d.decision_values()
    if sent is None and total is None:
        if d.has("resume", "tr") or d.has("alloc", "tr"):
            errors.append(M.MappingError(
                "decision values", "the rank resumed or allocated in a Transferring "
                "iteration without a line carrying actual_total_length / sent_tokens", k, r))
        return
    if total is None:
        total = g.cached_l
    if total is None or sent is None:
        errors.append(M.MappingError("decision values", "actual_total_length or sent_tokens "
                                     "of a Transferring decision not observed", k, r))
        return
    first = any(e.get("ev") == "get_buf" for e in d.events[len(d.pre):at])
    ob.decision = True
    ob.vals.update(first=first, total=int(total), sent=int(sent), need=int(total) - int(sent))
    if d.has("resume", "tr") and not g.resumed:
        g.cached_l = int(total)


# ---- properties ---------------------------------------------------------------------------------
@dataclass
class Outcome:
    premise: bool = False
    violated_at: int | None = None
    ranks: list[int] | None = None  # blamed ranks (None: not attributable to single ranks)


def evaluate(b: Built) -> dict[str, Outcome]:
    o = PyOps(b.cfg.block_sizes)
    out: dict[str, Outcome] = {}
    for name, p in PROPERTIES.items():
        oc = Outcome()
        for k in range(len(b.run.steps)):
            if not oc.premise and p.premise(o, b.cfg, b.run, k):
                oc.premise = True
            if oc.violated_at is None and p.bad(o, b.cfg, b.run, k):
                oc.violated_at = k
                oc.ranks = _blame(o, b, p, k)
        out[name] = oc
    return out


def _view(b: Built, ranks: list[int]) -> tuple[ModelConfig, Run]:
    """The run restricted to some ranks (per-rank lists filtered)."""
    def pick(xs: list[Any]) -> list[Any]:
        return [xs[r] for r in ranks]
    steps = [replace(s, obs=pick(s.obs), effects=Effects(
        writes=pick(s.effects.writes), delivered=pick(s.effects.delivered),
        bad_write=bool(b.bad_writes[k] & set(ranks)), bad_source=s.effects.bad_source))
        for k, s in enumerate(b.run.steps)]
    states = [replace(st, lang=pick(st.lang)) for st in b.run.states]
    return replace(b.cfg, tp_size=len(ranks)), Run(params=b.run.params, states=states,
                                                   steps=steps)


def _blame(o: PyOps, b: Built, p: Any, k: int) -> list[int] | None:
    T = b.cfg.tp_size
    singles = [r for r in range(T) if p.bad(o, *_view(b, [r]), k)]
    if singles and len(singles) < T:
        return singles
    pairs = sorted({x for a in range(T) for c in range(a + 1, T)
                    if p.bad(o, *_view(b, [a, c]), k) for x in (a, c)})
    if pairs and not singles:
        return pairs
    return singles or None
