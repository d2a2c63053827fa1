"""Per-rank, per-iteration timelines of a concrete run, in the engine's own log lines."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ranksync.spec.config import STATUS_NAMES

from .scenario import Scenario


def _env(s: dict[str, Any], st: dict[str, Any]) -> str:
    parts = []
    if s.get("messages"):
        parts.append("embedding_thread drains messages of " + _ranks(s["messages"]))
    if s.get("encode"):
        parts.append("forward done: first chunks queued")
    writes = [f"TP{r}<-{len(w)} block(s)" for r, w in enumerate(st["writes"]) if w]
    if s.get("chunks"):
        fail = f" (first session FAILS on emb {s['chunk_fail']})" if s.get("chunk_fail") else ""
        parts.append("transfer_worker on emb " + ",".join(map(str, s["chunks"])) + fail
                     + (": " + " ".join(writes) if writes else ": no data written"))
    if s.get("emb_finish"):
        parts.append("embedding inflight poll")
    dl = [f"TP{r}:{'+'.join(STATUS_NAMES[x] for x in d)}" for r, d in enumerate(st["delivered"])
          if d]
    if dl:
        parts.append("status delivered " + " ".join(dl))
    if s.get("abort"):
        parts.append("abort request broadcast")
    if s.get("others_free"):
        parts.append("another request frees a block on " + _ranks(s["others_free"]))
    if s.get("others_alloc"):
        taken = [f"TP{r}:{[t['block'] for t in ts]}" for r, ts in enumerate(st.get("taken", []))
                 if ts]
        parts.append("other requests take every free block on " + _ranks(s["others_alloc"])
                     + (" (" + " ".join(taken) + ")" if taken else ""))
    if not s.get("lang", True):
        parts.append("(no language iteration)")
    return "; ".join(parts) or "-"


def _ranks(rs: list[int]) -> str:
    return ",".join(f"TP{r}" for r in rs)


def _event(e: dict[str, Any]) -> str:
    k = e["ev"]
    if k == "log":
        return f"{e['level']:7} {e['msg']}"
    if k == "poll":
        return f"        . poll_and_all_reduce({e['queue']}) -> " + \
            ",".join(STATUS_NAMES[x] for x in e["result"])
    if k == "all_reduce_max":
        return f"        . all_reduce(MAX) -> {e['value']}"
    if k == "all_reduce_min":
        return f"        . all_reduce(MIN, got blocks) -> {e['value']}"
    if k == "cancel":
        return "        . cancel() sent to the embedding rank; blocks kept until Failed"
    if k == "alloc":
        return f"        . alloc(num_tokens={e['num_tokens']}) -> {e['result']}"
    if k == "free":
        return f"        . free({e['blocks']})"
    if k == "init":
        return f"        . init(blocks={e['blocks']}, allocated_tokens={e['allocated_tokens']})"
    if k == "resume":
        return (f"        . resume_transfer(blocks={e['blocks']}, sent_tokens={e['sent_tokens']}, "
                f"allocated_tokens={e['allocated_tokens']})")
    if k == "handoff":
        ok = "intact" if e["intact"] else "CORRUPT"
        return (f"        . hand-off: {e['length']} tokens, embedding_length="
                f"{e['embedding_length']}, mm_inputs={e['mm_inputs']} ({ok})")
    if k == "removed":
        return "        . request removed (failed)"
    if k == "deadlock":
        return "        . DEADLOCK: collective calls differ across ranks"
    return f"        . {e}"


def render(sc: Scenario, trace: dict[str, Any], title: str,
           focus: int | Collection[int] | None = None, verbose: bool = False,
           mark: str = "<== violation") -> str:
    """The timeline; `focus` steps carry `mark` (the violating step, or where a proved
    property is exercised). Non-log events are shown when `verbose`, and always at a focus
    step."""
    focus = {focus} if isinstance(focus, int) else set(focus or ())
    cfg = sc.cfg
    lines = [title,
             f"scenario: L={sc.length} block_size={sc.bs} default_allocate_tokens="
             f"{sc.default_tokens} pool_blocks={cfg.pool_blocks} T={cfg.tp_size} topology="
             f"{cfg.topology}" + (f" E={cfg.n_senders}" if cfg.topology == "a" else
                                  f" receivers={sc.receivers}")]
    stale = [(r, b, a0) for r, row in enumerate(sc.aux0) for b, a0 in enumerate(row) if a0]
    if stale:
        lines.append("stale aux rows (earlier occupants): " +
                     ", ".join(f"TP{r} block {b}: aux[0]={a}" for r, b, a in stale))
    if any(sc.held):
        lines.append("blocks held by other requests at the start: " +
                     ", ".join(f"TP{r}: {h}" for r, h in enumerate(sc.held) if h))
    for st, s in zip(trace["expected"], trace["schedule"], strict=True):
        k = st["step"]
        lines.append(f"-- iteration {k}" + (f"  {mark}" if k in focus else ""))
        lines.append(f"   env: {_env(s, st)}")
        for r, evs in enumerate(st["ranks"]):
            for e in evs:
                if e["ev"] in ("log", "deadlock", "handoff", "resume") or verbose or k in focus:
                    lines.append(f"   [TP{r}] {_event(e)}")
    return "\n".join(lines)
