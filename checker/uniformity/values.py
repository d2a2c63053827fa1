"""Which values may differ between the ranks of a TP group (*rank-local*) and which are the
same on every rank (*replicated*), with the dependence chain back to the rank-local source.

Names are followed through beniget's use-def chains (flow-sensitive within a function);
attributes are field-based (an attribute name is rank-local if any assignment to that name in
the analysed files is); a constant index into a list/tuple literal is element-sensitive; a
definition under a rank-local condition is rank-local (implicit flow through enclosing
`if`/`while`/`for`, not through earlier early exits). Parameters, globals and unknown values
are assumed replicated; calls into analysed functions use a summary of what they return.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from .facts import Facts
from .program import Function, Module, Program, dotted
from .syntax import branch_tests, defining_value, dominates, element, short, stmt_of, stores

MUTATORS = {"append", "extend", "insert", "add", "update", "setdefault", "appendleft",
            "extendleft"}


@dataclass(frozen=True)
class Step:
    file: str
    line: int
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "text": self.text}


Chain = tuple[Step, ...]  # nearest derivation first, the rank-local source last


def sanitized(mod: Module, d: Any, use: ast.AST) -> bool:
    """An in-place collective on definition `d` runs before `use` (or is `use`)."""
    return any(arg is use or dominates(mod, stmt_of(mod, call), use)
               for arg, call in mod.inplace.get(d.node, ()))


class Values:
    def __init__(self, prog: Program, facts: Facts,
                 resolve: Callable[[Function | None, ast.Call], list[Function]]) -> None:
        self.prog, self.facts, self.resolve = prog, facts, resolve
        self.memo: dict[Hashable, Chain | None] = {}
        self.active: set[Hashable] = set()
        self.final: set[Hashable] = set()
        self.cuts = 0
        self.fields: dict[str, list[tuple[Module, ast.expr, ast.AST]]] = {}
        for m in prog.modules:
            for n in m.stores:
                for target, value in stores(n):
                    if isinstance(target, ast.Attribute):
                        self.fields.setdefault(target.attr, []).append((m, value, target))

    # -- memo with cycle cuts: a None computed under a cut is not final (see `settle`) --
    def _cached(self, key: Hashable, compute: Callable[[], Chain | None]) -> Chain | None:
        if key in self.memo:
            r = self.memo[key]
            if r is None and key not in self.final:
                self.cuts += 1  # resting on a result a cut may have hidden: not final either
            return r
        if key in self.active:
            self.cuts += 1
            return None
        self.active.add(key)
        before = self.cuts
        try:
            r = compute()
        finally:
            self.active.discard(key)
        self.memo[key] = r
        if r is None and self.cuts == before:
            self.final.add(key)  # replicated without relying on a cut: final
        return r

    def new_round(self) -> int:
        """Forget results that may be wrong because of a cycle cut; keep rank-local ones
        (taint only grows) and replicated ones computed without a cut. Returns how many
        rank-local results are known."""
        self.memo = {k: v for k, v in self.memo.items() if v is not None or k in self.final}
        self.cuts = 0
        return sum(v is not None for v in self.memo.values())

    # -- expressions --
    def expr(self, node: ast.AST | None) -> Chain | None:
        if node is None or isinstance(node, ast.Constant | ast.Lambda):
            return None
        return self._cached(("e", id(node)), lambda: self._expr(node))

    def _step(self, node: ast.AST, text: str) -> Step:
        mod = self.prog.module_of.get(node)
        return Step(mod.rel if mod else "?", getattr(node, "lineno", 0), text)

    def _expr(self, node: ast.AST) -> Chain | None:
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.Attribute):
            return self.attribute(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Subscript):
            return self.subscript(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr_context):
                continue
            r = self.expr(child)
            if r is not None:
                return r
        return None

    def attribute(self, node: ast.Attribute) -> Chain | None:
        name = dotted(node)
        src = self.facts.first(self.facts.local_attributes, name)
        if src is not None:
            return (self._step(node, f"{short(node)}: {src} (rank-local source)"),)
        base = self.expr(node.value)
        if base is not None:
            return base
        if self.facts.first(self.facts.replicated_fields, node.attr):
            return None
        return self.field(node.attr, None, self._field_scope(node))

    def _field_scope(self, node: ast.Attribute | ast.Subscript) -> ast.AST | None:
        """Hand-off fields are read as the function that sets them wrote them; elsewhere
        they are assumed uniform (their agreement is checked where they are set)."""
        attr = node.attr if isinstance(node, ast.Attribute) else \
            node.value.attr if isinstance(node.value, ast.Attribute) else ""
        if attr in self.facts.handoff_fields:
            fn = self.prog.function_of(node)
            return fn.node if fn else self.prog.module_of[node].tree
        return None

    def field(self, attr: str, k: int | None, scope: ast.AST | None = None) -> Chain | None:
        def compute() -> Chain | None:
            for mod, value, target in self.fields.get(attr, []):
                if scope is not None and self.prog.function_of(target) is not \
                        self.prog.of_node.get(scope):
                    continue
                v: ast.AST | None = value
                if k is not None:
                    v = element(value, k) or value
                r = self.expr(v) or self.control(mod, target)
                if r is not None:
                    sub = "" if k is None else f"[{k}]"
                    return (self._step(target, f".{attr}{sub} assigned {short(v or value)}"),
                            *r)
            return None
        return self._cached(("f", attr, k, id(scope)), compute)

    def subscript(self, node: ast.Subscript) -> Chain | None:
        sl = node.slice
        if isinstance(sl, ast.Constant) and isinstance(sl.value, int) and not isinstance(
                sl.value, bool):
            k = sl.value
            if isinstance(node.value, ast.Attribute) and not self.facts.first(
                    self.facts.local_attributes, dotted(node.value)):
                base = self.expr(node.value.value)
                if base is not None:
                    return base
                if self.facts.first(self.facts.replicated_fields, node.value.attr):
                    return None
                return self.field(node.value.attr, k, self._field_scope(node))
            if isinstance(node.value, ast.Name):
                return self.name(node.value, k)
        return self.expr(node.value) or self.expr(sl)

    def call(self, node: ast.Call) -> Chain | None:
        name = dotted(node.func)
        src = self.facts.first(self.facts.local_calls, name)
        if src is not None:
            return (self._step(node, f"{short(node)}: {src} (rank-local source)"),)
        coll = self.facts.collective_for(name)
        if coll is not None and coll.returns:
            return None
        if isinstance(node.func, ast.Name) and node.func.id in self.facts.type_tests:
            return None
        if name.split(".")[-1][:1].isupper():
            return None  # an object built from rank-local arguments is a handle, not a value
        fn = self.prog.function_of(node)
        for callee in self.resolve(fn, node):
            r = self.returns(callee)
            if r is not None:
                return (self._step(node, f"{short(node)} returns a rank-local value"), *r)
        parts: list[ast.AST] = [*node.args, *(k.value for k in node.keywords)]
        if isinstance(node.func, ast.Attribute):
            parts.insert(0, node.func.value)
        for p in parts:
            r = self.expr(p)
            if r is not None:
                return r
        return None

    def returns(self, fn: Function) -> Chain | None:
        def compute() -> Chain | None:
            for n in self.prog.returns_of.get(fn.node, []):
                if n.value is not None:
                    r = self.expr(n.value)
                    if r is not None:
                        return (self._step(n, f"{fn.qualname}() returns {short(n.value)}"), *r)
            return None
        return self._cached(("r", id(fn.node)), compute)

    # -- names through beniget's chains --
    def name(self, use: ast.Name, k: int | None = None) -> Chain | None:
        mod = self.prog.module_of.get(use)
        if mod is None:
            return None
        for d in mod.usedef.get(use, []):
            if self._sanitized(mod, d, use):
                continue
            r = self.definition(mod, d, k)
            if r is not None:
                return r
        return None

    def _sanitized(self, mod: Module, d: Any, use: ast.AST) -> bool:
        return sanitized(mod, d, use)

    def definition(self, mod: Module, d: Any, k: int | None) -> Chain | None:
        return self._cached(("d", id(d.node), k), lambda: self._definition(mod, d, k))

    def _definition(self, mod: Module, d: Any, k: int | None) -> Chain | None:
        node = d.node
        if isinstance(node, ast.ExceptHandler):
            tried = mod.parent(node)
            if isinstance(tried, ast.Try) and all(
                    isinstance(s, ast.Import | ast.ImportFrom | ast.Pass)
                    or isinstance(s, ast.Assign) and isinstance(s.value, ast.Constant)
                    for s in tried.body):
                return None  # an import fails alike on every rank (same environment)
            return (self._step(node, f"{d.name()}: caught exception (rank-local source)"),)
        if not isinstance(node, ast.Name):
            return None  # parameters, imports, functions, classes, builtins
        value, what = defining_value(mod, node)
        if value is not None:
            v = value
            if k is not None and isinstance(what, ast.Assign) and node in what.targets:
                v = element(value, k) or value
            r = self.expr(v)
            if r is not None:
                return (self._step(node, f"{node.id} = {short(v)}"), *r)
        if isinstance(what, ast.AugAssign):
            for prior in mod.usedef.get(node, []):
                if prior.node is not node:
                    r = self.definition(mod, prior, None)
                    if r is not None:
                        return (self._step(node, f"{node.id} updated"), *r)
        r = self.mutations(mod, d)
        if r is not None:
            return r
        if value is not None and self._from_collective(mod, value):
            return None  # the same on every rank that runs this collective (checked apart)
        r = self.control(mod, node)
        if r is not None:
            return (self._step(node, f"{node.id} assigned under a rank-local condition"), *r)
        return None

    def _from_collective(self, mod: Module, value: ast.AST) -> bool:
        """`value` is a collective's result, or reads a name an in-place collective just
        made uniform: assigning it under a rank-local condition is no implicit flow, since
        every rank that reaches it got the same value (ranks that skip the collective are
        the collective check's business)."""
        for n in ast.walk(value):
            if isinstance(n, ast.Call):
                c = self.facts.collective_for(dotted(n.func))
                if c is not None and c.returns:
                    return True
            elif isinstance(n, ast.Name) and any(sanitized(mod, d, n)
                                                 for d in mod.usedef.get(n, [])):
                return True
        return False

    def mutations(self, mod: Module, d: Any) -> Chain | None:
        """What `x.append(v)` or `x[i] = v` put into the container `x` (`x.a = v` is the
        field `a`'s business: it does not make the rest of `x` rank-local)."""
        for u in d.users():
            p = mod.parent(u.node)
            if isinstance(p, ast.Attribute) and p.value is u.node:
                call = mod.parent(p)
                if isinstance(call, ast.Call) and call.func is p and p.attr in MUTATORS:
                    for a in call.args:
                        r = self.expr(a)
                        if r is not None:
                            return (self._step(call, f"{short(call)}"), *r)
            if isinstance(p, ast.Subscript) and p.value is u.node and isinstance(p.ctx, ast.Store):
                r = self._stored(mod, p)
                if r is not None:
                    return r
        return None

    def _stored(self, mod: Module, target: ast.AST) -> Chain | None:
        stmt = stmt_of(mod, target)
        for t, value in stores(stmt):
            if t is target:
                r = self.expr(value)
                if r is not None:
                    return (self._step(stmt, short(stmt)), *r)
        return None

    def control(self, mod: Module, node: ast.AST) -> Chain | None:
        fn = self.prog.function_of(node)
        stop = fn.node if fn else mod.tree
        for test in branch_tests(mod, node, stop):
            r = self.expr(test)
            if r is not None:
                return (self._step(test, f"under `{short(test)}`"), *r)
        return None
