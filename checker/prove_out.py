"""The outcome of `ranksync prove` / `ranksync witnesses` for every output format: one finding
per obligation that is not as declared, located at the config line that declared it and at
the spec function of its property, with the one command that explains it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ranksync.spec.properties import PROPERTIES
from rich.console import Console
from rich.markup import escape

from .config import ProveConfig
from .output.locate import ConfigLines, root_dir, spec_location
from .output.model import Finding, Outcome, Rule
from .prove import Row

SCHEMA_VERSION = 1


def rule_id(r: Row) -> str:
    """One rule per property (its bounded, all-depth and every-T rows alike) and one per
    witness; ids never depend on the run."""
    if r.kind == "witness":
        return "witness/" + slug(r.name)
    return f"property/{r.name}"


def slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")


def _pascal(s: str) -> str:
    return "".join(w.capitalize() for w in re.split(r"[^A-Za-z0-9]+", s) if w)


def rules(rows: list[Row], root: Path) -> list[Rule]:
    out = [Rule(f"property/{n}", _pascal(n), f"{n} ({p.kind})", p.doc,
                spec_location(n, root)) for n, p in PROPERTIES.items()]
    seen = {r.id for r in out}
    for r in rows:
        rid = rule_id(r)
        if rid not in seen:
            seen.add(rid)
            out.append(Rule(rid, "Witness" + _pascal(r.name), f"reachable: {r.name}",
                            "A situation the model must reach (a premise of a property, or "
                            "a branch of protocol.md §8.3/§8.4) unless the config declares it "
                            "UNREACHABLE; a proof whose premise is unreachable is vacuous.",
                            spec_location(r.name, root)))
    return out


def fingerprint(r: Row) -> str:
    return f"{r.kind}:{r.variant}:{r.topology}:T{r.tp_size}:{r.name}"


def where(r: Row) -> str:
    t = "every T" if r.kind == "every_t" else f"T={r.tp_size}"
    extra = {"fixpoint": " (all-depth search)", "every_t": " (inductive invariant)"}.get(
        r.kind, "")
    return f"{r.variant}/{r.topology}/{t} {r.name}{extra}"


def command(r: Row, config_arg: str | None) -> str:
    """The one command that shows this obligation: explain for a property (its
    counterexample, or its bound and a run through its premise) and for a premise witness;
    the obligation's group re-run otherwise."""
    cfg = f" --config {config_arg}" if config_arg else ""
    prop = r.name[len("premise: "):] if r.name.startswith("premise: ") else r.name
    if r.kind in ("property", "witness") and prop in PROPERTIES and r.tp_size > 0:
        return (f"ranksync explain {r.variant} {prop} --topology {r.topology} "
                f"--ranks {r.tp_size}{cfg}")
    ts = f" --tp-sizes {r.tp_size}" if r.tp_size > 0 else ""
    return f"ranksync prove --variants {r.variant} --topologies {r.topology}{ts}{cfg}"


def expectation(r: Row) -> str:
    if r.verdict == "UNKNOWN":
        return f"UNKNOWN ({r.reason or 'solver gave up'}), declared {r.expected}"
    if r.vacuous:
        return f"{r.verdict} but {r.reason}"
    if r.expected is None:
        return f"{r.verdict}, no verdict declared"
    return f"{r.verdict}, declared {r.expected}"


def findings(rows: list[Row], lines: ConfigLines | None, config_arg: str | None,
             root: Path) -> list[Finding]:
    out = []
    for r in rows:
        if r.ok:
            continue
        loc = lines.declared(r.kind, r.variant, r.topology, r.name) if lines else None
        spec = spec_location(r.name, root)
        related = [("spec function", spec)] if spec is not None else []
        cmd = command(r, config_arg)
        at = f" at iteration {r.step}" if r.step is not None else ""
        msg = (f"{where(r)}: {expectation(r)} (found by {r.method or 'the prover'}{at}).\n"
               f"Explain: {cmd}" + (f"\nSpec: {spec}" if spec is not None else ""))
        out.append(Finding(rule_id(r), "error", f"ranksync: {where(r)}: {expectation(r)}",
                           msg, loc, related, fingerprint(r), cmd))
    return out


def spec_notices(fs: list[Finding]) -> list[Finding]:
    """One notice per property at its spec function (GitHub annotations), for the properties
    of the findings, when the spec lives in the repository under review."""
    out, seen = [], set()
    for f in fs:
        for label, loc in f.related:
            if loc.inside and (f.rule, loc) not in seen:
                seen.add((f.rule, loc))
                out.append(Finding(f.rule, "note", f"ranksync: {f.rule} is defined here",
                                   f"{label} of {f.rule}; differing: {f.title}", loc))
    return out


def document(command_: str, rows: list[Row], pc: ProveConfig, wall: float,
             fs: list[Finding], artifacts: list[str]) -> dict[str, Any]:
    from .ledger import ledger
    from .output.emit import version
    from .prove import exit_code

    return {"schema_version": SCHEMA_VERSION, "command": command_, "ranksync": version(),
            "config": pc.path, "wall_seconds": wall, "ok": not fs,
            "exit_code": exit_code(rows),
            "seeds": {"z3": pc.z3_seed, "simulation": pc.seed},
            "counts": {"obligations": len(rows), "not_as_declared": len(fs),
                       "unknown": sum(not r.decided for r in rows)},
            "rows": [r.to_json() for r in rows],
            "ledger": [e.to_json() for e in ledger(rows)] if command_ == "prove" else [],
            "findings": [f.to_json() for f in fs], "artifacts": artifacts}


def summary_md(command_: str, rows: list[Row], fs: list[Finding], wall: float,
               artifacts: list[str]) -> str:
    head = (f"### ranksync {command_}: {len(rows) - len(fs)}/{len(rows)} obligations as "
            f"declared ({wall:.0f} s)\n\n")
    if not fs:
        return head + "Every verdict is as declared.\n"
    out = [head + "| obligation | verdict | declared at | explain |", "|---|---|---|---|"]
    for f, r in zip(fs, [r for r in rows if not r.ok], strict=True):
        loc = f"`{f.location}`" if f.location else ""
        out.append(f"| {_md(where(r))} | {_md(expectation(r))} | {loc} | `{_md(f.command)}` |")
    if artifacts:
        out.append(f"\nCounterexamples written: {len(artifacts)} file(s) (artifact upload).")
    return "\n".join(out) + "\n"


def _md(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def failure_summary(con: Console, fs: list[Finding]) -> None:
    """Each differing obligation with the one command that explains it."""
    if not fs:
        return
    con.print(f"[bold red]{len(fs)} obligation(s) not as declared:[/]")
    for f in fs:
        con.print(f"  [red]{escape(f.title.removeprefix('ranksync: '))}[/]")
        if f.location is not None:
            con.print(f"    declared at {escape(str(f.location))}")
        con.print(f"    explain: {escape(f.command)}")


def outcome(command_: str, rows: list[Row], pc: ProveConfig, wall: float,
            config_arg: str | None, artifacts: list[str] | None = None,
            root: str | Path | None = None) -> Outcome:
    from .prove import exit_code
    from .report_text import junit_xml, prove_table, witness_table

    base = root_dir(root)
    lines = ConfigLines(pc.path, base) if Path(pc.path).is_file() else None
    fs = findings(rows, lines, config_arg, base)
    arts = artifacts or []

    def render(con: Console) -> None:
        if command_ == "prove":
            prove_table(con, rows, wall)
        else:
            witness_table(con, rows)
        con.print(f"seeds: z3 {pc.z3_seed}, simulation {pc.seed} "
                  f"(--z3-seed N re-runs the solver with another seed)")
        failure_summary(con, fs)
        for a in arts:
            con.print(f"wrote {escape(a)}")

    return Outcome(command_, exit_code(rows), fs, rules(rows, base),
                   document(command_, rows, pc, wall, fs, arts),
                   summary_md(command_, rows, fs, wall, arts),
                   junit_xml(rows, f"ranksync.{command_}"), render)
