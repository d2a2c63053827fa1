"""Terminal tables and JUnit XML for prove/witness results."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from rich.console import Console
from rich.table import Table

from .prove import Row


def _mark(r: Row) -> str:
    if r.ok:
        return "ok"
    if r.expected is None:
        return "UNDECLARED"
    return f"EXPECTED {r.expected}"


def prove_table(con: Console, rows: list[Row], wall: float) -> None:
    props = [r for r in rows if r.kind == "property"]
    t = Table(title="ranksync prove: properties", show_lines=False)
    for col in ("variant", "topo", "T", "property", "verdict", "how", "at step", "s", ""):
        t.add_column(col)
    for r in props:
        style = None if r.ok else "bold red"
        t.add_row(r.variant, r.topology, str(r.tp_size), r.name, r.verdict, r.method,
                  "" if r.step is None else str(r.step), f"{r.seconds:.2f}", _mark(r),
                  style=style)
    con.print(t)
    every = [r for r in rows if r.kind == "every_t"]
    if every:
        e = Table(title="every T, every depth (inductive invariants, spec/invariants/)")
        for col in ("variant", "topo", "obligation", "verdict", "s", ""):
            e.add_column(col)
        for r in every:
            e.add_row(r.variant, r.topology, r.name, r.verdict, f"{r.seconds:.2f}",
                      _mark(r) + (f" {r.reason}" if r.reason else ""),
                      style=None if r.ok else "bold red")
        con.print(e)
    wit = [r for r in rows if r.kind == "witness"]
    bad_w = [r for r in wit if not r.ok]
    unreach = sorted({(r.variant, r.topology, r.name) for r in wit if r.verdict == "UNREACHABLE"})
    con.print(f"witnesses: {len(wit) - len(bad_w)}/{len(wit)} as declared "
              f"({sum(r.verdict == 'REACHABLE' for r in wit)} reachable)")
    for v, topo, n in unreach:
        con.print(f"  unreachable (declared): {v} / {topo}: {n}")
    for r in bad_w:
        con.print(f"  [bold red]witness {r.variant}/{r.topology}/T={r.tp_size} {r.name}: "
                  f"{r.verdict}, expected {r.expected}[/]")
    fps = [r for r in rows if r.kind == "fixpoint"]
    if fps:
        con.print(f"all-depth search: {sum(r.ok for r in fps)}/{len(fps)} consistent with the "
                  f"bounded verdicts")
        for r in fps:
            if not r.ok:
                con.print(f"  [bold red]{r.variant}/{r.topology}/T={r.tp_size} {r.name}: "
                          f"{r.verdict} beyond the bound (step {r.step})[/]")
    ledger_table(con, rows)
    fails = [r for r in rows if not r.ok]
    bound = next((r.bound for r in rows if r.kind == "property"), {})
    con.print(f"bound: depth {bound.get('depth')}, L {bound.get('length')}, block sizes "
              f"{bound.get('block_sizes')}, default alloc {bound.get('default_allocate_tokens')},"
              f" pool {bound.get('pool_blocks')}; wall {wall:.1f}s")
    if not fails:  # else the caller lists each one with its command (prove_out.py)
        con.print(f"all {len(rows)} obligations as declared")


# one or two columns per cell, so the matrix fits a CI log; the legend follows the table
LEDGER_MARK = {"violated": "✗", "every T, every depth": "✓∀", "all depths (small domain)": "✓✓",
               "bounded": "✓", "open": "?"}
LEDGER_LEGEND = {"violated": "violated", "every T, every depth": "every T, every depth (invariant)",
                 "all depths (small domain)": "all depths on the small domain",
                 "bounded": "proved to the bound", "open": "not proved at every T"}


def ledger_table(con: Console, rows: list[Row]) -> None:
    """Designs side by side: one line per (variant, topology), one column per property."""
    from .ledger import ledger

    entries = ledger(rows)
    if not entries:
        return
    props = list(dict.fromkeys(e.property for e in entries))
    t = Table(title="ledger: strength of each obligation")
    t.add_column("variant")
    t.add_column("topo")
    for i, _ in enumerate(props):
        t.add_column(f"P{i + 1}", justify="center")
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for e in entries:
        cells.setdefault((e.variant, e.topology), {})[e.property] = LEDGER_MARK[e.strength]
    for (v, topo), c in cells.items():
        t.add_row(v, topo, *[c.get(p, "") for p in props])
    con.print(t)
    con.print("  " + "  ".join(f"P{i + 1} {p}" for i, p in enumerate(props)))
    con.print("  " + "  ".join(f"{LEDGER_MARK[k]} {v}" for k, v in LEDGER_LEGEND.items()))
    shown = set()
    for e in entries:
        kind = e.strength if e.strength != "violated" else None
        if kind and kind not in shown:
            shown.add(kind)
            con.print(f"  {LEDGER_MARK[kind]}: e.g. {e.variant}/{e.topology} {e.property}: "
                      f"{e.detail}")


def witness_table(con: Console, rows: list[Row]) -> None:
    t = Table(title="ranksync witnesses")
    for col in ("variant", "topo", "T", "witness", "verdict", "how", "at step", ""):
        t.add_column(col)
    for r in rows:
        t.add_row(r.variant, r.topology, str(r.tp_size), r.name, r.verdict, r.method,
                  "" if r.step is None else str(r.step), _mark(r),
                  style=None if r.ok else "bold red")
    con.print(t)


def junit_xml(rows: list[Row], suite: str) -> str:
    ts = ET.Element("testsuite", name=suite, tests=str(len(rows)),
                    failures=str(sum(not r.ok for r in rows)))
    for r in rows:
        tc = ET.SubElement(ts, "testcase", classname=f"{suite}.{r.variant}.{r.topology}",
                           name=f"T{r.tp_size}.{r.kind}.{r.name}", time=f"{r.seconds:.3f}")
        if not r.ok:
            f = ET.SubElement(tc, "failure", message=f"{r.verdict}, expected {r.expected}")
            f.text = r.reason
    return ET.tostring(ts, encoding="unicode")
