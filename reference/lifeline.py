"""A gloo rank's tie to the process that spawned it (reference/runner.py).

* The rank dies with its parent: PR_SET_PDEATHSIG (Linux) sends it SIGTERM, and a watchdog
  thread that sees its parent change (any OS) removes the run's rendezvous directory and
  exits, so a killed parent leaves neither processes nor ``ranksync-gloo-*`` behind.
* Heartbeat: the same thread writes ``hb{rank}.json`` every HEARTBEAT_S with the rank's step,
  its phase (``local`` work or waiting in a ``collective``) and its last event. A rank that
  stays in ``local`` work far longer than a step takes is hung; the spawner reports it by
  rank and last event long before the run's overall timeout.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import sys
import threading
import time
from typing import Any

HEARTBEAT_S = 0.25
PR_SET_PDEATHSIG = 1
STATE: dict[str, Any] = {"step": -1, "phase": "start", "event": None, "since": time.time()}


def mark(phase: str, step: int | None = None, event: Any = None) -> None:
    """The rank entered `phase` ("local" | "collective"), at `step`, after `event`."""
    STATE["phase"] = phase
    STATE["since"] = time.time()
    if step is not None:
        STATE["step"] = step
    if event is not None:
        STATE["event"] = event


def heartbeat_file(out_dir: str, rank: int) -> str:
    return os.path.join(out_dir, f"hb{rank}.json")


def start(out_dir: str, rank: int, parent: int, cleanup: str | None) -> None:
    """Tie this rank to `parent` and start its heartbeat in `out_dir`; on the parent's death
    remove `cleanup` (the rendezvous directory) and exit."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass  # the watchdog below still notices
    signal.signal(signal.SIGTERM, lambda *_: _orphaned(cleanup))
    if os.getppid() != parent:  # the parent died before prctl took effect
        _orphaned(cleanup)

    def beat() -> None:
        path = heartbeat_file(out_dir, rank)
        while True:
            if os.getppid() != parent:
                _orphaned(cleanup)
            try:
                tmp = f"{path}.tmp"
                with open(tmp, "w") as f:
                    json.dump({"rank": rank, "time": time.time(), **STATE}, f, default=str)
                os.replace(tmp, path)
            except OSError:
                pass
            time.sleep(HEARTBEAT_S)

    threading.Thread(target=beat, daemon=True, name="ranksync-heartbeat").start()


def _orphaned(cleanup: str | None) -> None:
    if cleanup:
        shutil.rmtree(cleanup, ignore_errors=True)
    os._exit(125)


def hung_rank(out_dir: str, world: int, limit: float) -> tuple[int, dict[str, Any]] | None:
    """A rank whose heartbeat stopped, or that stayed in local work longer than `limit`
    seconds (its peers wait for it in a collective), with its last heartbeat."""
    now = time.time()
    for r in range(world):
        try:
            with open(heartbeat_file(out_dir, r)) as f:
                hb = json.load(f)
        except (OSError, ValueError):
            continue
        if now - float(hb["time"]) > limit or (hb["phase"] == "local"
                                              and now - float(hb["since"]) > limit):
            return r, hb
    return None
