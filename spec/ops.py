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

    def const(self, x: Term) -> Term:
        if isinstance(x, bool) or not isinstance(x, int):
            return x
        return z3.BitVecVal(x, self.width)

    def If(self, c: Term, a: Term, b: Term) -> Term:  # noqa: N802
        if isinstance(c, bool):
            return a if c else b
        if z3.is_true(c):
            return a
        if z3.is_false(c):
            return b
        if isinstance(a, bool) and isinstance(b, bool):
            if a == b:
                return a
            return c if a else z3.Not(c)
        if isinstance(a, bool):
            a = z3.BoolVal(a)
        if isinstance(b, bool):
            b = z3.BoolVal(b)
        if not z3.is_bool(a) and not z3.is_bool(b):
            a, b = self.const(a), self.const(b)
        return z3.If(c, a, b)

    def And(self, *xs: Term) -> Term:  # noqa: N802
        ys = [x for x in xs if not (x is True or (not isinstance(x, bool) and z3.is_true(x)))]
        if any(x is False for x in ys):
            return False
        if not ys:
            return True
        return ys[0] if len(ys) == 1 else z3.And(*ys)

    def Or(self, *xs: Term) -> Term:  # noqa: N802
        ys = [x for x in xs if not (x is False or (not isinstance(x, bool) and z3.is_false(x)))]
        if any(x is True for x in ys):
            return True
        if not ys:
            return False
        return ys[0] if len(ys) == 1 else z3.Or(*ys)

    def Not(self, x: Term) -> Term:  # noqa: N802
        if isinstance(x, bool):
            return not x
        return z3.Not(x)

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
