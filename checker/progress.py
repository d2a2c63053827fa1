"""Progress of a prove run for people: a bar on stderr that advances per obligation (not per
group), naming the groups in flight and how long each has run; off when stderr is not a
terminal, where one line per finished group goes to the log instead.

The events come from checker/events.py: check_group posts when a group starts and whenever
simulation or a solver call settles obligations, from the worker processes too.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TimeElapsedColumn,
)
from rich.text import Text

from .config import ProveConfig
from .events import Event


def group_sizes(pc: ProveConfig) -> dict[tuple[Any, ...], int]:
    """Obligations per unit of work, as run_all schedules it."""
    from .obligations import group_keys

    return {g: len(ks) for g, ks in group_keys(pc)}


def label(g: tuple[Any, ...]) -> str:
    if g and g[0] in ("fixpoint", "every_t"):
        v, t, n = g[1:]
        return f"{v}/{t}/" + ("every T" if g[0] == "every_t" else f"T{n} all depths")
    v, t, n = g
    return f"{v}/{t}/T{n}"


class Tracker:
    """What the bar shows: obligations settled, and the groups running with their age."""

    def __init__(self, sizes: dict[Any, int]) -> None:
        self.sizes = sizes
        self.total = sum(sizes.values())
        self.counted: dict[Any, int] = {}
        self.running: dict[Any, float] = {}
        self.done = 0

    def event(self, ev: Event) -> int:
        """Apply a worker event; returns how many obligations it settled."""
        kind, g = ev[0], tuple(ev[1])
        if kind == "start":
            self.running[g] = time.monotonic()
            return 0
        if kind == "settled":
            n = min(int(ev[2]), self.sizes.get(g, 0) - self.counted.get(g, 0))
            self.counted[g] = self.counted.get(g, 0) + max(0, n)
            self.done += max(0, n)
            return max(0, n)
        return 0

    def finished(self, g: Any, n_rows: int) -> int:
        """A group's rows are back: count whatever its events did not."""
        self.running.pop(g, None)
        rest = max(0, n_rows - self.counted.get(g, 0))
        self.counted[g] = max(n_rows, self.counted.get(g, 0))
        self.done += rest
        return rest

    def describe(self) -> str:
        now = time.monotonic()
        return ", ".join(f"{label(g)} {now - t0:.0f}s" for g, t0 in
                         sorted(self.running.items(), key=lambda x: x[1])) or "starting"


class _Running(ProgressColumn):
    def __init__(self, tracker: Tracker) -> None:
        super().__init__()
        self.tracker = tracker

    def render(self, task: Task) -> Text:
        return Text(self.tracker.describe(), overflow="ellipsis", no_wrap=True)


def _key(g: tuple[Any, ...], rows: list[Any]) -> tuple[Any, ...]:
    """The tracker's key of a finished task (run_all reports the bare (v, t, T))."""
    kinds = {r.kind for r in rows}
    return (kinds.pop(), *g) if kinds in ({"fixpoint"}, {"every_t"}) else g


def run_with_progress(pc: ProveConfig, jobs: int | None,
                      console: Console | None = None) -> tuple[list[Any], float]:
    """run_all with the bar (a terminal) or one line per finished group (a log)."""
    from .prove import run_all

    con = console or Console(stderr=True, highlight=False, soft_wrap=True)
    tracker = Tracker(group_sizes(pc))
    live = con.is_terminal
    t0 = time.perf_counter()
    prog = Progress("[progress.description]{task.description}", BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), _Running(tracker),
                    console=con, transient=True, disable=not live)
    with prog:
        task = prog.add_task("obligations", total=tracker.total)

        def on_event(ev: Event) -> None:
            prog.advance(task, tracker.event(ev))

        def on_group(g: Any, rows: list[Any]) -> None:
            key = _key(tuple(g), rows)
            prog.advance(task, tracker.finished(key, len(rows)))
            if not live:
                bad = sum(not r.ok for r in rows)
                con.print(f"[{tracker.done}/{tracker.total}] {label(key)}: {len(rows)} "
                          f"obligations, {bad} not as declared "
                          f"({time.perf_counter() - t0:.0f}s)")

        rows = run_all(pc, jobs, on_group, on_event if live else None)
    return rows, time.perf_counter() - t0
