"""Parsing and validation of traces (docs/trace-format.md, version 2 only). Errors raise
:class:`TraceError` with one line naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .content import ZEROS, check_id, garbage_id
from .variants import VARIANTS, get_variant


class TraceError(ValueError):
    """A malformed trace, scenario or schedule (the CLI maps this to exit status 2)."""


@dataclass(frozen=True)
class Scenario:
    topology: str
    tp_size: int
    embedding_tp_size: int
    receivers: tuple[int, ...]
    block_size: int
    default_allocate_tokens: int
    pool_blocks: int
    hidden: int
    embedding_length: int
    mrope_delta: int
    rid: str
    room: int
    initial_aux: tuple[tuple[tuple[int, int], ...], ...]  # [rank][block] -> (aux0, aux1)
    # v2: [rank] -> the free list (head first) and the blocks other live requests hold (in
    # the order they will free them); [rank][block] -> content id of each token slot.
    initial_free: tuple[tuple[int, ...], ...] = ()
    initial_held: tuple[tuple[int, ...], ...] = ()
    initial_content: tuple[tuple[tuple[int, ...], ...], ...] = ()

    def embedding_rank_of(self, lang_rank: int) -> int:
        """trace-format: language rank r is a session of embedding rank r mod E (= r if E > T)."""
        return lang_rank % self.embedding_tp_size

    @property
    def required_dst_info_num(self) -> int:
        """protocol.md §4: T div E when T > E, else 1 (topology b: E = T)."""
        t, e = self.tp_size, self.embedding_tp_size
        return t // e if t > e else 1

    def sessions_of(self, emb_rank: int) -> list[int]:
        return [r for r in range(self.tp_size) if self.embedding_rank_of(r) == emb_rank]


@dataclass(frozen=True)
class Step:
    messages: tuple[int, ...] = ()
    encode: bool = False
    chunks: tuple[int, ...] = ()
    chunk_fail: tuple[int, ...] = ()
    emb_finish: bool = False
    deliver: tuple[int, ...] = ()
    others_free: tuple[int, ...] = ()
    others_alloc: tuple[int, ...] = ()
    abort: bool = False
    lang: bool = True


@dataclass(frozen=True)
class TakenBlock:
    """One entry of an expected step's ``taken``: what another request leaves in a block."""

    block: int
    content: tuple[int, ...]
    aux: tuple[int, int]


@dataclass(frozen=True)
class Trace:
    name: str
    variant: str
    scenario: Scenario
    schedule: tuple[Step, ...]
    expected: list[Any] | None
    # [step][rank] -> what others_alloc's requests leave in the blocks, from ``expected``
    taken: tuple[dict[int, tuple[TakenBlock, ...]], ...] = ()


FORMAT_VERSION = 2
_STEP_FIELDS = {
    "messages", "encode", "chunks", "chunk_fail", "emb_finish", "deliver",
    "others_free", "others_alloc", "abort", "lang",
}
# Annotations a writer may add to a step; they do not change the semantics.
_STEP_ANNOTATIONS = {"step", "note", "comment"}


def _int(d: Mapping[str, Any], key: str, lo: int | None = None) -> int:
    if key not in d:
        raise TraceError(f"scenario: missing field {key!r}")
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, int):
        raise TraceError(f"scenario.{key}: expected an integer, got {v!r}")
    if lo is not None and v < lo:
        raise TraceError(f"scenario.{key}: must be >= {lo}, got {v}")
    return v


def _rank_list(v: Any, where: str, bound: int) -> tuple[int, ...]:
    if not isinstance(v, list):
        raise TraceError(f"{where}: expected a list of ranks, got {v!r}")
    out: list[int] = []
    for x in v:
        if isinstance(x, bool) or not isinstance(x, int) or not 0 <= x < bound:
            raise TraceError(f"{where}: rank {x!r} outside [0, {bound})")
        if x in out:
            raise TraceError(f"{where}: duplicate rank {x}")
        out.append(x)
    return tuple(sorted(out))


def _aux_pair(v: Any, where: str) -> tuple[int, int]:
    if (
        not isinstance(v, list | tuple)
        or len(v) != 2
        or any(isinstance(x, bool) or not isinstance(x, int) for x in v)
    ):
        raise TraceError(f"{where}: expected [aux0, aux1] integers, got {v!r}")
    return (int(v[0]), int(v[1]))


def _indexed(v: Any, where: str, bound: int) -> dict[int, Any]:
    """Accept a list (index = position) or a mapping with int / numeric-string keys."""
    if isinstance(v, list):
        if len(v) > bound:
            raise TraceError(f"{where}: {len(v)} entries, at most {bound} allowed")
        return dict(enumerate(v))
    if isinstance(v, Mapping):
        out: dict[int, Any] = {}
        for k, x in v.items():
            try:
                i = int(k)
            except (TypeError, ValueError):
                raise TraceError(f"{where}: bad index {k!r}") from None
            if not 0 <= i < bound:
                raise TraceError(f"{where}: index {i} outside [0, {bound})")
            out[i] = x
        return out
    raise TraceError(f"{where}: expected a list or an object, got {type(v).__name__}")


def parse_scenario(d: Any) -> Scenario:
    if not isinstance(d, Mapping):
        raise TraceError("scenario: expected an object")
    topology = d.get("topology")
    if topology not in ("a", "b"):
        raise TraceError(f"scenario.topology: expected 'a' or 'b', got {topology!r}")
    t = _int(d, "tp_size", 1)
    if topology == "b":
        e = d.get("embedding_tp_size", t)
        if e != t:
            raise TraceError(f"scenario.embedding_tp_size: topology b needs E = T = {t}, got {e!r}")
    else:
        e = _int(d, "embedding_tp_size", 1)
        # E > T: ranks T..E-1 hold no session (trace-format.md "E > T")
        if e <= t and t % e:
            raise TraceError(f"scenario.embedding_tp_size: E={e} <= T={t} must divide T")
    if topology == "b":
        if "receivers" not in d:
            raise TraceError("scenario.receivers: required for topology b")
        receivers = _rank_list(d["receivers"], "scenario.receivers", t)
    else:
        receivers = tuple(range(t))
        if "receivers" in d and _rank_list(d["receivers"], "scenario.receivers", t) != receivers:
            raise TraceError("scenario.receivers: topology a means every rank receives data")
    bs = _int(d, "block_size", 1)
    default_alloc = _int(d, "default_allocate_tokens", 1)
    pool = _int(d, "pool_blocks", 1)
    hidden = _int(d, "hidden", 1)
    length = _int(d, "embedding_length", 1)
    delta = _int(d, "mrope_delta")
    rid = d.get("rid")
    if not isinstance(rid, str):
        raise TraceError(f"scenario.rid: expected a string, got {rid!r}")
    room = _int(d, "room")
    aux_rows: list[tuple[tuple[int, int], ...]] = []
    raw_aux = _indexed(d.get("initial_aux", []), "scenario.initial_aux", t)
    for r in range(t):
        per_block = _indexed(raw_aux.get(r, []), f"scenario.initial_aux[{r}]", pool)
        aux_rows.append(
            tuple(
                _aux_pair(per_block[b], f"scenario.initial_aux[{r}][{b}]") if b in per_block else (0, 0)
                for b in range(pool)
            )
        )
    for what, ids in (("source token", length - 1), ("garbage", garbage_id(length - 1))):
        if (why := check_id(ids, hidden)) is not None:
            raise TraceError(f"scenario.embedding_length: {what} {why}")
    free, held = _pool(d, t, pool)
    return Scenario(
        topology=topology,
        tp_size=t,
        embedding_tp_size=e,
        receivers=receivers,
        block_size=bs,
        default_allocate_tokens=default_alloc,
        pool_blocks=pool,
        hidden=hidden,
        embedding_length=length,
        mrope_delta=delta,
        rid=rid,
        room=room,
        initial_aux=tuple(aux_rows),
        initial_free=free,
        initial_held=held,
        initial_content=_initial_content(d.get("initial_content", []), t, pool, bs, hidden, length),
    )


def _block_list(v: Any, where: str, pool: int) -> tuple[int, ...]:
    if not isinstance(v, list):
        raise TraceError(f"{where}: expected a list of block ids, got {v!r}")
    for b in v:
        if isinstance(b, bool) or not isinstance(b, int) or not 0 <= b < pool:
            raise TraceError(f"{where}: block {b!r} outside [0, {pool})")
    return tuple(v)


def _pool(d: Mapping[str, Any], t: int, pool: int) -> tuple[tuple[tuple[int, ...], ...], tuple[tuple[int, ...], ...]]:
    """``initial_free`` / ``initial_held`` per rank; every block in exactly one of them."""
    raw_free = _indexed(d.get("initial_free", []), "scenario.initial_free", t)
    raw_held = _indexed(d.get("initial_held", []), "scenario.initial_held", t)
    frees, helds = [], []
    for r in range(t):
        free = _block_list(raw_free[r], f"scenario.initial_free[{r}]", pool) if r in raw_free else tuple(range(pool))
        held = _block_list(raw_held[r], f"scenario.initial_held[{r}]", pool) if r in raw_held else ()
        seen: dict[int, str] = {}
        for name, blocks in (("initial_free", free), ("initial_held", held)):
            for b in blocks:
                if b in seen:
                    raise TraceError(f"scenario.{name}[{r}]: block {b} is already in {seen[b]}[{r}]")
                seen[b] = name
        missing = sorted(set(range(pool)) - set(seen))
        if missing:
            raise TraceError(f"scenario: block(s) {missing} of rank {r} in neither initial_free nor initial_held")
        frees.append(free)
        helds.append(held)
    return tuple(frees), tuple(helds)


def content_ids(v: Any, where: str, bs: int, hidden: int, length: int) -> tuple[int, ...]:
    """The ``bs`` content ids of one block (trace-format "Content ids")."""
    if not isinstance(v, list) or len(v) != bs:
        raise TraceError(f"{where}: expected a list of {bs} content ids (block_size), got {v!r}")
    for c in v:
        if isinstance(c, bool) or not isinstance(c, int):
            raise TraceError(f"{where}: content id {c!r} is not an integer")
        if c >= length:
            raise TraceError(f"{where}: content id {c} names no token (L = {length})")
        if (why := check_id(c, hidden)) is not None:
            raise TraceError(f"{where}: {why}")
    return tuple(v)


def _initial_content(
    v: Any, t: int, pool: int, bs: int, hidden: int, length: int
) -> tuple[tuple[tuple[int, ...], ...], ...]:
    raw = _indexed(v, "scenario.initial_content", t)
    zeros = (ZEROS,) * bs
    out = []
    for r in range(t):
        per_block = _indexed(raw.get(r, []), f"scenario.initial_content[{r}]", pool)
        out.append(
            tuple(
                content_ids(per_block[b], f"scenario.initial_content[{r}][{b}]", bs, hidden, length)
                if b in per_block else zeros
                for b in range(pool)
            )
        )
    return tuple(out)


def _bool(s: Mapping[str, Any], key: str, default: bool, where: str) -> bool:
    v = s.get(key, default)
    if not isinstance(v, bool):
        raise TraceError(f"{where}.{key}: expected a boolean, got {v!r}")
    return v


def parse_schedule(schedule: Any, scenario: Scenario) -> tuple[Step, ...]:
    if not isinstance(schedule, list):
        raise TraceError("schedule: expected a list of steps")
    steps: list[Step] = []
    t, e = scenario.tp_size, scenario.embedding_tp_size
    for i, s in enumerate(schedule):
        where = f"schedule[{i}]"
        if not isinstance(s, Mapping):
            raise TraceError(f"{where}: expected an object")
        if "alloc_fail" in s:
            raise TraceError(f"{where}.alloc_fail: removed in trace format version 2 (use others_free / others_alloc)")
        unknown = set(s) - _STEP_FIELDS - _STEP_ANNOTATIONS
        if unknown:
            raise TraceError(f"{where}: unknown field(s) {sorted(unknown)}")
        chunks = _rank_list(s.get("chunks", []), f"{where}.chunks", e)
        chunk_fail = _rank_list(s.get("chunk_fail", []), f"{where}.chunk_fail", e)
        if not set(chunk_fail) <= set(chunks):
            raise TraceError(f"{where}.chunk_fail: must be a subset of chunks")
        steps.append(
            Step(
                messages=_rank_list(s.get("messages", []), f"{where}.messages", t),
                encode=_bool(s, "encode", False, where),
                chunks=chunks,
                chunk_fail=chunk_fail,
                emb_finish=_bool(s, "emb_finish", False, where),
                deliver=_rank_list(s.get("deliver", []), f"{where}.deliver", t),
                others_free=_rank_list(s.get("others_free", []), f"{where}.others_free", t),
                others_alloc=_rank_list(s.get("others_alloc", []), f"{where}.others_alloc", t),
                abort=_bool(s, "abort", False, where),
                lang=_bool(s, "lang", True, where),
            )
        )
    return tuple(steps)


def parse_trace(d: Any) -> Trace:
    if not isinstance(d, Mapping):
        raise TraceError("trace: expected a JSON object")
    if d.get("format") != "ranksync-trace":
        raise TraceError(f"trace.format: expected 'ranksync-trace', got {d.get('format')!r}")
    if d.get("version") != FORMAT_VERSION:
        raise TraceError(
            f"trace.version: this reference reads version {FORMAT_VERSION} only, got {d.get('version')!r}"
        )
    variant = d.get("variant")
    if not isinstance(variant, str):
        raise TraceError(f"trace.variant: unknown variant {variant!r}; known: {sorted(VARIANTS)}")
    try:
        get_variant(variant)
    except ValueError as exc:
        raise TraceError(f"trace.variant: {exc}") from None
    scenario = parse_scenario(d.get("scenario"))
    schedule = parse_schedule(d.get("schedule"), scenario)
    expected = d.get("expected")
    if expected is not None and (not isinstance(expected, list) or len(expected) != len(schedule)):
        raise TraceError("trace.expected: must be a list as long as the schedule")
    name = d.get("name", "")
    if not isinstance(name, str):
        raise TraceError("trace.name: expected a string")
    taken = tuple(_taken(e, i, scenario) for i, e in enumerate(expected or []))
    return Trace(name=name, variant=variant, scenario=scenario, schedule=schedule, expected=expected, taken=taken)


def _taken(step: Any, i: int, sc: Scenario) -> dict[int, tuple[TakenBlock, ...]]:
    """An expected step's ``taken``: per rank, in order, what other requests leave in the
    blocks they took ({} when absent: they leave the blocks as they were). A block may come
    twice (a double free put it twice in the free list)."""
    where = f"expected[{i}].taken"
    if not isinstance(step, Mapping):
        raise TraceError(f"expected[{i}]: expected an object")
    raw = step.get("taken")
    if raw is None:
        return {}
    if not isinstance(raw, list) or len(raw) != sc.tp_size:
        raise TraceError(f"{where}: expected one list per language rank ({sc.tp_size})")
    out: dict[int, tuple[TakenBlock, ...]] = {}
    for r, entries in enumerate(raw):
        if not isinstance(entries, list):
            raise TraceError(f"{where}[{r}]: expected a list")
        blocks: list[TakenBlock] = []
        for k, e in enumerate(entries):
            w = f"{where}[{r}][{k}]"
            if not isinstance(e, Mapping) or set(e) != {"block", "content", "aux"}:
                raise TraceError(f"{w}: expected an object with block, content and aux, got {e!r}")
            (block,) = _block_list([e["block"]], f"{w}.block", sc.pool_blocks)
            blocks.append(
                TakenBlock(
                    block,
                    content_ids(e["content"], f"{w}.content", sc.block_size, sc.hidden, sc.embedding_length),
                    _aux_pair(e["aux"], f"{w}.aux"),
                )
            )
        out[r] = tuple(blocks)
    return out
