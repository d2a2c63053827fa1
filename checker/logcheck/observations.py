"""Group parsed lines by request and rank, in bounded memory.

Only the protocol lines are kept, each as a small tuple (kind, values, file, line number):
per (request, rank) a compact branch sequence. Two caps bound the memory whatever the log
size: `max_requests` distinct requests are kept (lines of later requests are counted, not
kept) and `max_lines` lines per (request, rank) (a longer sequence is marked `overflow` and
not analysed). Both are reported, never silent.

Requests are keyed by (rid, DP tag, PP tag). Lines that carry no rid (the seed's excerpt;
the engine's "Unexpected" warning never does) go to the unknown request `rid=None`. With
`unknown="auto"`, they are attached to the only named request when the log has exactly one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from .parser import VALUE_NAMES, Parsed, Unmatched

ReqKey = tuple[str | None, int | None, int | None]


@dataclass(frozen=True)
class Obs:
    """One observed language-side line."""

    kind: str
    values: tuple[int | None, ...]  # None: the commit's format does not print this value
    file: str
    lineno: int
    seq: int  # order of arrival over all files (keeps per-rank order when groups merge)

    def describe(self) -> str:
        names = VALUE_NAMES.get(self.kind, ())
        vals = ", ".join(f"{n}={v}" for n, v in zip(names, self.values, strict=False)
                         if v is not None)
        return f"{self.kind}({vals})"

    def where(self) -> str:
        return f"{self.file}:{self.lineno}"

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "values": {n: v for n, v in zip(
                    VALUE_NAMES.get(self.kind, ()), self.values, strict=False) if v is not None},
                "file": self.file, "line": self.lineno}


@dataclass
class RequestObs:
    rid: str | None
    dp: int | None
    pp: int | None
    ranks: dict[int, list[Obs]] = field(default_factory=dict)
    overflow: set[int] = field(default_factory=set)
    attached_unknown: bool = False

    @property
    def label(self) -> str:
        s = f"rid={self.rid}" if self.rid is not None else "rid=<unknown> (lines without rid)"
        if self.attached_unknown:
            s += " + lines without rid"
        if self.dp is not None:
            s += f" DP{self.dp}"
        if self.pp is not None:
            s += f" PP{self.pp}"
        return s

    def n_lines(self) -> int:
        return sum(len(v) for v in self.ranks.values())

    def signature_differs(self) -> bool:
        """Cheap screen (no solver): ranks logged different kind sequences."""
        sigs = {tuple(o.kind for o in v) for v in self.ranks.values()}
        return len(sigs) > 1


@dataclass
class Stats:
    files: int = 0
    lines: int = 0
    protocol_lines: int = 0
    language_lines: int = 0
    embedding_lines: int = 0
    dropped_requests: int = 0  # requests beyond max_requests
    dropped_lines: int = 0  # their lines, and lines beyond max_lines of a rank
    info_lines: int = 0  # language lines of kinds the model does not emit (reported only)
    unmatched_lines: int = 0  # protocol-looking lines that match no known format


class Collector:
    MAX_DROPPED_KEYS = 50_000  # bounds the memory of counting dropped requests
    MAX_UNMATCHED = 50  # unmatched lines kept for the report (all are counted)

    def __init__(self, max_requests: int = 10_000, max_lines: int = 256,
                 max_embedding_examples: int = 20) -> None:
        self.max_requests = max_requests
        self.max_lines = max_lines
        self.max_emb = max_embedding_examples
        self.requests: dict[ReqKey, RequestObs] = {}
        self.dropped_keys: set[ReqKey] = set()
        self.stats = Stats()
        self.embedding_counts: Counter[str] = Counter()
        self.embedding_examples: list[dict[str, object]] = []
        self.info_counts: Counter[str] = Counter()
        self.unmatched: list[dict[str, object]] = []
        self._seq = 0

    def feed_unmatched(self, u: Unmatched, file: str, lineno: int) -> None:
        """A line that looks like a protocol line but matches no known format."""
        self.stats.unmatched_lines += 1
        if len(self.unmatched) < self.MAX_UNMATCHED:
            self.unmatched.append({"file": file, "line": lineno, "tp": u.tp,
                                   "message": u.message, "reason": u.reason,
                                   "nearest": u.nearest.literal(),
                                   "nearest_kind": u.nearest.kind,
                                   "nearest_commits": list(u.nearest.commits)})

    def feed(self, p: Parsed, file: str, lineno: int) -> None:
        st = self.stats
        st.protocol_lines += 1
        if p.side == "embedding":
            st.embedding_lines += 1
            self.embedding_counts[p.kind] += 1
            if len(self.embedding_examples) < self.max_emb:
                self.embedding_examples.append({"kind": p.kind, "tp": p.tp, "values":
                                                list(p.values), "extra": p.extra,
                                                "file": file, "line": lineno})
            return
        st.language_lines += 1
        if not p.model_kind:
            st.info_lines += 1
            self.info_counts[p.kind] += 1
            return
        key: ReqKey = (p.rid, p.dp, p.pp)
        req = self.requests.get(key)
        if req is None:
            if len(self.requests) >= self.max_requests:
                if len(self.dropped_keys) < self.MAX_DROPPED_KEYS:  # counted exactly up to it
                    self.dropped_keys.add(key)
                st.dropped_lines += 1
                return
            req = self.requests[key] = RequestObs(p.rid, p.dp, p.pp)
        seq = req.ranks.setdefault(p.tp, [])
        if len(seq) >= self.max_lines:
            req.overflow.add(p.tp)
            st.dropped_lines += 1
            return
        self._seq += 1
        seq.append(Obs(p.kind, p.values, file, lineno, self._seq))

    def finish(self, unknown: Literal["auto", "separate", "attach"] = "auto"
               ) -> list[RequestObs]:
        self.stats.dropped_requests = len(self.dropped_keys)
        reqs = list(self.requests.values())
        unk = [r for r in reqs if r.rid is None]
        named = [r for r in reqs if r.rid is not None]
        attach = unknown == "attach" or (unknown == "auto" and len(named) == 1)
        if unk and named and attach:
            if len(named) != 1:
                raise ValueError("--unknown-rid attach needs exactly one named request in the "
                                 f"log; found {len(named)}")
            target = named[0]
            for u in unk:
                for r, obs in u.ranks.items():
                    merged = sorted(target.ranks.get(r, []) + obs, key=lambda o: o.seq)
                    target.ranks[r] = merged[: self.max_lines]
                    if len(merged) > self.max_lines or r in u.overflow:
                        target.overflow.add(r)
            target.attached_unknown = True
            reqs = named
        return reqs
