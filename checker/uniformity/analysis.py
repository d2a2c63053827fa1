"""The branches that can split the TP group: a rank-local condition whose two sides differ in
what they do to the group (collectives, a polled queue's membership, allocator calls, what is
handed off).

A side is its own statements plus what runs after it up to the end of the function: the rest
of the block, one more iteration of the enclosing loop after a fall-through or `continue`, the
code after the loop after a `break`, nothing after a `return`/`raise`. A loop (`for`/`while`)
with a rank-local iterable/condition compares "one more iteration" with "leave the loop". A
`try` whose body calls something that fails on one rank only compares the body (and `else`)
with each handler.
"""

from __future__ import annotations

import ast
import gc
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .effects import ALLOCATOR, COLLECTIVE, HANDOFF, QUEUE, Effect, EffectAnalysis, Effects
from .facts import Facts
from .findings import Difference, Finding
from .parsing import SCOPES
from .program import Function, ModuleCache, Program, dotted, load_program
from .values import Chain, Step, Values, short

PRIORITY = (COLLECTIVE, QUEUE, ALLOCATOR, HANDOFF)
LOOPS = (ast.For, ast.AsyncFor, ast.While)


@dataclass
class Analysis:
    prog: Program
    facts: Facts
    findings: list[Finding] = field(default_factory=list)
    branches: int = 0  # branches examined
    rank_local: int = 0  # of which with a rank-local condition


def analyse(paths: list[Path], root: Path, facts: Facts,
            cache: ModuleCache | None = None) -> Analysis:
    # the syntax trees and chains are a few hundred thousand objects that all live to the
    # end: the cyclic collector's passes over them cost ~25% of the run and free nothing
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return analyse_program(load_program(paths, root, facts, cache), facts)
    finally:
        if was_enabled:
            gc.enable()


def analyse_program(prog: Program, facts: Facts) -> Analysis:
    eff = EffectAnalysis(prog, facts)
    values = Values(prog, facts, eff.resolve)
    res = Analysis(prog, facts)
    walkers = [_Walker(fn, eff, values, res) for fn in prog.functions]
    branches = [(w, b) for w in walkers for b in w.branches()]
    # taint only grows; a cycle cut may hide some of it in one round, so repeat to a fixpoint
    known = -1
    while True:
        for w, b in branches:
            w.condition(b)
        if values.cuts == 0:
            break
        now = values.new_round()
        if now == known:
            break
        known = now
    for w, b in branches:
        w.check(b)
    counts: Counter[tuple[str, str, str, str]] = Counter()
    for f in res.findings:
        key = (f.file, f.function, f.kind, f.condition)
        f.occurrence = counts[key]
        counts[key] += 1
    return res


def _terminator(stmts: list[ast.stmt]) -> str | None:
    if not stmts:
        return None
    last = stmts[-1]
    if isinstance(last, ast.Return):
        return "return"
    if isinstance(last, ast.Raise):
        return "raise"
    if isinstance(last, ast.Continue):
        return "continue"
    if isinstance(last, ast.Break):
        return "break"
    if isinstance(last, ast.If) and last.orelse:
        a, b = _terminator(last.body), _terminator(last.orelse)
        if a and b:
            return a if a == b else "return"
    return None


class _Walker:
    def __init__(self, fn: Function, eff: EffectAnalysis, values: Values, res: Analysis) -> None:
        self.fn, self.eff, self.values, self.res = fn, eff, values, res
        self.mod = fn.module
        self.rest_memo: dict[int, Effects] = {}

    def branches(self) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        todo: list[ast.AST] = list(self.fn.node.body)
        while todo:
            n = todo.pop(0)
            if isinstance(n, SCOPES):
                continue
            if isinstance(n, ast.If | ast.For | ast.AsyncFor | ast.While) or (
                    isinstance(n, ast.Try | ast.TryStar) and n.handlers):
                out.append(n)
            todo.extend(c for c in ast.iter_child_nodes(n)
                        if isinstance(c, ast.stmt | ast.excepthandler))
        return out

    def condition(self, n: ast.stmt) -> Chain | None:
        if isinstance(n, ast.If | ast.While):
            return self.values.expr(n.test)
        if isinstance(n, ast.For | ast.AsyncFor):
            return self.values.expr(n.iter)
        assert isinstance(n, ast.Try | ast.TryStar)
        return self._raises(n.body)

    def check(self, n: ast.stmt) -> None:
        self.res.branches += 1
        chain = self.condition(n)
        if chain is None:
            return
        self.res.rank_local += 1
        if isinstance(n, ast.If):
            self.check_if(n, chain)
        elif isinstance(n, ast.For | ast.AsyncFor | ast.While):
            self.check_loop(n, chain)
        elif isinstance(n, ast.Try | ast.TryStar):
            self.check_try(n, chain)

    # -- continuations --
    def _loop_of(self, node: ast.AST) -> ast.AST | None:
        for a in self.mod.ancestors(node):
            if isinstance(a, LOOPS):
                return a
            if isinstance(a, SCOPES):
                return None
        return None

    def rest_after(self, node: ast.AST) -> Effects:
        key = id(node)
        if key not in self.rest_memo:
            self.rest_memo[key] = self._rest_after(node)
        return self.rest_memo[key]

    def _rest_after(self, node: ast.AST) -> Effects:
        parent = self.mod.parent(node)
        if parent is None or parent is self.fn.node or isinstance(parent, SCOPES):
            tail: list[ast.stmt] = []
            if parent is not None:
                block = getattr(parent, "body", [])
                if isinstance(block, list) and node in block:
                    tail = block[block.index(node) + 1:]
            return self.eff.block(self.fn, tail)
        after: Effects = ()
        for fld in ("body", "orelse", "finalbody", "handlers"):
            block = getattr(parent, fld, None)
            if isinstance(block, list) and node in block:
                rest = [s for s in block[block.index(node) + 1:] if isinstance(s, ast.stmt)]
                after = self.eff.block(self.fn, rest)
                if isinstance(parent, LOOPS) and fld == "body":
                    return after + self.again(parent)
                break
        if isinstance(parent, ast.excepthandler):
            parent = self.mod.parent(parent) or parent
        return after + self.rest_after(parent)

    def again(self, loop: ast.AST) -> Effects:
        """One more iteration of the loop, then what follows it."""
        body = getattr(loop, "body", [])
        return self.eff.block(self.fn, body) + self.rest_after(loop)

    def side(self, stmts: list[ast.stmt], branch: ast.AST) -> Effects:
        own = self.eff.block(self.fn, stmts)
        term = _terminator(stmts)
        if term is None:
            return own + self.rest_after(branch)
        loop = self._loop_of(branch)
        if term == "continue" and loop is not None:
            return own + self.again(loop)
        if term == "break" and loop is not None:
            return own + self.rest_after(loop)
        return own

    # -- branch kinds --
    def check_if(self, n: ast.If, chain: Chain) -> None:
        term = _terminator(n.body)
        kind = f"early {term}" if term in ("continue", "return", "break") and not n.orelse \
            else "if"
        names = ("the `if` side", "the `else` side" if n.orelse else "the fall-through side")
        self.report(n, kind, f"if {short(n.test, 120)}", chain,
                    self.side(n.body, n), self.side(n.orelse, n), names)

    def check_loop(self, n: ast.For | ast.AsyncFor | ast.While, chain: Chain) -> None:
        test = n.test if isinstance(n, ast.While) else n.iter
        cond = f"while {short(test, 120)}" if isinstance(n, ast.While) else \
            f"for {short(n.target)} in {short(test, 120)}"
        loop_body = self.eff.block(self.fn, n.body)
        self.report(n, "loop", cond, chain, loop_body, (),
                    ("one more iteration", "leaving the loop"))

    def check_try(self, n: ast.Try | ast.TryStar, chain: Chain) -> None:
        normal = self.eff.block(self.fn, n.body) + self.side(n.orelse, n) if n.orelse else \
            self.side(n.body, n)
        for h in n.handlers:
            what = short(h.type) if h.type is not None else "any exception"
            before = len(self.res.findings)
            self.report(h, "try/except", f"except {what} (raised in the try body)", chain,
                        normal, self.side(h.body, n),
                        ("the try body completes", f"`except {what}` handles a failure"))
            if len(self.res.findings) > before:
                return

    def _raises(self, body: list[ast.stmt]) -> Chain | None:
        for s in body:
            for c in ast.walk(s):
                if isinstance(c, ast.Call):
                    name = dotted(c.func)
                    what = self.values.facts.first(self.values.facts.local_raises, name) or \
                        self.values.facts.first(self.values.facts.local_calls, name)
                    if what is not None:
                        return (Step(self.mod.rel, c.lineno,
                                     f"{short(c)} may raise on one rank only: {what}"),)
        return None

    # -- comparison --
    def report(self, node: ast.AST, kind: str, condition: str, chain: Chain, a: Effects,
               b: Effects, names: tuple[str, str]) -> None:
        diffs = compare(a, b, names)
        if not diffs:
            return
        diffs.sort(key=lambda d: PRIORITY.index(d.kind))
        line = getattr(node, "lineno", 0)
        text = self.mod.lines[line - 1] if 0 < line <= len(self.mod.lines) else ""
        col = len(text.encode()[: getattr(node, "col_offset", 0)].decode(errors="ignore")) + 1
        self.res.findings.append(Finding(
            kind=kind, file=self.mod.rel, line=line, column=col, function=self.fn.qualname,
            condition=condition, chain=list(chain), differences=diffs))


def _describe(effects: list[Effect]) -> str:
    if not effects:
        return "nothing"
    return ", ".join(f"{e.label} (line {e.line})" for e in effects[:6]) + \
        (f", and {len(effects) - 6} more" if len(effects) > 6 else "")


def compare(a: Effects, b: Effects, names: tuple[str, str]) -> list[Difference]:
    out: list[Difference] = []
    for kind in PRIORITY:
        ea = [e for e in a if e.kind == kind]
        eb = [e for e in b if e.kind == kind]
        la, lb = [e.label for e in ea], [e.label for e in eb]
        if la == lb:
            continue
        ca, cb = Counter(la), Counter(lb)
        only_a, only_b = _surplus(ea, ca - cb), _surplus(eb, cb - ca)
        if not only_a and not only_b:
            if kind != COLLECTIVE:
                continue
            text = f"the same collectives in a different order: {names[0]}: " \
                   f"{', '.join(la)}; {names[1]}: {', '.join(lb)}"
        else:
            text = f"{names[0]}: {_describe(_dedup(only_a))}; {names[1]}: " \
                   f"{_describe(_dedup(only_b))}"
        out.append(Difference(kind, text, [e.to_json() for e in only_a + only_b]))
    return out


def _surplus(effects: list[Effect], extra: Counter[str]) -> list[Effect]:
    """The first `extra[label]` effects of each label: a side's own statements come before
    its continuation, so these are the ones the side itself adds."""
    left = Counter(extra)
    out = []
    for e in effects:
        if left[e.label] > 0:
            left[e.label] -= 1
            out.append(e)
    return out


def _dedup(effects: list[Effect]) -> list[Effect]:
    seen: set[tuple[str, int]] = set()
    out = []
    for e in effects:
        if (e.label, e.line) not in seen:
            seen.add((e.label, e.line))
            out.append(e)
    return out
