"""Two interpretations of the model's arithmetic: Z3 terms (for proofs) and Python values
(for concrete runs, enumeration and trace export).

The model is written once against `Ops`; `Z3Ops` builds a formula, `PyOps` computes a value.
Python's comparison and arithmetic operators already work on both; only the connectives
and `If` need an interpretation. Division and multiplication by the block size go through
`Ops` because bs is symbolic over a small finite set (keeping the formula linear).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import z3

Term = Any  # an int/bool (PyOps) or a z3 ArithRef/BoolRef (Z3Ops)


class Ops:
    """Interface; see the two implementations below."""

    symbolic: bool = False

    def If(self, c: Term, a: Term, b: Term) -> Term:  # noqa: N802 - mirrors z3.If
        raise NotImplementedError

    def And(self, *xs: Term) -> Term:  # noqa: N802
        raise NotImplementedError

    def Or(self, *xs: Term) -> Term:  # noqa: N802
        raise NotImplementedError

    def Not(self, x: Term) -> Term:  # noqa: N802
        raise NotImplementedError

    def Max(self, a: Term, b: Term) -> Term:  # noqa: N802
        return self.If(a >= b, a, b)

    def Min(self, a: Term, b: Term) -> Term:  # noqa: N802
        return self.If(a <= b, a, b)

    def Sum(self, xs: Sequence[Term]) -> Term:  # noqa: N802
        total: Term = 0
        for x in xs:
            total = total + x
        return total

    def count(self, bs: Sequence[Term]) -> Term:
        return self.Sum([self.If(b, 1, 0) for b in bs])

    # -- block-size arithmetic: bs ranges over `block_sizes`, so expand over the finite set --
    def __init__(self, block_sizes: Sequence[int]) -> None:
        self.block_sizes = tuple(block_sizes)

    def _by_bs(self, bs: Term, f: Any) -> Term:
        if not self.symbolic:
            return f(bs)
        vals = self.block_sizes
        out = f(vals[-1])
        for v in reversed(vals[:-1]):
            out = self.If(bs == v, f(v), out)
        return out

    def ceil_div(self, n: Term, bs: Term) -> Term:
        """ceil(n / bs), floor semantics for negative n (Python's and Z3's agree for bs > 0)."""
        return self._by_bs(bs, lambda v: self.div_const(n + v - 1, v))

    def floor_div(self, n: Term, bs: Term) -> Term:
        return self._by_bs(bs, lambda v: self.div_const(n, v))

    def mul(self, n: Term, bs: Term) -> Term:
        return self._by_bs(bs, lambda v: n * v)

    def div_const(self, n: Term, v: int) -> Term:
        raise NotImplementedError

    def select(self, xs: Sequence[Term], i: Term, default: Term = 0) -> Term:
        """xs[i] for a symbolic index (default when out of range)."""
        if not self.symbolic:
            return xs[i] if 0 <= i < len(xs) else default
        out = default
        for j in range(len(xs) - 1, -1, -1):
            out = self.If(i == j, xs[j], out)
        return out


class PyOps(Ops):
    symbolic = False

    def If(self, c: Term, a: Term, b: Term) -> Term:  # noqa: N802
        return a if c else b

    def And(self, *xs: Term) -> Term:  # noqa: N802
        return all(xs)

    def Or(self, *xs: Term) -> Term:  # noqa: N802
        return any(xs)

    def Not(self, x: Term) -> Term:  # noqa: N802
        return not x

    def div_const(self, n: Term, v: int) -> Term:
        return n // v


class Z3Ops(Ops):
    """Integers are signed bit-vectors of `width` bits: every quantity of the model is small
    and bounded, and bit-blasting this control-heavy model is far faster than arithmetic.
    The caller picks a width with headroom (see `width_for`)."""

    symbolic = True

    def __init__(self, block_sizes: Sequence[int], width: int = 16) -> None:
        super().__init__(block_sizes)
        self.width = width
        # terms are built through the C API with no coercion: building, not solving, is the
        # cost of a query on this model
        self.ctx = z3.main_ctx()
        self.ref = self.ctx.ref()
        self._vals: dict[int, z3.BitVecRef] = {}
        self._bools = {True: z3.BoolVal(True), False: z3.BoolVal(False)}

    def const(self, x: Term) -> Term:
        if isinstance(x, bool) or not isinstance(x, int):
            return x
        v = self._vals.get(x)
        if v is None:
            v = self._vals[x] = z3.BitVecVal(x, self.width)
        return v

    def If(self, c: Term, a: Term, b: Term) -> Term:  # noqa: N802
        if isinstance(c, bool):
            return a if c else b
        if a is b:
            return a
        ab, bb = isinstance(a, bool), isinstance(b, bool)
        if ab and bb:
            return c if a else self.Not(c)
        if ab or bb or isinstance(a, z3.BoolRef) or isinstance(b, z3.BoolRef):
            ta = self._bools[a] if ab else a
            tb = self._bools[b] if bb else b
            return z3.BoolRef(z3.Z3_mk_ite(self.ref, c.as_ast(), ta.as_ast(), tb.as_ast()),
                              self.ctx)
        ta, tb = self.const(a), self.const(b)
        return z3.BitVecRef(z3.Z3_mk_ite(self.ref, c.as_ast(), ta.as_ast(), tb.as_ast()),
                            self.ctx)

    def _nary(self, mk: Any, ys: list[Any]) -> Any:
        args = (z3.Ast * len(ys))()
        for k, y in enumerate(ys):
            args[k] = y.as_ast()
        return z3.BoolRef(mk(self.ref, len(ys), args), self.ctx)

    def And(self, *xs: Term) -> Term:  # noqa: N802
        ys = [x for x in xs if x is not True]
        if any(x is False for x in ys):
            return False
        if not ys:
            return True
        return ys[0] if len(ys) == 1 else self._nary(z3.Z3_mk_and, ys)

    def Or(self, *xs: Term) -> Term:  # noqa: N802
        ys = [x for x in xs if x is not False]
        if any(x is True for x in ys):
            return True
        if not ys:
            return False
        return ys[0] if len(ys) == 1 else self._nary(z3.Z3_mk_or, ys)

    def Not(self, x: Term) -> Term:  # noqa: N802
        if isinstance(x, bool):
            return not x
        return z3.BoolRef(z3.Z3_mk_not(self.ref, x.as_ast()), self.ctx)

    def div_const(self, n: Term, v: int) -> Term:
        if isinstance(n, int):
            return n // v
        # bvsdiv truncates toward zero; the model (and Python) floor
        return z3.If(n >= 0, n / v, -((-n + (v - 1)) / v))

    def Sum(self, xs: Sequence[Term]) -> Term:  # noqa: N802
        total: Term = self.const(0)
        for x in xs:
            total = total + x
        return total


def width_for(max_value: int) -> int:
    """Signed width holding +-2*max_value (sums and differences of bounded quantities)."""
    return max(6, (2 * max_value).bit_length() + 1)
