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
    writes = [f"{rank_set(g, ',')}<-{len(st['writes'][g[0]])} block(s)"
              for g in _groups([len(w) for w in st["writes"]]) if st["writes"][g[0]]]
    if s.get("chunks"):
        fail = f" (first session FAILS on emb {rank_set(s['chunk_fail'], ',', '')})" \
            if s.get("chunk_fail") else ""
        parts.append("transfer_worker on emb " + rank_set(s["chunks"], ",", "") + fail
                     + (": " + " ".join(writes) if writes else ": no data written"))
    if s.get("emb_finish"):
        parts.append("embedding inflight poll")
    dl = _per_rank(st["delivered"], lambda d: "+".join(STATUS_NAMES[x] for x in d))
    if dl:
        parts.append("status delivered " + dl)
    if s.get("abort"):
        parts.append("abort request broadcast")
    if s.get("others_free"):
        parts.append("another request frees a block on " + _ranks(s["others_free"]))
    if s.get("others_alloc"):
        taken = _per_rank([[t["block"] for t in ts] for ts in st.get("taken", [])], str)
        parts.append("other requests take every free block on " + _ranks(s["others_alloc"])
                     + (f" ({taken})" if taken else ""))
    if not s.get("lang", True):
        parts.append("(no language iteration)")
    return "; ".join(parts) or "-"


def _ranks(rs: list[int]) -> str:
    return rank_set(rs, ",")


def rank_set(rs: list[int], sep: str = ", ", name: str = "TP") -> str:
    """Ranks as TP names, runs of three or more as ranges: "TP0, TP2..TP63"."""
    out: list[str] = []
    i = 0
    while i < len(rs):
        j = i
        while j + 1 < len(rs) and rs[j + 1] == rs[j] + 1:
            j += 1
        out += [f"{name}{rs[i]}..{name}{rs[j]}"] if j - i >= 2 else \
            [f"{name}{r}" for r in rs[i:j + 1]]
        i = j + 1
    return sep.join(out)


def _groups(keys: list[Any]) -> list[list[int]]:
    """Ranks with equal keys, in order of their first rank."""
    out: dict[Any, list[int]] = {}
    for r, k in enumerate(keys):
        out.setdefault(k, []).append(r)
    return list(out.values())


def _per_rank(per: list[Any], show: Any) -> str:
    """'TP0..TP3:x TP5:y' for the ranks with a nonempty value, equal values grouped."""
    groups = _groups([repr(x) for x in per])
    return " ".join(f"{rank_set(g, ',')}:{show(per[g[0]])}" for g in groups if per[g[0]])


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
           mark: str = "<== violation", group: bool | None = None) -> str:
    """The timeline; `focus` steps carry `mark` (the violating step, or where a proved
    property is exercised). Non-log events are shown when `verbose`, and always at a focus
    step. With `group` (default: more than 4 ranks), ranks whose lines are equal in a step are
    printed once ("TP0, TP2..TP63 (62 ranks alike)"); a rank's own number in a log line counts
    as equal."""
    focus = {focus} if isinstance(focus, int) else set(focus or ())
    cfg = sc.cfg
    group = cfg.tp_size > 4 if group is None else group
    lines = [title,
             f"scenario: L={sc.length} block_size={sc.bs} default_allocate_tokens="
             f"{sc.default_tokens} pool_blocks={cfg.pool_blocks} T={cfg.tp_size} topology="
             f"{cfg.topology}" + (f" E={cfg.n_senders}" if cfg.topology == "a" else
                                  f" receivers={rank_set(sc.receivers) if group else sc.receivers}")]
    rows = [[(b, a0) for b, a0 in enumerate(row) if a0] for row in sc.aux0]
    if any(rows):
        per = [", ".join(f"block {b}: aux[0]={a}" for b, a in row) for row in rows]
        lines.append("stale aux rows (earlier occupants): " + (
            "; ".join(f"{rank_set(g)} {per[g[0]]}" for g in _groups(per) if per[g[0]])
            if group else ", ".join(f"TP{r} block {b}: aux[0]={a}"
                                    for r, row in enumerate(rows) for b, a in row)))
    if any(sc.held):
        lines.append("blocks held by other requests at the start: " + (
            ", ".join(f"{rank_set(g)}: {sc.held[g[0]]}" for g in _groups(sc.held)
                      if sc.held[g[0]]) if group else
            ", ".join(f"TP{r}: {h}" for r, h in enumerate(sc.held) if h)))
    for st, s in zip(trace["expected"], trace["schedule"], strict=True):
        k = st["step"]
        lines.append(f"-- iteration {k}" + (f"  {mark}" if k in focus else ""))
        lines.append(f"   env: {_env(s, st)}")
        evs = [[e for e in es
                if e["ev"] in ("log", "deadlock", "handoff", "resume") or verbose or k in focus]
               for es in st["ranks"]]
        if not group:
            lines += [f"   [TP{r}] {_event(e)}" for r, es in enumerate(evs) for e in es]
            continue
        # alike: equal events (all fields, e.g. hand-off content), up to the rank's own number
        keys = [repr(es).replace(f"rank={r} ", "rank=<own> ") for r, es in enumerate(evs)]
        for g in _groups(keys):
            if evs[g[0]]:
                alike = f" ({len(g)} ranks alike)" if len(g) > 1 else ""
                lines.append(f"   [{rank_set(g)}{alike}]")
                lines += [f"      {_event(e)}".replace(f"rank={g[0]} ", "rank=<own> ")
                          for e in evs[g[0]]]
    return "\n".join(lines)
