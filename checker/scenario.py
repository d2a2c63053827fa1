"""Concrete scenarios: decoded from a Z3 model, replayed on the concrete model, exported as
traces (docs/trace-format.md). A counterexample is always re-run on `PyOps` before it is
shown, so what the user reads is the model's own concrete behaviour, not a solver artefact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import z3
from ranksync.spec import content as ids
from ranksync.spec.config import ModelConfig
from ranksync.spec.embedding import Params
from ranksync.spec.model import Choices, Run, leftovers, unroll
from ranksync.spec.observe import step_events
from ranksync.spec.ops import PyOps
from ranksync.spec.state import Leftovers
from ranksync.spec.variants import get_variant

from .bmc import Unrolling

LIST_FIELDS = ("messages", "chunks", "chunk_fail", "deliver", "others_free", "others_alloc")
BOOL_FIELDS = ("encode", "emb_finish", "abort", "lang")


@dataclass
class Scenario:
    cfg: ModelConfig
    variant: str
    length: int
    bs: int
    default_tokens: int
    receivers: list[int]
    aux0: list[list[int]]  # leftover aux rows [rank][block]
    aux1: list[list[int]]
    held: list[int]  # blocks held by other requests at the start, per rank
    # per step: the choices, plus "taken_aux" [rank][block] -> [aux0, aux1] (what other
    # requests leave in the blocks they take; exported as the expected step's `taken`)
    schedule: list[dict[str, Any]] = field(default_factory=list)
    # leftover content ids [rank][block * slots + slot], when given by a trace (else derived
    # from the `stale` setting, spec.model.leftover_content)
    content: list[list[int]] | None = None

    def params(self) -> Params:
        return Params(length=self.length, bs=self.bs, default_tokens=self.default_tokens,
                      receives=[r in self.receivers for r in range(self.cfg.tp_size)],
                      delta=self.cfg.mrope_delta)

    def choices(self) -> list[Choices]:
        T, E, P = self.cfg.tp_size, self.cfg.n_senders, self.cfg.pool_blocks
        out = []
        for s in self.schedule:
            def members(name: str, n: int, s: dict[str, Any] = s) -> list[bool]:
                return [i in s.get(name, []) for i in range(n)]
            rows = s.get("taken_aux") or [[[0, 0]] * P for _ in range(T)]
            out.append(Choices(
                messages=members("messages", T), encode=bool(s.get("encode", False)),
                chunks=members("chunks", E), chunk_fail=members("chunk_fail", E),
                emb_finish=bool(s.get("emb_finish", False)), deliver=members("deliver", T),
                abort=bool(s.get("abort", False)), others_free=members("others_free", T),
                others_alloc=members("others_alloc", T), lang=bool(s.get("lang", True)),
                taken_aux0=[[int(x[0]) for x in row] for row in rows],
                taken_aux1=[[int(x[1]) for x in row] for row in rows]))
        return out

    def leftovers(self, o: PyOps | None = None) -> list[Leftovers]:
        o = o or PyOps(self.cfg.block_sizes)
        out = leftovers(o, self.cfg, get_variant(self.variant), self.params(), self.aux0,
                        self.aux1, self.held)
        for lf, c in zip(out, self.content or [], strict=False):
            lf.content = list(c)
        return out

    def replay(self) -> Run:
        cfg = self.cfg
        o = PyOps(cfg.block_sizes)
        return unroll(o, cfg, get_variant(self.variant), self.params(), self.leftovers(o),
                      self.choices())

    def scenario_json(self) -> dict[str, Any]:
        cfg, P, bs = self.cfg, self.cfg.pool_blocks, self.bs
        left = self.leftovers()
        free = [P - h for h in self.held]
        return {
            "topology": cfg.topology, "tp_size": cfg.tp_size,
            "embedding_tp_size": cfg.n_senders, "receivers": list(self.receivers),
            "block_size": bs, "default_allocate_tokens": self.default_tokens,
            "pool_blocks": P, "hidden": cfg.hidden,
            "embedding_length": self.length, "mrope_delta": cfg.mrope_delta,
            "rid": cfg.rid, "room": cfg.room,
            "initial_free": [list(range(f)) for f in free],
            "initial_held": [list(range(f, P)) for f in free],
            "initial_aux": [[[a0, a1] for a0, a1 in zip(x, y, strict=True)]
                            for x, y in zip(self.aux0, self.aux1, strict=True)],
            "initial_content": [[[ids.export(cfg, int(c)) for c in
                                  lf.content[b * cfg.slots: b * cfg.slots + bs]]
                                 for b in range(P)] for lf in left],
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
        schedule = [{**{f: s[f] for f in (*LIST_FIELDS, *BOOL_FIELDS) if f in s},
                     "encode": bool(run.steps[k].encode_fired)}
                    for k, s in enumerate(self.schedule[: len(expected)])]
        return {"format": "ranksync-trace", "version": 2, "name": name,
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
        d["taken_aux"] = [[[_val(m, a0), _val(m, a1)] for a0, a1 in zip(r0, r1, strict=True)]
                          for r0, r1 in zip(ch.taken_aux0, ch.taken_aux1, strict=True)]
        schedule.append(d)
    return Scenario(
        cfg=cfg, variant=u.variant.name, length=_val(m, sy.length), bs=_val(m, sy.bs),
        default_tokens=_val(m, sy.default_tokens),
        receivers=[r for r in range(cfg.tp_size) if _val(m, sy.receives[r])],
        aux0=[[_val(m, x) for x in row] for row in sy.aux0],
        aux1=[[_val(m, x) for x in row] for row in sy.aux1],
        held=[_val(m, x) for x in sy.held],
        schedule=schedule)
