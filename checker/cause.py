"""The causes of a counterexample: which of its ingredients the violation needs.

An *ingredient* is something the environment put into the run beyond scheduling: a leftover
aux row (at the start, or left by another request that took the block), a fault (an abort, a
chunk failure), or a pool event (blocks held by other requests at the start, others taking
every free block, others freeing one). An ingredient is a *cause* when the run with it
removed (row zeroed, event dropped) no longer violates the property up to the violating
iteration: the but-for test, decided by replaying the concrete model (`Scenario.replay`).

Ingredients are grouped the way the configuration lets them vary, so a removal never leaves
the model: under `stale = "history"` a block's leftover row is one ingredient shared by every
rank that holds it; under `pool_pressure = "shared"` an event of other requests happens on
every rank alike. `checker/cause_query.py` states the same test to the solver.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

from ranksync.spec.config import ModelConfig
from ranksync.spec.model import Run
from ranksync.spec.ops import PyOps
from ranksync.spec.properties import Property

from .scenario import Scenario

Kind = Literal["stale", "fault", "pool"]
KINDS: tuple[Kind, ...] = ("stale", "fault", "pool")
KIND_WORDS = {"stale": "a leftover aux row", "fault": "a fault (abort or chunk failure)",
              "pool": "a pool event of other requests"}


@dataclass(frozen=True)
class Ingredient:
    kind: Kind
    what: str  # row | taken_row | abort | chunk_fail | held | others_alloc | others_free
    ranks: tuple[int, ...] = ()
    step: int | None = None  # the iteration whose environment phase holds it
    block: int | None = None
    emb: int | None = None  # chunk_fail: the embedding rank

    def label(self) -> str:
        where = ",".join(f"TP{r}" for r in self.ranks)
        at = f" at iteration {self.step}" if self.step is not None else ""
        return {"row": f"block {self.block}'s leftover aux row on {where}",
                "taken_row": f"the aux row another request left in block {self.block} on "
                             f"{where}{at}",
                "abort": f"the abort{at}",
                "chunk_fail": f"the chunk failure on emb {self.emb}{at}",
                "held": f"the blocks other requests hold at the start on {where}",
                "others_alloc": f"other requests taking every free block on {where}{at}",
                "others_free": f"another request freeing a block on {where}{at}"}[self.what]


def _groups(cfg: ModelConfig, ranks: list[int], shared: bool) -> list[tuple[int, ...]]:
    """Ranks that one ingredient covers: all together when the setting shares them."""
    if not ranks:
        return []
    return [tuple(ranks)] if shared else [(r,) for r in ranks]


def ingredients(sc: Scenario, run: Run) -> list[Ingredient]:
    """The ingredients present in a run (each one's removal changes the run)."""
    cfg = sc.cfg
    T, P = cfg.tp_size, cfg.pool_blocks
    rows_shared = cfg.stale == "history"
    pool_shared = cfg.pool_pressure != "per_rank"
    out: list[Ingredient] = []
    for b in range(P):
        rs = [r for r in range(T) if sc.aux0[r][b] or sc.aux1[r][b]]
        out += [Ingredient("stale", "row", g, block=b) for g in _groups(cfg, rs, rows_shared)]
    if cfg.held[0] == 0:  # removing held blocks stays within held_range
        rs = [r for r in range(T) if sc.held[r]]
        out += [Ingredient("pool", "held", g) for g in _groups(cfg, rs, pool_shared)]
    for k, s in enumerate(sc.schedule[: len(run.steps)]):
        rec = run.steps[k]
        if s.get("abort") and s.get("lang", True):
            out.append(Ingredient("fault", "abort", step=k))
        out += [Ingredient("fault", "chunk_fail", step=k, emb=e)
                for e in s.get("chunk_fail", []) if e in s.get("chunks", [])]
        freeing = [r for r in s.get("others_free", []) if run.states[k].lang[r].n_held > 0]
        out += [Ingredient("pool", "others_free", g, step=k)
                for g in _groups(cfg, freeing, pool_shared)]
        taking = [r for r in range(T) if any(rec.taken[r])]
        out += [Ingredient("pool", "others_alloc", g, step=k)
                for g in _groups(cfg, taking, pool_shared)]
        rows = s.get("taken_aux") or []
        for b in range(P):
            rs = [r for r in taking if rec.taken[r][b] and rows and any(rows[r][b])]
            out += [Ingredient("stale", "taken_row", g, step=k, block=b)
                    for g in _groups(cfg, rs, rows_shared)]
    return out


def remove(sc: Scenario, ing: Ingredient) -> Scenario:
    """The same scenario without one ingredient."""
    out = copy.deepcopy(sc)
    s = out.schedule[ing.step] if ing.step is not None else {}
    if ing.what == "row":
        for r in ing.ranks:
            out.aux0[r][ing.block] = out.aux1[r][ing.block] = 0  # type: ignore[index]
    elif ing.what == "taken_row":
        for r in ing.ranks:
            s["taken_aux"][r][ing.block] = [0, 0]
    elif ing.what == "abort":
        s["abort"] = False
    elif ing.what == "chunk_fail":
        s["chunk_fail"] = [e for e in s["chunk_fail"] if e != ing.emb]
    elif ing.what == "held":
        for r in ing.ranks:
            out.held[r] = 0
    else:  # others_alloc, others_free
        s[ing.what] = [r for r in s[ing.what] if r not in ing.ranks]
    return out


def first_violation(sc: Scenario, prop: Property, run: Run | None = None) -> int | None:
    """The first iteration at which the concrete replay violates the property, if any."""
    run = run or sc.replay()
    o = PyOps(sc.cfg.block_sizes)
    for k in range(len(run.steps)):
        if prop.bad(o, sc.cfg, run, k):
            return k
    return None


@dataclass
class Cause:
    ingredient: Ingredient
    without: Scenario  # the run without it (which does not violate the property)
    text: str = ""


@dataclass
class Analysis:
    present: list[Ingredient]
    causes: list[Cause]

    def kinds(self) -> set[Kind]:
        return {c.ingredient.kind for c in self.causes}

    def to_json(self) -> dict[str, Any]:
        return {"ingredients": [i.label() for i in self.present],
                "causes": [{"kind": c.ingredient.kind, "what": c.ingredient.what,
                            "ingredient": c.ingredient.label(), "text": c.text}
                           for c in self.causes]}


def analyse(sc: Scenario, prop: Property, run: Run | None = None) -> Analysis:
    """The but-for test on every ingredient of a violating run (replays; no solver)."""
    run = run or sc.replay()
    present = ingredients(sc, run)
    causes = []
    for ing in present:
        alt = remove(sc, ing)
        if first_violation(alt, prop) is None:
            causes.append(Cause(ing, alt))
    return Analysis(present, causes)
