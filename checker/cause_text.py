"""One line per cause, in the engine's terms: what the ingredient is, what the run did with it
(for a leftover aux row: which rank read it where, and what the MAX made of it), and what
happens without it (the first place the run without it departs from the run with it)."""

from __future__ import annotations

from ranksync.spec.branches import LEFT_MOCK
from ranksync.spec.model import Run
from ranksync.spec.observe import step_events
from ranksync.spec.variants import get_variant

from .cause import Analysis, Cause, Ingredient
from .scenario import Scenario
from .timeline import _event


def _ranks(rs: tuple[int, ...] | list[int], T: int) -> str:
    if len(rs) == T and T > 1:
        return "every rank"
    return ",".join(f"TP{r}" for r in rs)


def _row(sc: Scenario, ing: Ingredient) -> tuple[int, int]:
    r, b = ing.ranks[0], ing.block
    assert b is not None
    if ing.what == "row":
        return sc.aux0[r][b], sc.aux1[r][b]
    assert ing.step is not None
    a0, a1 = sc.schedule[ing.step]["taken_aux"][r][b]
    return int(a0), int(a1)


def _row_value(a0: int, a1: int) -> str:
    return f"{a0}" + (f" (and mrope delta {a1})" if a1 else "") if a0 else f"mrope delta {a1}"


def _readers(sc: Scenario, run: Run, ing: Ingredient, j: int) -> list[int]:
    """Ranks whose get_buf at iteration j starts at the ingredient's block while it still
    holds the leftover row (no write of this request, no other request replaced it)."""
    b = ing.block
    assert b is not None
    a0, a1 = _row(sc, ing)
    since = 0 if ing.what == "row" else (ing.step or 0) + 1
    rec, st = run.steps[j], run.states[j + 1]
    out = []
    for r in ing.ranks:
        ob, lr = rec.obs[r], st.lang[r]
        if not (rec.iterated and ob.poll_tr and int(ob.vals["old_n"]) > 0
                and int(ob.vals["old_blocks"][0]) == b):
            continue
        if lr.aux_room[b] or (int(lr.aux0[b]), int(lr.aux1[b])) != (a0, a1):
            continue
        if j < since - 1 or any(run.steps[i].taken[r][b] for i in range(since, j + 1)):
            continue  # not there yet, or another request replaced it since
        out.append(r)
    return out


def _reads(sc: Scenario, run: Run, ing: Ingredient) -> list[str]:
    """What the ranks did with a leftover row: read it as actual_total_length on the first
    path (and what the MAX made of it), or as embedding_length (and delta) at Success."""
    v = get_variant(sc.variant)
    T = sc.cfg.tp_size
    a0, a1 = _row(sc, ing)
    out: list[str] = []
    for j, rec in enumerate(run.steps):
        readers = _readers(sc, run, ing, j)
        first = [r for r in readers if rec.obs[r].decision and rec.obs[r].vals["first"]]
        if first:
            s = f"at iteration {j} {_ranks(first, T)}'s get_buf reads {a0} from it as " \
                f"actual_total_length"
            if v.sync_op is None:
                s += " (no all-reduce: each rank decides with its own read)"
            else:
                op, total = v.sync_op.upper(), int(rec.obs[first[0]].vals["total"])
                others = sorted({int(o.vals["emb_len"]) for q, o in enumerate(rec.obs)
                                 if q not in first and o.decision and o.vals["first"]})
                if total == a0 and any(x != a0 for x in others):
                    s += f"; the {op} picks {a0} over " + ", ".join(
                        str(x) for x in others if x != a0)
                elif total != a0:
                    s += f"; the {op} picks {total} instead"
                else:
                    s += f"; the {op} gives {total}"
            out.append(s)
        final = [r for r in readers if rec.obs[r].vals["fresh"] or rec.obs[r].vals["overlong"]]
        if final:
            s = f"at iteration {j} {_ranks(final, T)}'s get_buf at Success reads {a0} from " \
                f"it as embedding_length"
            mock = [r for r in final if int(rec.obs[r].left) == LEFT_MOCK]
            if a1 and mock:
                s += f" and {_ranks(mock, T)} hand off its {a1} as mrope_position_delta"
            out.append(s)
    return out


def what(sc: Scenario, run: Run, ing: Ingredient) -> str:
    """The ingredient in the engine's terms."""
    T = sc.cfg.tp_size
    where = _ranks(ing.ranks, T)
    if ing.what in ("row", "taken_row"):
        a0, a1 = _row(sc, ing)
        if ing.what == "row":
            s = f"block {ing.block}'s aux row still holds {_row_value(a0, a1)} from an " \
                f"earlier request"
        else:
            s = f"block {ing.block}'s aux row holds {_row_value(a0, a1)}, left by another " \
                f"request that took the block at iteration {ing.step}"
        s += f" ({where}" + (", drawn for this rank alone: per-rank what-if)"
                             if sc.cfg.stale == "per_rank" else ")")
        return s
    if ing.what == "abort":
        return f"an abort request reaches every rank at iteration {ing.step}"
    if ing.what == "chunk_fail":
        return f"the chunk of emb {ing.emb} fails at iteration {ing.step}"
    if ing.what == "held":
        P = sc.cfg.pool_blocks
        h = sc.held[ing.ranks[0]]
        return f"other requests hold blocks {list(range(P - h, P))} at the start ({where})"
    k = ing.step
    assert k is not None
    if ing.what == "others_alloc":
        blocks = [b for b, t in enumerate(run.steps[k].taken[ing.ranks[0]]) if t]
        return f"other requests take every free block {blocks} at iteration {k} ({where})"
    b = int(run.states[k].lang[ing.ranks[0]].held_slots[0])
    return f"another request frees block {b} at iteration {k} ({where})"


def _events(sc: Scenario, run: Run, logs: bool) -> list[list[list[str]]]:
    v = get_variant(sc.variant)
    return [[[f"{e['level']} {e['msg']}" if e["ev"] == "log" else _event(e).strip()
              for e in evs if e["ev"] == "log" or not logs]
             for evs in step_events(sc.cfg, v, run, k)["ranks"]]
            for k in range(len(run.steps))]


def without(sc: Scenario, run: Run, c: Cause) -> str:
    """The first place where the run without the ingredient departs from the run: the first
    log line that differs, else the first event."""
    alt = c.without.replay()
    for logs in (True, False):
        a, b = _events(sc, run, logs), _events(c.without, alt, logs)
        for k, (xs, ys) in enumerate(zip(a, b, strict=True)):
            for r, (x, y) in enumerate(zip(xs, ys, strict=True)):
                if x == y:
                    continue
                i = next((i for i, (p, q) in enumerate(zip(x, y, strict=False)) if p != q),
                         min(len(x), len(y)))
                head = f"without it, at iteration {k} TP{r} would"
                if i >= len(y):
                    return f"{head} not do `{x[i]}`"
                if i >= len(x):
                    return f"{head} also do `{y[i]}`"
                return f"{head} do `{y[i]}` instead of `{x[i]}`"
    return "without it, the ranks do the same but the property holds"


def describe(sc: Scenario, run: Run, an: Analysis) -> list[str]:
    """`cause: ...` lines, or one line saying that nothing in the run is needed."""
    if not an.causes:
        kinds = sorted({i.kind for i in an.present})
        extra = f" (it has {len(an.present)}, of kinds {', '.join(kinds)}, none needed)" \
            if an.present else ""
        return ["cause: none of the run's ingredients: no leftover aux row, fault or pool event "
                "is needed for this violation" + extra]
    out = []
    for c in an.causes:
        ing = c.ingredient
        parts = [what(sc, run, ing)]
        if ing.kind == "stale":
            parts += _reads(sc, run, ing)
        parts.append(without(sc, run, c))
        c.text = "; ".join(parts)
        out.append(f"cause ({ing.kind}): {c.text}")
    return out
