"""Properties, Stateright style: `always` invariants, `eventually` (bounded) liveness, and
`sometimes` reachability witnesses. Each property also names its *premise*: the situation in
which it says something; a property whose premise is unreachable is vacuous and fails.

Every predicate is over a `Run` (states and step records), evaluated at step k.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from . import content as ids
from .branches import (
    LEFT_MOCK,
    LEFT_NO,
    LEFT_REMOVED,
    PRE_BRANCHES,
    PRE_HANDSHAKE_FAILED,
    TR_BRANCHES,
    TR_FAILED,
    TR_NO_MEMORY,
    TR_OVERLONG,
    TR_RESUME,
    TR_WAIT_RESUME,
    LangObs,
)
from .config import ModelConfig
from .model import Run
from .ops import Ops, Term
from .state import DONE, FAILED_OUT
from .variants import Variant

Pred = Callable[[Ops, ModelConfig, Run, int], Term]


@dataclass(frozen=True)
class Property:
    name: str
    kind: Literal["always", "eventually"]
    doc: str
    bad: Pred  # violation at step k
    premise: Pred  # the property is exercised at step k (its reachability witness)


def _pairs(o: Ops, xs: list[Term]) -> Term:
    """Some two ranks differ."""
    return o.Or(*[x != xs[0] for x in xs[1:]])


def _live(o: Ops, run: Run, k: int) -> Term:
    """No deadlock up to and including step k (after one, the state is meaningless)."""
    return o.Not(run.states[k + 1].deadlock)


# -- always ------------------------------------------------------------------------------
def seed_claim_bad(o: Ops, cfg: ModelConfig, run: Run, k: int) -> Term:
    ob = run.steps[k].obs
    ds = [x.decision for x in ob]
    return o.And(_live(o, run, k), o.Or(*[
        o.And(ds[a], ds[b], o.Or(ob[a].vals["total"] != ob[b].vals["total"],
                                 ob[a].vals["sent"] != ob[b].vals["sent"]))
        for a in range(len(ob)) for b in range(a + 1, len(ob))]))


def decision_premise(o: Ops, cfg: ModelConfig, run: Run, k: int) -> Term:
    return o.And(_live(o, run, k), o.Or(*[x.decision for x in run.steps[k].obs]))


def agreement_bad(o: Ops, cfg: ModelConfig, run: Run, k: int) -> Term:
    rec = run.steps[k]
    ob = rec.obs
    firsts = [o.If(x.decision, o.If(x.vals["first"], 1, 2), 0) for x in ob]
    return o.Or(rec.mismatch, o.And(rec.iterated, o.Not(rec.mismatch), o.Or(
        _pairs(o, [x.pre_branch for x in ob]), _pairs(o, [x.tr_branch for x in ob]),
        _pairs(o, firsts))))


def agreement_premise(o: Ops, cfg: ModelConfig, run: Run, k: int) -> Term:
    """The synced decision is exercised: some rank runs the Transferring procedure."""
    return decision_premise(o, cfg, run, k)


def same_input(o: Ops, cfg: ModelConfig, a: LangObs, b: LangObs) -> Term:
    """Two ranks hand the TP forward the same input in this iteration: both still queued, or
    both removed, or both handed off with the same kind, length, ids and rows (content ids),
    and for a mock the same mrope positions and delta. mrope values the model does not track
    (written before the block's last write) never count as equal."""
    unknown = ids.mrope_unknown(cfg)
    k = a.length
    data = o.And(*[o.Or(p >= k, x == y) for p, (x, y) in enumerate(zip(a.content, b.content,
                                                                      strict=True))])
    mrope = o.And(a.delta == b.delta, *[
        o.Or(i // 3 >= k, o.And(x == y, x != unknown))
        for i, (x, y) in enumerate(zip(a.mrope, b.mrope, strict=True))])
    handed = o.And(a.length == b.length, data, o.Or(a.left != LEFT_MOCK, mrope))
    return o.And(a.left == b.left,
                 o.Or(a.left == LEFT_NO, a.left == LEFT_REMOVED, handed))


def handoff_agreement_bad(o: Ops, cfg: ModelConfig, run: Run, k: int) -> Term:
    ob = run.steps[k].obs
    return o.And(_live(o, run, k), run.steps[k].iterated, o.Or(*[
        o.Not(same_input(o, cfg, ob[0], x)) for x in ob[1:]]))


def handoff_premise(o: Ops, cfg: ModelConfig, run: Run, k: int) -> Term:
    return o.And(_live(o, run, k), o.Or(*[x.handoff for x in run.steps[k].obs]))


def resume_validity_bad(o: Ops, cfg: ModelConfig, run: Run, k: int) -> Term:
    return o.And(_live(o, run, k), o.Or(*[x.resume_invalid for x in run.steps[k].obs]))


def resume_premise(o: Ops, cfg: ModelConfig, run: Run, k: int) -> Term:
    return o.And(_live(o, run, k), o.Or(*[x.resume for x in run.steps[k].obs]))


def integrity_bad(o: Ops, cfg: ModelConfig, run: Run, k: int) -> Term:
    return o.And(_live(o, run, k), o.Or(*[o.And(x.handoff, o.Not(x.intact))
                                          for x in run.steps[k].obs]))


def ownership_bad(o: Ops, cfg: ModelConfig, run: Run, k: int) -> Term:
    eff = run.steps[k].effects
    return o.And(_live(o, run, k), o.Or(eff.bad_write, eff.bad_source))


def write_premise(o: Ops, cfg: ModelConfig, run: Run, k: int) -> Term:
    return o.Or(*[w["when"] for ws in run.steps[k].effects.writes for w in ws])


def conservation_bad(o: Ops, cfg: ModelConfig, run: Run, k: int) -> Term:
    st = run.states[k + 1]
    acct = o.Or(*[o.Or(*[lr.nfree[b] + lr.nheld[b] + o.If(lr.owned[b], 1, 0) != 1
                         for b in range(cfg.pool_blocks)]) for lr in st.lang])
    freed = o.Or(*[x.bad_free for x in run.steps[k].obs])
    return o.And(_live(o, run, k), o.Or(acct, freed, st.src_frees > 1))


def free_premise(o: Ops, cfg: ModelConfig, run: Run, k: int) -> Term:
    """Some rank freed blocks of the request (a resume or the failure handler ran)."""
    return o.And(_live(o, run, k), o.Or(*[x.freed for x in run.steps[k].obs]))


def spurious_failure_bad(o: Ops, cfg: ModelConfig, run: Run, k: int) -> Term:
    bad = []
    for x in run.steps[k].obs:
        fits = o.ceil_div(x.vals["need"], run.params.bs) <= cfg.pool_blocks
        bad.append(o.Or(x.tr_branch == TR_FAILED, x.tr_branch == TR_OVERLONG,
                        x.pre_branch == PRE_HANDSHAKE_FAILED,
                        o.And(x.tr_branch == TR_NO_MEMORY, fits)))
    # `faulted`: an abort, a transfer failure or pool pressure at or before step k
    return o.And(_live(o, run, k), o.Not(run.states[k + 1].faulted), o.Or(*bad))


def failure_premise(o: Ops, cfg: ModelConfig, run: Run, k: int) -> Term:
    return o.And(_live(o, run, k), o.Or(*[
        o.Or(x.tr_branch == TR_FAILED, x.tr_branch == TR_NO_MEMORY, x.tr_branch == TR_OVERLONG)
        for x in run.steps[k].obs]))


# -- eventually (bounded): within B eager steps ---------------------------------------------
def _window(o: Ops, cfg: ModelConfig, run: Run, k: int) -> tuple[int, Term]:
    B = cfg.progress_bound
    j = k - B + 1
    if j < 0:
        return 0, False
    return j, o.And(*[run.steps[i].eager for i in range(j, k + 1)])


def progress_premise(o: Ops, cfg: ModelConfig, run: Run, k: int) -> Term:
    j, win = _window(o, cfg, run, k)
    return o.And(win, run.steps[j].encoded_before) if k - cfg.progress_bound + 1 >= 0 else False


def progress_bad(o: Ops, cfg: ModelConfig, run: Run, k: int) -> Term:
    st = run.states[k + 1]
    stuck = o.Or(st.deadlock, *[o.Not(o.Or(lr.phase == DONE, lr.phase == FAILED_OUT))
                                for lr in st.lang])
    return o.And(progress_premise(o, cfg, run, k), stuck)


def no_leak_premise(o: Ops, cfg: ModelConfig, run: Run, k: int) -> Term:
    j, win = _window(o, cfg, run, k)
    if k - cfg.progress_bound + 1 < 0:
        return False
    out = [o.Or(lr.phase == DONE, lr.phase == FAILED_OUT) for lr in run.states[j].lang]
    return o.And(win, o.Not(run.states[j].deadlock), *out)


def no_leak_bad(o: Ops, cfg: ModelConfig, run: Run, k: int) -> Term:
    st = run.states[k + 1]
    leaks = []
    for lr in st.lang:
        for b in range(cfg.pool_blocks):
            held = o.Or(*[o.And(i < lr.n_indices, lr.embedding_indices[i] == b)
                          for i in range(cfg.max_blocks)])
            leaks.append(o.And(lr.owned[b], o.Not(o.And(lr.phase == DONE, held))))
    return o.And(no_leak_premise(o, cfg, run, k), o.Or(st.src_alive, *leaks))


PROPERTIES: dict[str, Property] = {p.name: p for p in [
    Property("seed_claim", "always",
             "The two numbers agree (the seed note's claim): whenever ranks evaluate the "
             "Transferring decision in the same iteration, they use the same "
             "actual_total_length and sent_tokens.",
             seed_claim_bad, decision_premise),
    Property("agreement", "always",
             "The branches agree: in every iteration all ranks issue the same collectives and "
             "take the same branch of pop_preallocated / pop_transferred (same path: first or "
             "cached).",
             agreement_bad, agreement_premise),
    Property("handoff_agreement", "always",
             "The inputs to the TP forward agree: in the iteration in which the request leaves "
             "the queues, every rank hands it off (or removes it) in that same iteration, with "
             "the same kind (mm_inputs absent / mock), length, fill ids and embedding rows, and "
             "for a mock the same mrope positions and delta.",
             handoff_agreement_bad, handoff_premise),
    Property("resume_validity", "always",
             "A resume is sent only while tokens remain, with no earlier resume of the request "
             "outstanding, and its sent_tokens equals the tokens already delivered to that rank.",
             resume_validity_bad, resume_premise),
    Property("integrity", "always",
             "At hand-off, each rank's input_embeds / origin_input_ids are the source tokens "
             "[0, L) in order, and mrope positions and delta are the source's where handed off.",
             integrity_bad, handoff_premise),
    Property("block_ownership", "always",
             "No transfer writes into a language block its request does not own on that rank, "
             "and no chunk copies from source blocks the embedding side has freed.",
             ownership_bad, write_premise),
    Property("conservation", "always",
             "Every language block is exactly once free or allocated (no double free, no block "
             "lost); the embedding side frees the source blocks at most once.",
             conservation_bad, free_premise),
    Property("no_spurious_failure", "always",
             "The request is failed only after an abort, a transfer failure or pool pressure, "
             "or because its remaining tokens cannot fit in the whole pool.",
             spurious_failure_bad, failure_premise),
    Property("progress", "eventually",
             "Once the embedding side has run its forward, B fair fault-free steps take the "
             "request out of the transfer queue on every rank (hand-off or failure), no deadlock.",
             progress_bad, progress_premise),
    Property("no_leak", "eventually",
             "Once every rank has removed the request, B fair steps later no rank holds blocks "
             "beyond the handed-off allocation and the embedding side has freed its source blocks.",
             no_leak_bad, no_leak_premise),
]}


# -- sometimes: every branch of §8.3/§8.4 and both paths of the Transferring procedure --------
def branch_witnesses(variant: Variant | None = None) -> dict[str, Pred]:
    """Every branch of §8.3/§8.4, plus the branches a given design adds."""
    out: dict[str, Pred] = {}

    def tr(code: int) -> Pred:
        return lambda o, cfg, run, k: o.And(_live(o, run, k), o.Or(
            *[x.tr_branch == code for x in run.steps[k].obs]))

    def pre(code: int) -> Pred:
        return lambda o, cfg, run, k: o.And(_live(o, run, k), o.Or(
            *[x.pre_branch == code for x in run.steps[k].obs]))

    for code, name in TR_BRANCHES.items():
        if code == TR_WAIT_RESUME and (variant is None or variant.resend_while_pending):
            continue
        if code:
            out[f"transfer: {name}"] = tr(code)
    for code, name in PRE_BRANCHES.items():
        if code:
            out[f"{name}"] = pre(code)

    def path(first: bool) -> Pred:
        return lambda o, cfg, run, k: o.And(_live(o, run, k), o.Or(*[
            o.And(x.decision, x.vals["first"] if first else o.Not(x.vals["first"]))
            for x in run.steps[k].obs]))

    out["Transferring procedure: first path (get_buf)"] = path(True)
    out["Transferring procedure: cached path (partial_aux_datas)"] = path(False)
    out["two resumes of one request"] = lambda o, cfg, run, k: o.And(
        _live(o, run, k), o.Or(*[o.And(x.tr_branch == TR_RESUME, x.vals["outstanding"])
                                 for x in run.steps[k].obs]))
    out["resume gets back a block it just freed"] = lambda o, cfg, run, k: o.And(
        _live(o, run, k), o.Or(*[o.And(x.tr_branch == TR_RESUME, o.Or(*[
            o.And(i < x.vals["old_n"], x.vals["resume_blocks"][0] == b)
            for i, b in enumerate(x.vals["old_blocks"])])) for x in run.steps[k].obs]))
    if variant is not None and variant.cancel:
        out["cancel: kept blocks freed after the Failed ack"] = lambda o, cfg, run, k: o.And(
            _live(o, run, k), o.Or(*[x.kept_freed for x in run.steps[k].obs]))
    if variant is not None and variant.alloc_agree:
        out["alloc_agree: prealloc allocation rolled back"] = lambda o, cfg, run, k: o.And(
            _live(o, run, k), o.Or(*[x.vals["pre_rollback"] for x in run.steps[k].obs]))
        out["alloc_agree: resume allocation rolled back"] = lambda o, cfg, run, k: o.And(
            _live(o, run, k), o.Or(*[x.vals["tr_rollback"] for x in run.steps[k].obs]))
    if variant is not None and variant.gate:
        out["gate: Success held back as Transferring"] = lambda o, cfg, run, k: o.And(
            _live(o, run, k), o.Or(*[o.And(x.vals["gated"]) for x in run.steps[k].obs]))
    return out
