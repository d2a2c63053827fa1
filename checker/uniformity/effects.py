"""What a piece of code does to the group: collectives issued, membership of a queue that a
collective polls, allocator calls, and what is handed off to the TP forward.

Calls into analysed functions contribute the callee's effects (a summary of every effect in
its body, in source order, whatever its branches do). Calls are resolved by name: `self.m()`
to the method of the same class (else the only analysed method called m), `f()` to the
module's function (else the only analysed one), `self.x.m()` to the only analysed method
called m; a method called on a local variable is not resolved (its type is unknown).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .facts import Facts
from .parsing import SCOPES
from .program import BLOCKS, Function, Program, dotted
from .values import MUTATORS, sanitized, short

QUEUE_MUTATORS = MUTATORS | {"remove", "pop", "popleft", "clear", "discard"}
COLLECTIVE, QUEUE, ALLOCATOR, HANDOFF = "collective", "queue", "allocator", "handoff"


@dataclass(frozen=True)
class Effect:
    kind: str
    label: str
    file: str
    line: int

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "label": self.label, "file": self.file, "line": self.line}


Effects = tuple[Effect, ...]


class EffectAnalysis:
    def __init__(self, prog: Program, facts: Facts) -> None:
        self.prog, self.facts = prog, facts
        self.memo: dict[int, Effects] = {}
        self.summaries: dict[int, Effects] = {}
        self.in_progress: set[int] = set()
        self.flow_memo: dict[int, frozenset[tuple[str, str]]] = {}
        self.polled: dict[str | None, set[str]] = {}
        for mod in prog.modules:
            for call in mod.calls:
                if facts.collective_for(dotted(call.func)) is not None and call.args:
                    fn = prog.function_of(call)
                    if fn is not None:
                        self._find_polled(fn, call)

    # -- call resolution (shared with the value analysis) --
    def resolve(self, fn: Function | None, call: ast.Call) -> list[Function]:
        f = call.func
        name = dotted(f)
        if (self.facts.first(self.facts.local_calls, name) or self.facts.collective_for(name)
                or self.facts.first(self.facts.allocator, name)):
            return []
        if isinstance(f, ast.Name):
            cands = [c for c in self.prog.by_name.get(f.id, []) if c.cls is None
                     and "." not in c.qualname]
            same = [c for c in cands if fn is not None and c.module is fn.module]
            return same or (cands if len(cands) == 1 else [])
        if not isinstance(f, ast.Attribute):
            return []
        methods = [c for c in self.prog.by_name.get(f.attr, []) if c.cls is not None]
        base = f.value
        if fn is not None and isinstance(base, ast.Name) and base.id == fn.self_name:
            same = [c for c in methods if c.cls == fn.cls and c.module is fn.module]
            return same or (methods if len(methods) == 1 else [])
        if isinstance(base, ast.Attribute) and f.attr not in QUEUE_MUTATORS:
            return methods if len(methods) == 1 else []
        return []

    # -- queues that a collective polls --
    def _find_polled(self, fn: Function, call: ast.Call) -> None:
        """`self.X` iterated in (or passed as) a collective's first argument is polled."""
        if fn.self_name is None:
            return
        mod = fn.module
        arg = call.args[0]
        exprs: list[ast.AST] = [arg]
        if isinstance(arg, ast.Name):  # `pollers = [...]; poll_and_all_reduce(pollers)`
            exprs += [mod.parent(d.node) or d.node for d in mod.usedef.get(arg, [])]
        for e in exprs:
            for n in ast.walk(e):
                it = n.iter if isinstance(n, ast.comprehension) else n if n is arg else None
                if (isinstance(it, ast.Attribute) and isinstance(it.value, ast.Name)
                        and it.value.id == fn.self_name):
                    self.polled.setdefault(fn.cls, set()).add(it.attr)

    def _polled_attr(self, fn: Function, node: ast.AST) -> str | None:
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id == fn.self_name and node.attr in self.polled.get(fn.cls, ())):
            return f"self.{node.attr}"
        return None

    # -- where a local value ends up --
    def flows(self, fn: Function, defnode: ast.AST, depth: int = 0) -> frozenset[tuple[str, str]]:
        """Sinks (kind, what) a local definition's value reaches: a hand-off field or call,
        a polled queue, the list a function returns."""
        key = id(defnode)
        if key in self.flow_memo:
            return self.flow_memo[key]
        self.flow_memo[key] = frozenset()  # cycle guard
        mod = fn.module
        out: set[tuple[str, str]] = set()
        d = mod.defs.get(defnode)
        for u in d.users() if d is not None and depth < 8 else []:
            if not sanitized(mod, d, u.node):
                out |= self._sinks_of_use(fn, u.node, depth)
        res = frozenset(out)
        self.flow_memo[key] = res
        return res

    def _local_defs(self, fn: Function, name: ast.Name) -> list[ast.AST]:
        return [d.node for d in fn.module.usedef.get(name, [])
                if isinstance(d.node, ast.Name)]

    def _sinks_of_use(self, fn: Function, use: ast.AST, depth: int) -> set[tuple[str, str]]:
        mod = fn.module
        out: set[tuple[str, str]] = set()
        child, node = use, mod.parent(use)
        while node is not None and not isinstance(node, SCOPES):
            if isinstance(node, ast.Call) and child is not node.func:
                name = dotted(node.func)
                coll = self.facts.collective_for(name)
                if coll is not None and coll.returns:
                    return out  # what comes out is the same on every rank
                if self.facts.first(self.facts.handoff_calls, name):
                    out.add((HANDOFF, name))
                elif self.facts.first(self.facts.queue_calls, name):
                    out.add((QUEUE, name))
                f = node.func
                if (isinstance(f, ast.Attribute) and f.attr in MUTATORS
                        and isinstance(f.value, ast.Name)):
                    for dn in self._local_defs(fn, f.value):
                        out |= self.flows(fn, dn, depth + 1)
                    return out
            if isinstance(node, ast.Return):
                if isinstance(use, ast.Name) and node.value is use and self._built(fn, use):
                    out.add((HANDOFF, f"the list `{use.id}` returned to the caller"))
                return out
            if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
                if child is not node.value:
                    return out
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    out |= self._target_sinks(fn, t, depth)
                return out
            if isinstance(node, ast.stmt):
                return out
            child, node = node, mod.parent(node)
        return out

    def _built(self, fn: Function, name: ast.Name) -> bool:
        """The returned name is a list the function fills with mutator calls."""
        return any(isinstance(p := fn.module.parent(u.node), ast.Attribute)
                   and p.attr in MUTATORS
                   for d in fn.module.usedef.get(name, []) for u in d.users())

    def _target_sinks(self, fn: Function, t: ast.AST, depth: int) -> set[tuple[str, str]]:
        out: set[tuple[str, str]] = set()
        if isinstance(t, ast.Tuple | ast.List):
            for e in t.elts:
                out |= self._target_sinks(fn, e, depth)
        elif isinstance(t, ast.Name):
            out |= self.flows(fn, t, depth + 1)
        elif isinstance(t, ast.Attribute):
            q = self._polled_attr(fn, t)
            if q:
                out.add((QUEUE, q))
            elif t.attr in self.facts.handoff_fields:
                out.add((HANDOFF, f".{t.attr}"))
            elif isinstance(t.value, ast.Name) and t.value.id != fn.self_name:
                # `mm.x = v` on an object the function built (`mm = Mm(...)`): v goes where
                # mm goes; not for loop variables and parameters (queue entries), whose
                # other fields are not what this store wrote
                for dn in self._local_defs(fn, t.value):
                    if isinstance(fn.module.parent(dn), ast.Assign):
                        out |= self.flows(fn, dn, depth + 1)
        elif isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name):
            for dn in self._local_defs(fn, t.value):
                out |= self.flows(fn, dn, depth + 1)
        return out

    # -- effects of statements --
    def block(self, fn: Function, stmts: list[ast.stmt]) -> Effects:
        return tuple(e for s in stmts for e in self.stmt(fn, s))

    def stmt(self, fn: Function, s: ast.stmt) -> Effects:
        key = id(s)
        if key not in self.memo:
            self.memo[key] = tuple(self._stmt(fn, s))
        return self.memo[key]

    def summary(self, fn: Function) -> Effects:
        key = id(fn.node)
        if key in self.summaries:
            return self.summaries[key]
        if key in self.in_progress:
            return ()
        self.in_progress.add(key)
        try:
            res = self.block(fn, fn.node.body)
        finally:
            self.in_progress.discard(key)
        self.summaries[key] = res
        return res

    def _stmt(self, fn: Function, s: ast.stmt) -> Iterator[Effect]:
        """Effects in evaluation order: the statement's own calls (arguments first), its
        stores, then its nested statements (nested functions and classes do nothing here)."""
        if isinstance(s, SCOPES):
            return
        for call in fn.module.direct_calls.get(s, ()):
            yield from self._call(fn, call)
        if isinstance(s, ast.Assign | ast.AugAssign | ast.AnnAssign):
            for t in s.targets if isinstance(s, ast.Assign) else [s.target]:
                yield from self._store(fn, s, t)
        elif isinstance(s, ast.Delete):
            for t in s.targets:
                q = self._polled_attr(fn, t.value if isinstance(t, ast.Subscript) else t)
                if q:
                    yield self._effect(fn, QUEUE, f"removes from {q}", s)
        for fld in BLOCKS:
            for child in getattr(s, fld, None) or []:
                for c in child.body if isinstance(child, ast.ExceptHandler) else [child]:
                    yield from self.stmt(fn, c)

    def _effect(self, fn: Function, kind: str, label: str, node: ast.AST) -> Effect:
        return Effect(kind, label, fn.module.rel, getattr(node, "lineno", 0))

    def _store(self, fn: Function, stmt: ast.AST, t: ast.AST) -> Iterator[Effect]:
        value = getattr(stmt, "value", None)
        what = short(value, 50) if value is not None else "?"
        if isinstance(t, ast.Tuple | ast.List):
            for e in t.elts:
                yield from self._store(fn, stmt, e)
            return
        if isinstance(t, ast.Attribute):
            q = self._polled_attr(fn, t)
            if q:
                yield self._effect(fn, QUEUE, f"reassigns {q}", stmt)
                return
            if t.attr in self.facts.handoff_fields:
                yield self._effect(fn, HANDOFF, f"sets .{t.attr} = {what}", stmt)
                return
        for kind, sinks in _by_kind(self._target_sinks(fn, t, 0)):
            yield self._effect(fn, kind, f"`{short(t)} = {what}` reaches {sinks}", stmt)

    def _call(self, fn: Function, call: ast.Call) -> Iterator[Effect]:
        name = dotted(call.func)
        if self.facts.collective_for(name) is not None:
            yield self._effect(fn, COLLECTIVE, name.split(".")[-1], call)
            return
        if self.facts.first(self.facts.allocator, name):
            yield self._effect(fn, ALLOCATOR, name.split(".")[-1], call)
            return
        if self.facts.first(self.facts.handoff_calls, name):
            yield self._effect(fn, HANDOFF, f"{name}(...)", call)
            return
        if self.facts.first(self.facts.queue_calls, name):
            yield self._effect(fn, QUEUE, f"{name}(...)", call)
            return
        f = call.func
        if isinstance(f, ast.Attribute) and f.attr in QUEUE_MUTATORS:
            q = self._polled_attr(fn, f.value)
            if q:
                yield self._effect(fn, QUEUE, f"{q}.{f.attr}(...)", call)
                return
            if isinstance(f.value, ast.Name) and f.attr in MUTATORS:
                sinks: set[tuple[str, str]] = set()
                for dn in self._local_defs(fn, f.value):
                    sinks |= self.flows(fn, dn, 0)
                for kind, where in _by_kind(sinks):
                    yield self._effect(fn, kind, f"`{short(call, 50)}` reaches {where}", call)
                return
        for callee in self.resolve(fn, call):
            for e in self.summary(callee):
                yield Effect(e.kind, f"{e.label} (in {callee.qualname})", fn.module.rel,
                             call.lineno)


def _by_kind(sinks: set[tuple[str, str]] | frozenset[tuple[str, str]]
             ) -> list[tuple[str, str]]:
    """One (kind, "a, b") per kind: a value reaching three hand-off fields is one effect."""
    out: dict[str, list[str]] = {}
    for kind, sink in sorted(sinks):
        out.setdefault(kind, []).append(sink)
    return [(k, ", ".join(v)) for k, v in out.items()]
