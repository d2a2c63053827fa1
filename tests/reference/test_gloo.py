"""gloo backend: one OS process per rank. Each run costs a few seconds (process start)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

import pytest
from ranksync.reference.runner import GlooRunError, run_trace
from ref_cases import scenario, trace

pytestmark = pytest.mark.gloo

ALL4 = [0, 1, 2, 3]
FIRST2 = {"messages": [0, 1], "encode": True, "chunks": [0], "deliver": [0, 1]}

CASES: dict[str, dict[str, Any]] = {
    "nominal-T4": trace(
        "seed",
        scenario(tp_size=4, embedding_tp_size=2, pool_blocks=4),
        [
            {},
            {"messages": ALL4, "encode": True, "chunks": [0, 1], "deliver": ALL4},
            {"messages": ALL4, "chunks": [0, 1], "lang": False},
            {"chunks": [0, 1], "deliver": ALL4},
        ],
    ),
    "prefix-b-T4": trace(
        "prefix",
        scenario(topology="b", tp_size=4, embedding_tp_size=4, receivers=[0, 2], pool_blocks=4),
        [
            {},
            {"messages": ALL4, "encode": True, "chunks": ALL4, "deliver": ALL4},
            {"messages": ALL4, "chunks": ALL4, "deliver": ALL4},
        ],
    ),
    "seed-pressure-T2": trace(
        "seed",
        scenario(embedding_length=8, initial_free=[[0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5, 6, 7]],
                 initial_held=[[6, 7], []], initial_content=[[[-1] * 4] * 6 + [[-5, -6, -7, -8]] * 2]),
        [{}, {**FIRST2, "others_alloc": [0, 1]}, {"messages": [0, 1], "chunks": [0], "deliver": [0, 1],
                                                  "others_free": [0, 1]}],
    ),
    "seed-stuck-T2": trace(
        "seed",
        scenario(),
        [{}, FIRST2, {"messages": [0, 1], "chunks": [0], "deliver": [0]}, {}, {"deliver": [1]}],
    ),
}


# what the other requests leave in the blocks they take (applied by each rank's process)
CASES["seed-pressure-T2"]["expected"] = [
    {"step": 0},
    {"step": 1, "taken": [[{"block": 3, "content": [-9, -10, -11, -12], "aux": [4, 1]}],
                          [{"block": 7, "content": [-13] * 4, "aux": [2, 0]}]]},
    {"step": 2},
]


def _same(a: Any, b: Any) -> None:
    assert a.to_expected() == b.to_expected()
    assert a.free_blocks == b.free_blocks and a.others_held == b.others_held
    assert a.deadlock_step == b.deadlock_step


@pytest.mark.parametrize("name", sorted(CASES))
def test_backends_identical(name: str) -> None:
    t = CASES[name]
    a = run_trace(t, "inprocess")
    _same(a, run_trace(t, "gloo", timeout=60))
    if name == "seed-pressure-T2":
        assert a.taken[1][0][2] == {"block": 3, "content": [-9, -10, -11, -12], "aux": [4, 1]}
        assert a.taken[1][1][6] == {"block": 7, "content": [-13] * 4, "aux": [2, 0]}


def test_deadlock_detected_on_gloo_by_timeout() -> None:
    t = trace("seed", scenario(), [{}, {**FIRST2, "others_alloc": [1]}, {}, {}])
    ref = run_trace(t, "inprocess")
    assert ref.deadlock_step == 2
    _same(ref, run_trace(t, "gloo", timeout=30, collective_timeout=1.5))


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie not yet reaped by us would still answer; Popen.wait() reaped ours
    return False


def test_hung_rank_is_caught_by_its_heartbeat_and_leaves_no_process() -> None:
    """Rank 1 stops in local work at step 2: its heartbeat names it, its step and its last
    event long before the run's 60 s timeout, and every rank is killed."""
    t = CASES["seed-stuck-T2"]
    start = time.monotonic()
    with pytest.raises(GlooRunError, match=r"gloo rank 1 hung at step 2 \(local work") as info:
        run_trace(t, "gloo", timeout=60, fault="hang:1:2")
    assert time.monotonic() - start < 30
    assert "last event: " in str(info.value)
    assert len(info.value.pids) == 2 and all(_gone(p) for p in info.value.pids)


def test_dead_rank_fails_with_its_exit_status() -> None:
    with pytest.raises(GlooRunError, match="rank 0 exited with status 7") as info:
        run_trace(CASES["seed-stuck-T2"], "gloo", timeout=20, fault="crash:0:1")
    assert all(_gone(p) for p in info.value.pids)


def test_torchrun_launch(tmp_path: Any) -> None:
    t = CASES["seed-stuck-T2"]
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(t))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "out"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
        "--master-addr", "127.0.0.1", "--master-port", str(port),
        "-m", "ranksync.reference.gloo_main", str(path), "--out", str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    got = json.loads((out / "result.json").read_text())
    ref = run_trace(t, "inprocess")
    assert got["expected"] == ref.to_expected()
    assert got["free_blocks"] == ref.free_blocks
