"""Concrete scenarios: decoded from a Z3 model, replayed on the concrete model, exported as
traces (docs/trace-format.md). A counterexample is always re-run on `PyOps` before it is
shown, so what the user reads is the model's own concrete behaviour, not a solver artefact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import z3
from ranksync.spec.config import ModelConfig
from ranksync.spec.embedding import Params
from ranksync.spec.model import Choices, Run, unroll
from ranksync.spec.observe import step_events
from ranksync.spec.ops import PyOps
from ranksync.spec.variants import get_variant

from .bmc import Unrolling

LIST_FIELDS = ("messages", "chunks", "chunk_fail", "deliver", "alloc_fail")
BOOL_FIELDS = ("encode", "emb_finish", "abort", "lang")


@dataclass
class Scenario:
    cfg: ModelConfig
    variant: str
    length: int
    bs: int
    default_tokens: int
    receivers: list[int]
    aux0: list[list[int]]
    aux1: list[list[int]]
    schedule: list[dict[str, Any]] = field(default_factory=list)

    def choices(self) -> list[Choices]:
        T, E = self.cfg.tp_size, self.cfg.n_senders
        out = []
        for s in self.schedule:
            def members(name: str, n: int, s: dict[str, Any] = s) -> list[bool]:
                return [i in s.get(name, []) for i in range(n)]
            out.append(Choices(
                messages=members("messages", T), encode=bool(s.get("encode", False)),
                chunks=members("chunks", E), chunk_fail=members("chunk_fail", E),
                emb_finish=bool(s.get("emb_finish", False)), deliver=members("deliver", T),
                abort=bool(s.get("abort", False)), alloc_fail=members("alloc_fail", T),
                lang=bool(s.get("lang", True))))
        return out

    def replay(self) -> Run:
        cfg = self.cfg
        o = PyOps(cfg.block_sizes)
        p = Params(length=self.length, bs=self.bs, default_tokens=self.default_tokens,
                   receives=[r in self.receivers for r in range(cfg.tp_size)],
                   delta=cfg.mrope_delta)
        return unroll(o, cfg, get_variant(self.variant), p, self.aux0, self.aux1,
                      self.choices())

    def scenario_json(self) -> dict[str, Any]:
        cfg = self.cfg
        return {
            "topology": cfg.topology, "tp_size": cfg.tp_size,
            "embedding_tp_size": cfg.n_senders, "receivers": list(self.receivers),
            "block_size": self.bs, "default_allocate_tokens": self.default_tokens,
            "pool_blocks": cfg.pool_blocks, "hidden": cfg.hidden,
            "embedding_length": self.length, "mrope_delta": cfg.mrope_delta,
            "rid": cfg.rid, "room": cfg.room,
            "initial_aux": [[[a0, a1] for a0, a1 in zip(x, y, strict=True)]
                            for x, y in zip(self.aux0, self.aux1, strict=True)],
        }

    def trace(self, name: str, run: Run | None = None) -> dict[str, Any]:
        run = run or self.replay()
        v = get_variant(self.variant)
        expected = []
        for k in range(len(run.steps)):
            expected.append(step_events(self.cfg, v, run, k))
            if run.steps[k].mismatch:
                break
        # export only effective events: `encode` is a no-op unless enabled (trace-format.md)
        schedule = [dict(s, encode=bool(run.steps[k].encode_fired))
                    for k, s in enumerate(self.schedule[: len(expected)])]
        return {"format": "ranksync-trace", "version": 1, "name": name,
                "variant": self.variant, "scenario": self.scenario_json(),
                "schedule": schedule, "expected": expected}


def _val(m: z3.ModelRef, x: Any) -> Any:
    if isinstance(x, (bool, int)):
        return x
    v = m.eval(x, model_completion=True)
    if z3.is_bool(v):
        return z3.is_true(v)
    return v.as_signed_long()


def from_model(u: Unrolling, m: z3.ModelRef, upto: int | None = None) -> Scenario:
    cfg, sy = u.cfg, u.sym
    steps = sy.choices[: (upto + 1) if upto is not None else len(sy.choices)]
    schedule = []
    for ch in steps:
        d: dict[str, Any] = {}
        for f in LIST_FIELDS:
            d[f] = [i for i, x in enumerate(getattr(ch, f)) if _val(m, x)]
        for f in BOOL_FIELDS:
            d[f] = bool(_val(m, getattr(ch, f)))
        schedule.append(d)
    return Scenario(
        cfg=cfg, variant=u.variant.name, length=_val(m, sy.length), bs=_val(m, sy.bs),
        default_tokens=_val(m, sy.default_tokens),
        receivers=[r for r in range(cfg.tp_size) if _val(m, sy.receives[r])],
        aux0=[[_val(m, x) for x in row] for row in sy.aux0],
        aux1=[[_val(m, x) for x in row] for row in sy.aux1],
        schedule=schedule)
