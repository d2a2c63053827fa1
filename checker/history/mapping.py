"""Recorded engine events, decoded: one rank's step (`RankStep`), log lines through the alias
table, mapping errors, and the comparison with a model trace (every divergence).

Depends only on the recorded events (checker/enginediff) and the alias table
(checker/logcheck/formats.toml); the spec-dependent translation is in adapter.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..enginediff.traces import same_event
from ..logcheck import formats as F

# log kinds that carry the values of the Transferring decision
DECISION_KINDS = ("synced", "cached", "partial", "unexpected", "wait_resume")


@dataclass(frozen=True)
class MappingError:
    """An event or field of the engine's run that could not be observed."""

    what: str  # short key, e.g. "log format", "decision values"
    detail: str
    step: int | None = None
    rank: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"what": self.what, "detail": self.detail, "step": self.step, "rank": self.rank}


@dataclass
class Log:
    kind: str
    level: str
    values: dict[str, Any]  # canonical and extra values the format prints


def canon_log(ev: dict[str, Any]) -> Log | None:
    m = F.match_message(str(ev.get("msg", "")))
    if m is None:
        return None
    return Log(m.kind, str(ev.get("level", "")), {k: v for k, v in m.values.items()
                                                  if k not in ("rid", "_")})


@dataclass
class RankStep:
    """What one rank did in one step, in engine terms."""

    events: list[dict[str, Any]]
    pre: list[dict[str, Any]] = field(default_factory=list)  # before the transfer poll
    tr: list[dict[str, Any]] = field(default_factory=list)  # from the transfer poll on
    p_pre: int | None = None
    p_tr: int | None = None
    n_max: int = 0
    logs: list[tuple[int, Log]] = field(default_factory=list)  # (event index, log)
    unmatched: list[str] = field(default_factory=list)
    deadlock: bool = False
    exception: dict[str, Any] | None = None
    snap: dict[str, Any] | None = None

    def has(self, ev: str, section: str = "all") -> bool:
        evs = {"all": self.events, "pre": self.pre, "tr": self.tr}[section]
        return any(e.get("ev") == ev for e in evs)

    def first(self, ev: str, section: str = "all") -> dict[str, Any] | None:
        evs = {"all": self.events, "pre": self.pre, "tr": self.tr}[section]
        return next((e for e in evs if e.get("ev") == ev), None)

    def log_kinds(self, section: str = "all") -> list[str]:
        lo = 0 if section != "tr" else len(self.pre)
        hi = len(self.pre) if section == "pre" else len(self.events)
        return [lg.kind for i, lg in self.logs if lo <= i < hi]

    def decision_values(self) -> tuple[int | None, int | None, int]:
        """(L, S, index of the line) of the first Transferring-decision line."""
        for i, lg in self.logs:
            if i < len(self.pre) or lg.kind not in DECISION_KINDS:
                continue
            return lg.values.get("L"), lg.values.get("S"), i
        return None, None, len(self.events)


def decode(events: list[dict[str, Any]]) -> RankStep:
    rs = RankStep(events)
    cut = next((i for i, e in enumerate(events)
                if e.get("ev") == "poll" and e.get("queue") == "transfer"), len(events))
    rs.pre, rs.tr = events[:cut], events[cut:]
    for i, e in enumerate(events):
        ev = e.get("ev")
        if ev == "poll":
            val = (e.get("result") or [None])[0]
            if e.get("queue") == "prealloc":
                rs.p_pre = val
            elif e.get("queue") == "transfer":
                rs.p_tr = val
        elif ev == "all_reduce_max":
            rs.n_max += 1
        elif ev == "log":
            lg = canon_log(e)
            if lg is None:
                rs.unmatched.append(str(e.get("msg", "")))
            else:
                rs.logs.append((i, lg))
        elif ev == "deadlock":
            rs.deadlock = True
        elif ev == "exception":
            rs.exception = e
        elif ev == "snap":
            rs.snap = e
    return rs


# ---- comparison with a model trace ------------------------------------------------------------
def _canon(e: dict[str, Any], level: str) -> Any:
    """An event as compared: exact (log lines by kind and the values both formats print: a
    later commit's extra value, or a value an older format omits, is not a divergence),
    behaviour (no log lines at all)."""
    if e.get("ev") != "log":
        return e
    if level == "behaviour":
        return None
    lg = canon_log(e)
    return {"log": e.get("msg")} if lg is None else {"log": lg.kind, "level": lg.level,
                                                      "values": lg.values}


def _same(x: Any, y: Any) -> bool:
    if not (isinstance(x, dict) and isinstance(y, dict) and "values" in x and "values" in y):
        return same_event(x, y)
    shared = set(x["values"]) & set(y["values"])
    return (x["log"], x["level"]) == (y["log"], y["level"]) and all(
        x["values"][k] == y["values"][k] for k in shared)


def _compare(exp: list[dict[str, Any]], act: list[dict[str, Any]], level: str
             ) -> tuple[int, Any, Any] | None:
    xs = [c for c in (_canon(e, level) for e in exp) if c is not None]
    ys = [c for c in (_canon(e, level) for e in act if not e.get("seam")) if c is not None]
    for i in range(max(len(xs), len(ys))):
        x = xs[i] if i < len(xs) else None
        y = ys[i] if i < len(ys) else None
        if not _same(x, y):
            return i, x, y
    return None


def divergences(expected: list[dict[str, Any]], ranks: list[list[list[dict[str, Any]]]],
                env: list[dict[str, Any]] | None, level: str = "exact") -> list[dict[str, Any]]:
    """Every (step, rank) whose events differ from the trace's, and every step whose writes or
    statuses differ (env given: the engine's embedding side ran). A step the trace expects
    to deadlock only needs every rank to end in deadlock (trace-format.md)."""
    out: list[dict[str, Any]] = []
    dead = {"ev": "deadlock"}
    for k in range(max(len(expected), len(ranks))):
        exp = expected[k]["ranks"] if k < len(expected) else []
        act = ranks[k] if k < len(ranks) else []
        if exp and all(r and r[-1] == dead for r in exp):
            bad = [r for r in range(len(exp))
                   if r >= len(act) or not [e for e in act[r] if not e.get("seam")][-1:] == [dead]]
            out += [{"step": k, "rank": r, "what": "deadlock", "index": None,
                     "expected": dead, "actual": None} for r in bad]
            continue
        for r in range(max(len(exp), len(act))):
            d = _compare(exp[r] if r < len(exp) else [], act[r] if r < len(act) else [], level)
            if d is not None:
                out.append({"step": k, "rank": r, "what": "events", "index": d[0],
                            "expected": d[1], "actual": d[2]})
        if env is not None and k < len(env) and k < len(expected):
            for key in ("writes", "delivered"):
                for r, (x, y) in enumerate(zip(expected[k].get(key, []), env[k].get(key, []),
                                               strict=False)):
                    if x != y:
                        out.append({"step": k, "rank": r, "what": key, "index": None,
                                    "expected": x, "actual": y})
    return out
