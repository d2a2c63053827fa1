"""The two witnesses stay independent: reference/ never imports spec/ or checker/, and spec/
never imports reference/ (or checker/). Conformance is evidence only while this holds."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "reference": ("ranksync.spec", "ranksync.checker"),
    "spec": ("ranksync.reference", "ranksync.checker"),
}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level > 1:
            names.add("..")  # a relative import leaving the package
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_cross_imports(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    bad = {str(f.relative_to(ROOT)): sorted(n for n in imported(f)
                                             if n == ".." or n.startswith(FORBIDDEN[package]))
           for f in files}
    assert not {k: v for k, v in bad.items() if v}
