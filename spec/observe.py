"""Observable events of a *concrete* run, in the vocabulary of docs/trace-format.md.

This is where the model speaks the engine's language: the log lines of protocol.md §10.1,
allocator calls, collectives, messages and hand-offs, per rank and per step.
"""

from __future__ import annotations

from typing import Any

from . import content as ids
from .branches import (
    PRE_HANDSHAKE_FAILED,
    PRE_INIT,
    TR_FAILED,
    TR_NO_MEMORY,
    TR_OVERLONG,
    TR_RESUME,
    TR_SUCCESS,
    TR_SUCCESS_RESUMED,
    TR_UNEXPECTED,
    TR_WAIT_RESUME,
    LangObs,
)
from .config import ModelConfig
from .model import Run, StepRecord
from .variants import Variant

Event = dict[str, Any]
DEFAULT_REASON = "Failed due to an unknown reason from another rank"
ABORT_REASON = "Aborted by AbortReq."


def _log(level: str, msg: str) -> Event:
    return {"ev": "log", "level": level, "msg": msg}


def _size(*dims: int) -> str:
    return f"torch.Size([{', '.join(str(d) for d in dims)}])"


def _failure(cfg: ModelConfig, r: int, aborted: bool, what: str = "transfer") -> Event:
    reason = ABORT_REASON if aborted else DEFAULT_REASON
    head = "MultiModalLanguage transfer failed" if what == "transfer" else \
        "MultimodalLanguage handshake failed"
    return _log("ERROR", f"{head} for request rank={r} language_req.req.rid={cfg.rid!r} "
                         f"language_req.req.bootstrap_room={cfg.room} with exception "
                         f"EmbeddingTransferError(bootstrap_room={cfg.room}): {reason}")


def _blocks(bl: list[int], n: int) -> list[int]:
    return [int(b) for b in bl[:n]]


def rank_events(cfg: ModelConfig, v: Variant, r: int, ob: LangObs) -> list[Event]:
    """Events of rank r in one (non-deadlocked) iteration, in the engine's order."""
    vals = ob.vals
    out: list[Event] = []
    rid, h = cfg.rid, cfg.hidden
    if ob.kept_freed:  # cancel: the Failed ack arrived, the kept blocks go back
        out.append({"ev": "free", "blocks": _blocks(vals["kept_blocks"], vals["kept_n"])})
    if ob.poll_pre:
        out.append({"ev": "poll", "queue": "prealloc", "result": [int(vals["p_pre"])]})
    if ob.pre_branch == PRE_HANDSHAKE_FAILED:
        out.append(_failure(cfg, r, bool(vals["reason_abort_hs"]), "handshake"))
    if vals["pre_alloc_called"]:
        res = _blocks(vals["pre_alloc_blocks"], vals["pre_alloc_n"]) if vals["pre_alloc_ok"] else None
        out.append({"ev": "alloc", "num_tokens": int(vals["pre_num_tokens"]), "result": res})
    if ob.n_min_pre:
        out.append({"ev": "all_reduce_min", "value": int(bool(vals["pre_agreed"]))})
        if vals["pre_rollback"]:
            out.append({"ev": "free",
                        "blocks": _blocks(vals["pre_alloc_blocks"], vals["pre_alloc_n"])})
    if ob.pre_branch == PRE_INIT:
        out.append({"ev": "init", "blocks": _blocks(vals["pre_alloc_blocks"], vals["pre_alloc_n"]),
                    "allocated_tokens": int(vals["pre_allocated"])})
    if not ob.poll_tr:
        return out
    out.append({"ev": "poll", "queue": "transfer", "result": [int(vals["p_tr"])]})
    b = ob.tr_branch
    old = _blocks(vals["old_blocks"], vals["old_n"])
    release: Event = {"ev": "cancel"} if v.cancel else {"ev": "free", "blocks": old}
    if b == TR_FAILED:
        out += [_failure(cfg, r, bool(vals["reason_abort"])), release,
                {"ev": "removed", "reason": "failed"}]
    elif b in (TR_SUCCESS, TR_SUCCESS_RESUMED, TR_OVERLONG):
        if vals["resumed"]:
            pl, nk = int(vals["partial_len"]), int(vals["new_k"])
            out.append(_log("INFO", f"Resume transfer for rid={rid}: partial_sent="
                                    f"{vals['partial_sent']}, total_expected={vals['partial_total']}, "
                                    f"remaining_expected={vals['remaining']}, allocated_blocks="
                                    f"{vals['n_indices']}"))
            out.append(_log("INFO", f"Merging resumed transfer data for rid={rid}: "
                                    f"partial_embeds_shape={_size(pl, h)}, new_embeds_shape="
                                    f"{_size(nk, h)}, partial_fill_ids_len={pl}, "
                                    f"new_fill_ids_len={nk}, partial_mrope_shape={_size(3, pl)}, "
                                    f"new_mrope_shape={_size(3, nk)}"))
            if pl > 0 and nk > 0:
                out.append(_log("INFO", f"Concatenating mrope_positions: partial shape="
                                        f"{_size(3, pl)}, new shape={_size(3, nk)}"))
            elif pl > 0:
                out.append(_log("INFO", f"Using only partial mrope_positions: shape="
                                        f"{_size(3, pl)}"))
            else:
                out.append(_log("INFO", f"Using only new mrope_positions: shape={_size(3, nk)}"))
        if b == TR_OVERLONG:
            out += [_failure(cfg, r, bool(vals["reason_abort"])), release,
                    {"ev": "removed", "reason": "failed"}]
        else:
            out.append(handoff_event(cfg, ob))
    elif b in (TR_RESUME, TR_NO_MEMORY, TR_UNEXPECTED, TR_WAIT_RESUME):
        total, sent = int(vals["total"]), int(vals["sent"])
        if v.cached_path and not vals["first"]:
            out.append(_log("INFO", f"Using cached partial_aux_datas for rid={rid}: "
                                    f"actual_total_length={total}, sent_tokens={sent}"))
        elif v.sync_op is not None:
            out.append({"ev": "all_reduce_max", "value": total})
            if v.sync_sent:
                out.append({"ev": "all_reduce_max", "value": sent})
            out.append(_log("INFO", f"Synced aux_datas across ranks for rid={rid}: "
                                    f"actual_total_length={total}, sent_tokens={sent}"))
        if b == TR_WAIT_RESUME:
            out.append(_log("INFO", f"Resume transfer pending for rid={rid}: waiting for the "
                                    f"resumed data"))
            return out
        if b == TR_UNEXPECTED:
            out.append(_log("WARNING", f"Unexpected: Transferring status but sent_tokens={sent} "
                                       f">= actual_total_length={total}"))
            return out
        need = int(vals["need"])
        out.append(_log("INFO", f"Partial transfer detected for rid={rid}: received "
                                f"{sent}/{total} tokens, need to resume for {need} more tokens"))
        new = _blocks(vals["resume_blocks"], vals["resume_n"])
        local_ok = b == TR_RESUME or bool(vals.get("tr_rollback", False))
        alloc_ev = {"ev": "alloc", "num_tokens": need, "result": new if local_ok else None}
        free_ev = {"ev": "free", "blocks": old}
        out += [free_ev, alloc_ev] if vals["free_first"] else [alloc_ev, free_ev]
        if v.alloc_agree:
            out.append({"ev": "all_reduce_min", "value": int(bool(vals["tr_agreed"]))})
            if vals["tr_rollback"]:
                out.append({"ev": "free", "blocks": new})
        if b == TR_NO_MEMORY:
            out += [_log("ERROR", f"Not enough memory to resume transfer for rid={rid}, "
                                  f"need {need} tokens"),
                    _failure(cfg, r, bool(vals["reason_abort"]))]
            if v.cancel:
                out.append({"ev": "cancel"})
            elif v.refree_on_nomem:
                out.append({"ev": "free", "blocks": old})
            out.append({"ev": "removed", "reason": "failed"})
            return out
        out.append({"ev": "resume", "blocks": new, "sent_tokens": int(vals["resume_sent"]),
                    "allocated_tokens": int(vals["resume_allocated"])})
        out.append(_log("INFO", f"Resume transfer initiated for rid={rid}: allocated "
                                f"{len(new)} blocks ({int(vals['resume_allocated'])} tokens)"))
    return out


def handoff_event(cfg: ModelConfig, ob: LangObs) -> Event:
    """What the rank hands to the TP forward (docs/trace-format.md `handoff`)."""
    k = int(ob.length)
    mock = bool(ob.vals["mock"])
    ev: Event = {"ev": "handoff", "length": k, "embedding_length": int(ob.vals["emb_len"]),
                 "mm_inputs": "mock" if mock else "none", "intact": bool(ob.intact),
                 "content": [ids.export(cfg, int(c)) for c in ob.content[:k]]}
    if mock:
        ev["delta"] = int(ob.delta)
        ev["mrope"] = [[ids.export_mrope(cfg, int(ob.mrope[3 * p + row])) for p in range(k)]
                       for row in range(3)]
    return ev


def step_events(cfg: ModelConfig, v: Variant, run: Run, k: int) -> dict[str, Any]:
    rec: StepRecord = run.steps[k]
    T = cfg.tp_size
    writes = [[{"block": int(w["block"]), "start": int(w["start"]), "count": int(w["count"]),
                "aux": [int(run.params.length), int(run.params.delta)] if w["aux"] else None,
                "garbage": bool(w["garbage"])}
               for w in rec.effects.writes[r] if w["when"]] for r in range(T)]
    st = run.states[k + 1]
    bs = int(run.params.bs)  # the block's slots in use (the model keeps cfg.slots per block)
    taken = [[{"block": b, "content": [ids.export(cfg, int(c)) for c in
                                       st.lang[r].content[b * cfg.slots:b * cfg.slots + bs]],
               "aux": [int(st.lang[r].aux0[b]), int(st.lang[r].aux1[b])]}
              for b, t in enumerate(rec.taken[r]) if t] for r in range(T)]
    delivered = [[int(d["status"]) for d in rec.effects.delivered[r] if d["when"]]
                 for r in range(T)]
    if rec.mismatch:
        ranks = [[{"ev": "deadlock"}] for _ in range(T)]
    elif not rec.iterated:
        ranks = [[] for _ in range(T)]
    else:
        ranks = [rank_events(cfg, v, r, rec.obs[r])
                 for r in range(T)]
    return {"step": k, "ranks": ranks, "writes": writes, "delivered": delivered, "taken": taken}
