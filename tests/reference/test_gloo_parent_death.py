"""Killing the parent of a 4-rank gloo run leaves no rank process and no rendezvous
directory behind (issue 14): SIGKILL (the ranks' watchdog / PR_SET_PDEATHSIG) and SIGTERM
(the parent's own cleanup)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ref_cases import scenario, trace

pytestmark = [pytest.mark.gloo, pytest.mark.skipif(not sys.platform.startswith("linux"),
                                                   reason="reads /proc")]

ALL4 = [0, 1, 2, 3]
T4 = trace("seed", scenario(tp_size=4, embedding_tp_size=2, pool_blocks=4),
           [{}, {"messages": ALL4, "encode": True, "chunks": [0, 1], "deliver": ALL4}, {}, {}])

PARENT = """
import json, sys
from ranksync.reference.runner import run_trace
run_trace(json.loads(sys.argv[1]), "gloo", timeout=120, collective_timeout=100,
          fault="hang:1:2")
"""


def children_of(parent: int) -> list[int]:
    """Processes whose environment names `parent` as their spawner."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            env = (d / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANKSYNC_PARENT_PID={parent}".encode() in env:
            out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        st = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return st != "Z"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_parent_leaves_nothing(tmp_path, sig):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    parent = subprocess.Popen([sys.executable, "-c", PARENT, json.dumps(T4)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # every rank up and heart-beating
            dirs = list(tmp_path.glob("ranksync-gloo-*"))
            if dirs and len(list(dirs[0].glob("hb*.json"))) == 4:
                break
            assert parent.poll() is None, parent.stderr.read().decode() if parent.stderr else ""
            time.sleep(0.1)
        else:
            pytest.fail("the 4 ranks did not start within 90 s")
        ranks = children_of(parent.pid)
        assert len(ranks) == 4
        parent.send_signal(sig)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (any(_alive(p) for p in ranks)
                                               or list(tmp_path.glob("ranksync-gloo-*"))):
            time.sleep(0.1)
        assert not [p for p in ranks if _alive(p)], "rank processes survived their parent"
        assert not list(tmp_path.glob("ranksync-gloo-*")), "rendezvous directory left behind"
    finally:
        if parent.poll() is None:
            parent.kill()
        for p in children_of(parent.pid):
            os.kill(p, signal.SIGKILL)
