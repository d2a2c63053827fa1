"""Public API of the reference implementation.

    run_trace(trace, backend="inprocess", timeout=30.0) -> RunResult
    run_scenario(scenario, schedule, variant, backend="inprocess", timeout=30.0) -> RunResult

``RunResult.events[step][rank]`` are the language-side events of docs/trace-format.md
(version 2), ``writes[step][rank]``, ``delivered[step][rank]`` and ``taken[step][rank]`` the
environment's effects. A malformed trace raises :class:`~ranksync.reference.trace.TraceError` (a ``ValueError``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import lifeline
from .collectives import InProcessGroup
from .compare import mismatches
from .events import Event
from .trace import FORMAT_VERSION, Trace, TraceError, parse_trace
from .variants import get_variant
from .world import Simulation

DEADLOCK: Event = {"ev": "deadlock"}
BACKENDS = ("inprocess", "gloo")


class GlooRunError(RuntimeError):
    """A gloo run failed: a rank died, hung past the timeout, or ranks disagreed."""

    def __init__(self, message: str, pids: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.pids = list(pids)


@dataclass
class RunResult:
    name: str
    variant: str
    backend: str
    events: list[list[list[Event]]] = field(default_factory=list)
    writes: list[list[list[dict[str, Any]]]] = field(default_factory=list)
    delivered: list[list[list[int]]] = field(default_factory=list)
    # [step][rank]: the blocks others_alloc gave to other requests and what they hold then
    taken: list[list[list[dict[str, Any]]]] = field(default_factory=list)
    deadlock_step: int | None = None
    # Per rank, the allocator's free list at the end of the run (not part of the trace
    # contract; lets tests check conservation and double frees).
    free_blocks: list[list[int]] = field(default_factory=list)
    # Per rank, the blocks other requests hold at the end, oldest first (same purpose).
    others_held: list[list[int]] = field(default_factory=list)

    def to_expected(self) -> list[dict[str, Any]]:
        """The run in the shape of a trace's ``expected`` list."""
        return [
            {
                "step": i,
                "ranks": self.events[i],
                "writes": self.writes[i],
                "delivered": self.delivered[i],
                "taken": self.taken[i],
            }
            for i in range(len(self.events))
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "variant": self.variant,
            "backend": self.backend,
            "deadlock_step": self.deadlock_step,
            "free_blocks": self.free_blocks,
            "others_held": self.others_held,
            "expected": self.to_expected(),
        }

    def mismatches(self, expected: Sequence[Mapping[str, Any]]) -> list[str]:
        """Human-readable differences against a trace's ``expected`` (empty: conformant),
        under the comparison rules of :mod:`.compare`."""
        return mismatches(expected, self.to_expected())


def run_trace(
    trace: Mapping[str, Any],
    backend: str = "inprocess",
    timeout: float = 30.0,
    *,
    collective_timeout: float | None = None,
    fault: str | None = None,
) -> RunResult:
    """Run a trace's scenario and schedule under its variant and record the observables.

    ``collective_timeout`` (gloo only): how long a collective may block before the run is
    declared a deadlock; default min(10, timeout / 3). ``fault`` (gloo only, for tests):
    ``"hang:RANK:STEP"`` or ``"crash:RANK:STEP"``.
    """
    parsed = parse_trace(trace)
    if backend == "inprocess":
        return _run_inprocess(parsed)
    if backend == "gloo":
        ct = collective_timeout if collective_timeout is not None else default_collective_timeout(timeout)
        return _run_gloo(dict(trace), parsed, timeout, ct, fault)
    raise TraceError(f"unknown backend {backend!r}; known: {BACKENDS}")


def run_scenario(
    scenario: Mapping[str, Any],
    schedule: list[Mapping[str, Any]],
    variant: str,
    backend: str = "inprocess",
    timeout: float = 30.0,
    **kwargs: Any,
) -> RunResult:
    trace = {
        "format": "ranksync-trace",
        "version": FORMAT_VERSION,
        "name": "adhoc",
        "variant": variant,
        "scenario": dict(scenario),
        "schedule": [dict(s) for s in schedule],
    }
    return run_trace(trace, backend=backend, timeout=timeout, **kwargs)


def default_collective_timeout(timeout: float) -> float:
    return max(1.0, min(10.0, timeout / 3))


def _run_inprocess(trace: Trace) -> RunResult:
    sc = trace.scenario
    group = InProcessGroup(sc.tp_size)
    sim = Simulation(sc, get_variant(trace.variant), {r: group.rank_group(r) for r in range(sc.tp_size)})
    res = RunResult(trace.name, trace.variant, "inprocess")
    for i, step in enumerate(trace.schedule):
        sim.env_phase(step, trace.taken[i] if i < len(trace.taken) else None)
        deadlock = False
        if step.lang:
            ranks = [sim.lang[r] for r in range(sc.tp_size)]
            deadlock = group.run([lr.process_multimodal_language_queue for lr in ranks])
            sim.transport.flush_outboxes()
        res.events.append([sim.events(r) + ([dict(DEADLOCK)] if deadlock else []) for r in range(sc.tp_size)])
        res.writes.append([sim.writes(r) for r in range(sc.tp_size)])
        res.delivered.append([sim.delivered(r) for r in range(sc.tp_size)])
        res.taken.append([sim.taken(r) for r in range(sc.tp_size)])
        if deadlock:
            res.deadlock_step = i
            break
    res.free_blocks = [list(sim.lang[r].allocator.free_blocks) for r in range(sc.tp_size)]
    res.others_held = [list(sim.lang[r].allocator.held) for r in range(sc.tp_size)]
    return res


# -- gloo: one OS process per rank ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: str, n: int = 2000) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return ""
    return data[-n:].decode("utf-8", "replace").strip()


def _kill_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # each rank leads its own process group
            except ProcessLookupError:
                pass
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def _run_gloo(
    raw: dict[str, Any], trace: Trace, timeout: float, collective_timeout: float, fault: str | None
) -> RunResult:
    t = trace.scenario.tp_size
    tmp = tempfile.mkdtemp(prefix="ranksync-gloo-")
    procs: list[subprocess.Popen[bytes]] = []
    restore = _exit_on_sigterm()  # SIGTERM runs the `finally` below: ranks killed, dir removed
    try:
        path = os.path.join(tmp, "trace.json")
        with open(path, "w") as f:
            json.dump(raw, f)
        env = dict(os.environ)
        env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()), WORLD_SIZE=str(t), LOCAL_WORLD_SIZE=str(t),
                   RANKSYNC_PARENT_PID=str(os.getpid()), RANKSYNC_RUN_DIR=tmp)
        env.pop("RANKSYNC_REFERENCE_FAULT", None)
        if fault:
            env["RANKSYNC_REFERENCE_FAULT"] = fault
        cmd = [
            sys.executable, "-m", "ranksync.reference.gloo_main", path, "--out", tmp,
            "--timeout", str(timeout), "--collective-timeout", str(collective_timeout), "--no-merge",
        ]
        for r in range(t):
            with open(os.path.join(tmp, f"stderr{r}.txt"), "wb") as err:
                procs.append(
                    subprocess.Popen(
                        cmd,
                        env=env | {"RANK": str(r), "LOCAL_RANK": str(r)},
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=err,
                        start_new_session=True,
                    )
                )
        deadline = time.monotonic() + timeout
        hang_after = max(2.0, min(5.0, collective_timeout / 2))
        next_beat_check = time.monotonic() + 0.5
        pids = [p.pid for p in procs]
        while True:
            rcs = [p.poll() for p in procs]
            bad = [(r, rc) for r, rc in enumerate(rcs) if rc not in (None, 0)]
            if bad:
                r, rc = bad[0]
                _kill_all(procs)
                raise GlooRunError(
                    f"gloo rank {r} exited with status {rc}:\n{_tail(os.path.join(tmp, f'stderr{r}.txt'))}", pids
                )
            if all(rc == 0 for rc in rcs):
                break
            if time.monotonic() > next_beat_check:
                next_beat_check = time.monotonic() + 0.5
                hung = lifeline.hung_rank(tmp, t, hang_after)
                if hung is not None and procs[hung[0]].poll() is None:
                    r, hb = hung
                    _kill_all(procs)
                    raise GlooRunError(
                        f"gloo rank {r} hung at step {hb['step']} ({hb['phase']} work for more than "
                        f"{hang_after:g} s; last event: {json.dumps(hb['event'])}); killed every rank",
                        pids,
                    )
            if time.monotonic() > deadline:
                pending = [r for r, rc in enumerate(rcs) if rc is None]
                _kill_all(procs)
                raise GlooRunError(
                    f"gloo rank(s) {pending} did not finish within {timeout:g} s (hung or dead rank); "
                    f"killed their process groups (pids {[pids[r] for r in pending]})",
                    pids,
                )
            time.sleep(0.02)
        return merge_rank_files(tmp, trace, "gloo")
    finally:
        _kill_all(procs)
        shutil.rmtree(tmp, ignore_errors=True)
        restore()


def _exit_on_sigterm() -> Any:
    """Turn SIGTERM into SystemExit while rank processes run (main thread only), so the
    spawner's cleanup runs; returns the function that restores the previous handler."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_term(_sig: int, _frame: Any) -> None:
        raise SystemExit(128 + signal.SIGTERM)

    prev = signal.signal(signal.SIGTERM, on_term)
    return lambda: signal.signal(signal.SIGTERM, prev)


def rank_file(out_dir: str, rank: int) -> str:
    return os.path.join(out_dir, f"rank{rank}.json")


def merge_rank_files(out_dir: str, trace: Trace, backend: str) -> RunResult:
    """Combine the per-rank outputs of a gloo run into one :class:`RunResult`."""
    t = trace.scenario.tp_size
    parts = []
    for r in range(t):
        with open(rank_file(out_dir, r)) as f:
            parts.append(json.load(f))
    steps = {len(p["steps"]) for p in parts}
    dl = {p["deadlock_step"] for p in parts}
    if len(steps) != 1 or len(dl) != 1:
        raise GlooRunError(f"gloo ranks disagree on the run's end: steps {sorted(steps)}, deadlock at {dl}")
    res = RunResult(trace.name, trace.variant, backend, deadlock_step=next(iter(dl)))
    res.free_blocks = [p["free_blocks"] for p in parts]
    res.others_held = [p["others_held"] for p in parts]
    for i in range(next(iter(steps))):
        res.events.append([p["steps"][i]["events"] for p in parts])
        res.writes.append([p["steps"][i]["writes"] for p in parts])
        res.delivered.append([p["steps"][i]["delivered"] for p in parts])
        res.taken.append([p["steps"][i]["taken"] for p in parts])
    return res
