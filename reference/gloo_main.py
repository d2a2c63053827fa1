"""One language rank per OS process over torch.distributed/gloo.

Launch with the reference's own spawner (``run_trace(..., backend="gloo")``) or with
torchrun::

    python -m torch.distributed.run --nproc-per-node T -m ranksync.reference.gloo_main TRACE.json --out DIR

Each process simulates the whole embedding side identically; the only input it needs from
the other ranks is their language->embedding messages, exchanged after every iteration with
``all_gather_object`` on a *separate* gloo group (not a protocol collective). Protocol
collectives run on their own group. A collective blocked past ``--collective-timeout`` is a
deadlock (the other ranks then block in the exchange and time out too).

Outputs ``DIR/rank{r}.json``; unless ``--no-merge``, rank 0 waits for all of them and writes
``DIR/result.json``. Exit status: 0 ok (deadlock included), 2 malformed trace, 1 error.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import threading
import time
from typing import Any

from . import lifeline
from .collectives import DeadlockError, GlooGroup, is_timeout_error
from .runner import DEADLOCK, default_collective_timeout, merge_rank_files, rank_file
from .trace import Trace, TraceError, parse_trace
from .variants import get_variant
from .world import Simulation


def _fault(rank: int) -> tuple[str, int] | None:
    spec = os.environ.get("RANKSYNC_REFERENCE_FAULT")
    if not spec:
        return None
    kind, r, step = spec.split(":")
    return (kind, int(step)) if int(r) == rank else None


def run_rank(trace: Trace, rank: int, protocol_pg: Any, side_pg: Any) -> dict[str, Any]:
    import torch.distributed as dist

    sc = trace.scenario
    group = GlooGroup(protocol_pg)
    sim = Simulation(sc, get_variant(trace.variant), {rank: group})
    fault = _fault(rank)
    steps: list[dict[str, Any]] = []
    deadlock_step: int | None = None
    note: str | None = None
    for i, step in enumerate(trace.schedule):
        lifeline.mark("local", i)
        if fault is not None and fault[1] == i:
            if fault[0] == "hang":
                while True:
                    time.sleep(3600)
            os._exit(7)
        sim.env_phase(step, trace.taken[i] if i < len(trace.taken) else None)
        deadlock = False
        if step.lang:
            group.signatures = []
            try:
                sim.lang[rank].process_multimodal_language_queue()
            except DeadlockError as exc:
                deadlock, note = True, str(exc)
            if not deadlock:
                gathered: list[Any] = [None] * sc.tp_size
                try:
                    lifeline.mark("collective")
                    dist.all_gather_object(gathered, (sim.transport.outbox[rank], group.signatures), group=side_pg)
                except RuntimeError as exc:
                    # Timeout: a peer is blocked in a protocol collective. Any other error
                    # (peer gone) is classified by the spawner from that peer's exit status.
                    deadlock, note = True, f"exchange failed ({'timeout' if is_timeout_error(exc) else 'error'}): {exc}"
                if not deadlock:
                    sigs = [g[1] for g in gathered]
                    if any(s != sigs[0] for s in sigs):
                        deadlock, note = True, f"collective sequences differ: {sigs}"
                    else:
                        sim.transport.flush_outboxes([list(g[0]) for g in gathered])
        events = sim.events(rank) + ([dict(DEADLOCK)] if deadlock else [])
        lifeline.mark("local", event=events[-1] if events else None)
        steps.append(
            {"events": events, "writes": sim.writes(rank), "delivered": sim.delivered(rank), "taken": sim.taken(rank)}
        )
        if deadlock:
            deadlock_step = i
            break
    return {
        "rank": rank,
        "steps": steps,
        "deadlock_step": deadlock_step,
        "free_blocks": list(sim.lang[rank].allocator.free_blocks),
        "others_held": list(sim.lang[rank].allocator.held),
        "note": note,
    }


def _write_json(path: str, data: Any) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="ranksync.reference.gloo_main")
    ap.add_argument("trace")
    ap.add_argument("--out", required=True)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--collective-timeout", type=float, default=None)
    ap.add_argument("--no-merge", action="store_true")
    args = ap.parse_args(argv)
    try:
        with open(args.trace) as f:
            trace = parse_trace(json.load(f))
    except (TraceError, json.JSONDecodeError) as exc:
        print(f"malformed trace: {exc}", file=sys.stderr)
        return 2
    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    if world != trace.scenario.tp_size:
        print(f"WORLD_SIZE={world} but the scenario has tp_size={trace.scenario.tp_size}", file=sys.stderr)
        return 2
    parent = os.environ.get("RANKSYNC_PARENT_PID")
    if parent:  # spawned by reference/runner.py (not torchrun): die with it, heartbeat
        lifeline.start(args.out, rank, int(parent), os.environ.get("RANKSYNC_RUN_DIR"))
    # Last resort if this process itself hangs (the spawner / torchrun kill first).
    watchdog = threading.Timer(args.timeout + 2.0, lambda: os._exit(124))
    watchdog.daemon = True
    watchdog.start()
    ct = args.collective_timeout or default_collective_timeout(args.timeout)

    import torch.distributed as dist

    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=args.timeout))
    protocol_pg = dist.new_group(backend="gloo", timeout=datetime.timedelta(seconds=ct))
    side_pg = dist.new_group(backend="gloo", timeout=datetime.timedelta(seconds=ct))
    dist.barrier()  # all ranks are up: collective timeouts now measure blocking only
    result = run_rank(trace, rank, protocol_pg, side_pg)
    os.makedirs(args.out, exist_ok=True)
    _write_json(rank_file(args.out, rank), result)
    if result["deadlock_step"] is not None:
        # Let blocked peers reach their own timeout before our sockets close.
        time.sleep(min(1.0, ct / 2))
    if rank == 0 and not args.no_merge:
        deadline = time.monotonic() + args.timeout
        while not all(os.path.exists(rank_file(args.out, r)) for r in range(world)):
            if time.monotonic() > deadline:
                print("rank 0: timed out waiting for the other ranks' outputs", file=sys.stderr)
                return 1
            time.sleep(0.05)
        _write_json(os.path.join(args.out, "result.json"), merge_rank_files(args.out, trace, "gloo").to_json())
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip process-group teardown: after a deadlock timeout it can block.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
