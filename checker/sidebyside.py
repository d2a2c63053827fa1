"""What the ranks did at the violating iteration, side by side, in the property's own terms:
the hand-offs (kind, length, content ids decoded, mrope/delta for a mock) for
`handoff_agreement` and `integrity` (with the source as a column), the branches and
collectives for `agreement`, the (L, S) pairs for `seed_claim`. A `<>` marks a row where the
ranks differ, so a reviewer sees where without reading ids."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ranksync.spec import content as ids
from ranksync.spec.branches import KIND_NAMES, LEFT_MOCK, PRE_BRANCHES, TR_BRANCHES, LangObs
from ranksync.spec.config import STATUS_NAMES, ModelConfig
from ranksync.spec.model import Run

from .timeline import _groups, rank_set

GROUP_ABOVE = 4  # more ranks than this: ranks with equal columns share one


def decode(cfg: ModelConfig, c: int) -> tuple[str, Any]:
    """A content id as (category, detail): token i, zeros, a leftover of block b (shared or
    one rank's), or garbage copied from source token q after the source blocks were freed."""
    if c >= 0:
        return "token", c
    if c == ids.ZERO:
        return "zeros", None
    gb = ids.garbage_base(cfg)
    if c <= -gb:
        return "garbage", -c - gb
    per = cfg.pool_blocks * cfg.slots
    grp, within = divmod(-c - 2, per)
    block = within // cfg.slots
    return ("leftover", block) if grp == 0 else ("own leftover", (grp - 1, block))


def label(cfg: ModelConfig, c: int) -> str:
    cat, d = decode(cfg, c)
    if cat == "token":
        return f"token {d}"
    if cat == "zeros":
        return "zeros"
    if cat == "garbage":
        return f"garbage (source token {d}, source blocks freed)"
    if cat == "leftover":
        return f"block {d}'s leftover from an earlier request"
    return f"TP{d[0]}'s own leftover in block {d[1]} (per-rank what-if)"


def summary(cfg: ModelConfig, cs: list[int]) -> str:
    """Runs of ids in words: "tokens 0..5 of the request", "zeros (2)", ..."""
    parts: list[str] = []
    i = 0
    while i < len(cs):
        cat, d = decode(cfg, cs[i])
        j = i + 1
        if cat in ("token", "garbage"):
            while j < len(cs) and decode(cfg, cs[j]) == (cat, d + (j - i)):
                j += 1
        else:
            while j < len(cs) and decode(cfg, cs[j]) == (cat, d):
                j += 1
        n = j - i
        if cat == "token":
            parts.append(f"tokens {d}..{d + n - 1} of the request" if n > 1 else f"token {d}")
        elif cat == "garbage":
            parts.append(f"garbage from freed source blocks (source tokens {d}..{d + n - 1})")
        else:
            parts.append(label(cfg, cs[i]) + (f" ({n} tokens)" if n > 1 else ""))
        i = j
    return ", ".join(parts) or "nothing"


def _mrope(cfg: ModelConfig, c: int, vals: list[int]) -> str:
    """The three mrope values of one position: its token's own column, or what they are."""
    unknown = ids.mrope_unknown(cfg)
    if vals == [3 * c + row for row in range(3)]:
        return "its own column"
    if all(v == unknown for v in vals):
        return "from an older write (not tracked)"
    out = []
    for v in vals:
        if v == unknown:
            out.append("? (older write)")
        else:
            cc, row = divmod(v, 3)
            out.append(f"{label(cfg, cc)} row {row}")
    return "; ".join(out)


def table(header: list[str], rows: Sequence[tuple[str, Sequence[str | None]]]) -> list[str]:
    """Aligned columns; `<>` after a row whose cells differ (None: blank, not compared)."""
    w0 = max([len(header[0])] + [len(r[0]) for r in rows])
    ws = [max([len(header[i + 1])] + [len(r[1][i] or "") for r in rows])
          for i in range(len(header) - 1)]

    def line(a: str, cells: Sequence[str | None], mark: str = "") -> str:
        return ("   " + a.ljust(w0) + "  " + "  ".join((c or "").ljust(w) for c, w in
                                                     zip(cells, ws, strict=True))).rstrip() + mark
    out = [line(header[0], list(header[1:]))]
    for a, cells in rows:
        out.append(line(a, cells, "  <>" if len({c for c in cells if c is not None}) > 1
                        else ""))
    return out


def columns(ranks: list[int], rows: Sequence[tuple[str, Sequence[str | None]]],
            lead: int = 0) -> tuple[list[str], list[tuple[str, list[str | None]]]]:
    """Rank column headers and rows; above GROUP_ABOVE ranks, ranks whose columns are equal
    in every row share one column ("TP1, TP3..TP7"). The first `lead` cells are not ranks."""
    if len(ranks) <= GROUP_ABOVE:
        return [f"TP{r}" for r in ranks], [(a, list(c)) for a, c in rows]
    gs = _groups([tuple(c[lead + i] for _a, c in rows) for i in range(len(ranks))])
    return ([rank_set([ranks[i] for i in g]) for g in gs],
            [(a, [*c[:lead], *[c[lead + g[0]] for g in gs]]) for a, c in rows])


def _handoff_rows(cfg: ModelConfig, obs: list[LangObs]) -> list[tuple[str, list[str | None]]]:
    def handed(ob: LangObs) -> bool:
        return bool(ob.handoff)

    rows: list[tuple[str, list[str | None]]] = [("kind", [KIND_NAMES[int(ob.left)]
                                                          for ob in obs])]
    rows.append(("length", [str(int(ob.length)) if handed(ob) else "-" for ob in obs]))
    rows.append(("embedding_length", [str(int(ob.vals["emb_len"])) if handed(ob) else "-"
                                      for ob in obs]))
    rows.append(("content", [summary(cfg, [int(c) for c in ob.content[: int(ob.length)]])
                             if handed(ob) else "-" for ob in obs]))
    n = max([int(ob.length) for ob in obs if handed(ob)] + [0])
    for p in range(n):
        rows.append((f"  position {p}", [label(cfg, int(ob.content[p]))
                                         if handed(ob) and p < int(ob.length) else "-"
                                         for ob in obs]))
    if any(handed(ob) and int(ob.left) == LEFT_MOCK for ob in obs):
        # only a mock hands off mrope positions: other ranks' cells stay blank, uncompared
        def mock(ob: LangObs) -> bool:
            return handed(ob) and int(ob.left) == LEFT_MOCK
        rows.append(("mrope_position_delta", [str(int(ob.delta)) if mock(ob) else None
                                              for ob in obs]))
        for p in range(n):
            rows.append((f"  mrope position {p}", [
                (_mrope(cfg, int(ob.content[p]), [int(x) for x in ob.mrope[3 * p: 3 * p + 3]])
                 if p < int(ob.length) else "-") if mock(ob) else None for ob in obs]))
    return rows


def handoffs(cfg: ModelConfig, run: Run, k: int, source: int | None = None) -> list[str]:
    """Every rank's hand-off at iteration k; with `source` (= L), only the ranks that hand
    off, after the source's own tokens (what an intact hand-off holds)."""
    obs = run.steps[k].obs
    ranks = [r for r, ob in enumerate(obs) if ob.handoff] if source is not None else \
        list(range(len(obs)))
    obs = [obs[r] for r in ranks]
    rows: list[tuple[str, list[str | None]]] = list(_handoff_rows(cfg, obs))
    title = f"what each rank hands to the TP forward at iteration {k}"
    if source is None:
        names, rows = columns(ranks, rows)
        return [title + ":", *table(["", *names], rows)]
    src = {"length": str(source), "embedding_length": str(source),
           "content": summary(cfg, list(range(source))),
           "mrope_position_delta": str(cfg.mrope_delta)}
    for p in range(source):
        src[f"  position {p}"] = f"token {p}"
        src[f"  mrope position {p}"] = "its own column"
    out = [title + ", next to the source (what an intact hand-off holds):"]
    names, rows = columns(ranks, [(a, [src.get(a), *cells]) for a, cells in rows], lead=1)
    return out + table(["", "source", *names], rows)


def branches(cfg: ModelConfig, run: Run, k: int) -> list[str]:
    """What every rank did at iteration k, as agreement compares it."""
    rec = run.steps[k]
    obs = rec.obs
    def yes(x: Any) -> str:
        return "yes" if x else "no"
    rows = [
        ("prealloc MIN poll", [yes(ob.poll_pre) for ob in obs]),
        ("prealloc branch", [PRE_BRANCHES[int(ob.pre_branch)] for ob in obs]),
        ("transfer MIN poll", [(STATUS_NAMES.get(int(ob.vals["p_tr"]), "?") if ob.poll_tr
                                else "no") for ob in obs]),
        ("transfer branch", [TR_BRANCHES[int(ob.tr_branch)] for ob in obs]),
        ("Transferring path", [("first (get_buf)" if ob.vals["first"] else
                                "cached (partial_aux_datas)") if ob.decision else "-"
                               for ob in obs]),
        ("MAX all-reduces", [str(int(ob.n_max)) for ob in obs]),
        ("alloc agreement MIN", [yes(ob.n_min_pre or ob.n_min_tr) for ob in obs]),
    ]
    title = f"the branches at iteration {k}" + (
        " (the ranks' collective calls differ: the iteration deadlocks)" if rec.mismatch
        else "") + ":"
    names, grouped = columns(list(range(len(obs))), rows)
    return [title, *table(["", *names], grouped)]


def numbers(cfg: ModelConfig, run: Run, k: int) -> list[str]:
    """The (L, S) pair each rank decides with at iteration k (seed_claim)."""
    obs = run.steps[k].obs
    def pair(ob: LangObs) -> str:
        if not ob.decision:
            return "-"
        return f"({int(ob.vals['total'])}, {int(ob.vals['sent'])})"
    def local(ob: LangObs) -> str:
        if not (ob.decision and ob.vals["first"]):
            return "-"
        return f"({int(ob.vals['emb_len'])}, {int(ob.vals['ori'])})"
    rows = [("its own get_buf read (aux[0], tokens)", [local(ob) for ob in obs]),
            ("(L, S) = (actual_total_length, sent_tokens)", [pair(ob) for ob in obs]),
            ("from", [("the synced first path" if ob.vals["first"] else
                       "cached partial_aux_datas") if ob.decision else "-" for ob in obs])]
    names, grouped = columns(list(range(len(obs))), rows)
    return [f"the two numbers at iteration {k}:", *table(["", *names], grouped)]


def side_by_side(prop: str, cfg: ModelConfig, run: Run, k: int, length: int) -> list[str]:
    """The view that fits the property, or nothing."""
    if prop == "handoff_agreement":
        return handoffs(cfg, run, k)
    if prop == "integrity":
        return handoffs(cfg, run, k, source=length)
    if prop == "agreement":
        return branches(cfg, run, k)
    if prop == "seed_claim":
        return numbers(cfg, run, k)
    return []
