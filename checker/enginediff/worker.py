"""One language TP rank: runs traces on the engine's real queues, records the events.

Runs in its own OS process (started by :mod:`.driver`), joined to a gloo group with the other
ranks. Per trace it builds fresh engine objects: the real ``MultimodalDataBuffers``, the real
``ReqToMetadataBlockAllocator``, the real ``MultimodalLanguagePreallocQueue`` and
``MultimodalLanguageTransferQueue``; every iteration calls the engine's own
``process_multimodal_language_queue`` (which calls ``pop_preallocated`` / ``pop_transferred``,
which call the real ``poll_and_all_reduce`` and ``torch.distributed.all_reduce``).

Collective alignment: every ``all_reduce`` the engine issues, and the end of every step, is
preceded by an exchange of a small descriptor (kind, op, size, dtype) among the ranks. If the
descriptors differ, the ranks' collective sequences differ: every rank records
``{"ev": "deadlock"}`` and the trace ends there, instead of hanging or mis-matching in gloo.
"""

from __future__ import annotations

import json
import logging
import os
import traceback
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from . import encoding, scripted, stubs
from .loader import EngineModules, EngineSourceError, load_engine

KIND_ALL_REDUCE = 1
KIND_STEP_END = 2
KIND_FAILED = 3
DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float32,
          torch.float64, torch.bfloat16, torch.float16, torch.bool)
LOG_LEVELS = {"INFO", "WARNING", "ERROR", "CRITICAL"}


class CollectiveMismatch(Exception):
    """The ranks reached different collective calls (or one rank failed)."""


class Recorder:
    """Events of one rank for the current trace, one list per step."""

    def __init__(self) -> None:
        self.steps: list[list[dict[str, Any]]] = []
        self.queue: str | None = None
        self.alloc_fail = False
        self.group: Any = None

    def add(self, event: dict[str, Any]) -> None:
        if self.steps:
            self.steps[-1].append(event)


REC = Recorder()
_ORIG_ALL_REDUCE = dist.all_reduce
_ORIG_ALL_GATHER = dist.all_gather


def _op_code(op: Any) -> int:
    for code, name in ((1, "MIN"), (2, "MAX"), (3, "SUM")):
        if op == getattr(dist.ReduceOp, name):
            return code
    return 9


def sync_point(kind: int, a: int = 0, b: int = 0, c: int = 0) -> None:
    """Exchange a descriptor with every rank; raise CollectiveMismatch unless all agree."""
    mine = torch.tensor([kind, a, b, c], dtype=torch.int64)
    world = dist.get_world_size(REC.group)
    rows = [torch.zeros(4, dtype=torch.int64) for _ in range(world)]
    _ORIG_ALL_GATHER(rows, mine, group=REC.group)
    seen = [tuple(int(x) for x in r.tolist()) for r in rows]
    if any(s != seen[0] for s in seen) or any(s[0] == KIND_FAILED for s in seen):
        raise CollectiveMismatch(seen)


def recording_all_reduce(tensor: torch.Tensor, op: Any = dist.ReduceOp.SUM, group: Any = None,
                         async_op: bool = False) -> Any:
    code = _op_code(op)
    dtype = DTYPES.index(tensor.dtype) if tensor.dtype in DTYPES else 99
    sync_point(KIND_ALL_REDUCE, code, tensor.numel(), dtype)
    work = _ORIG_ALL_REDUCE(tensor, op=op, group=group, async_op=async_op)
    values = [int(v) for v in tensor.reshape(-1).tolist()]
    if code == 1:
        REC.add({"ev": "poll", "queue": REC.queue or "unknown", "result": values})
    elif code == 2:
        REC.add({"ev": "all_reduce_max", "value": values[0] if len(values) == 1 else values})
    else:
        REC.add({"ev": "all_reduce", "op": str(op), "value": values})
    return work


class _LogCapture(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if record.levelname in LOG_LEVELS:
            REC.add({"ev": "log", "level": record.levelname, "msg": record.getMessage()})


class _Scheduler:
    """What the language queues and the scheduler mixin use of the engine's ``Scheduler``."""

    def __init__(self, rank: int, tp_size: int) -> None:
        self.server_args = stubs.ServerArgs()
        self.gpu_id = 0
        self.tp_rank = rank
        self.tp_size = tp_size
        self.enable_metrics = False
        self.metrics_collector = None
        self.waiting_queue: list[Any] = []
        self.disagg_language_prealloc_queue: Any = None
        self.disagg_language_transfer_queue: Any = None

    def stream_output(self, reqs: Any, return_logprob: Any = False, *args: Any,
                      **kwargs: Any) -> None:
        del reqs, return_logprob, args, kwargs


def _wrap_allocator(allocator: Any) -> None:
    real_alloc, real_free = allocator.alloc, allocator.free

    def alloc(num_tokens: Any = None, req_id: Any = None, fake: bool = False) -> Any:
        if REC.alloc_fail and not fake:
            result = None
        else:
            result = real_alloc(num_tokens=num_tokens, req_id=req_id, fake=fake)
        ev: dict[str, Any] = {"ev": "alloc",
                              "num_tokens": None if num_tokens is None else int(num_tokens),
                              "result": None if result is None else [int(b) for b in result]}
        if fake:
            ev["fake"] = True
        REC.add(ev)
        return result

    def free(block_indices: Any = None, req_id: Any = None, fake: bool = False) -> Any:
        ev: dict[str, Any] = {"ev": "free", "blocks": None if block_indices is None
                              else [int(b) for b in block_indices]}
        if fake:
            ev["fake"] = True
        REC.add(ev)
        return real_free(block_indices=block_indices, req_id=req_id, fake=fake)

    allocator.alloc, allocator.free = alloc, free


def _tag_queue(obj: Any, method: str, tag: str) -> None:
    real = getattr(obj, method)

    def tagged(*args: Any, **kwargs: Any) -> Any:
        REC.queue = tag
        try:
            return real(*args, **kwargs)
        finally:
            REC.queue = None

    setattr(obj, method, tagged)


def _wrap_failure_handler(queue: Any) -> None:
    real = queue._handle_failed_request

    def handler(language_req: Any) -> Any:
        out = real(language_req)
        REC.add({"ev": "removed", "reason": "failed"})
        return out

    queue._handle_failed_request = handler


def _handoff(req: Any, buffers: Any, sc: dict[str, Any]) -> dict[str, Any]:
    ids = list(req.origin_input_ids or [])
    deleted = getattr(req, "ranksync_deleted_aux", None)
    if deleted is not None:
        n = int(deleted[0])
    else:
        blocks = getattr(req, "embedding_indices", None) or [0]
        n = int(buffers.aux_datas[int(blocks[0]), 0])
    mm = req.multimodal_inputs
    ok = encoding.intact(ids, req.input_embeds, mm, sc["embedding_length"], sc["hidden"],
                         sc["mrope_delta"])
    return {"ev": "handoff", "length": len(ids), "embedding_length": n,
            "mm_inputs": "none" if mm is None else "mock", "intact": ok}


def run_trace(engine: EngineModules, trace: dict[str, Any], rank: int) -> dict[str, Any]:
    """Run one trace on this rank; return its recorded events per step and how it ended."""
    sc = trace["scenario"]
    tp = int(sc["tp_size"])
    bs, pool, hidden = int(sc["block_size"]), int(sc["pool_blocks"]), int(sc["hidden"])
    room, rid = int(sc["room"]), str(sc["rid"])
    os.environ["SGLANG_EMBEDDING_DEFAULT_ALLOCATE_BUFFER_SIZE"] = str(
        int(sc["default_allocate_tokens"]))
    u, ml = engine.utils, engine.language

    REC.steps, REC.queue, REC.alloc_fail = [], None, False
    buffers = u.MultimodalDataBuffers(size=pool, block_size=bs, embedding_dim=hidden)
    initial = sc.get("initial_aux") or []
    if initial:
        for block, (a0, a1) in enumerate(initial[rank]):
            buffers.aux_datas[block, 0] = int(a0)
            buffers.aux_datas[block, 1] = int(a1)
    allocator = u.ReqToMetadataBlockAllocator(size=pool, block_size=bs)
    _wrap_allocator(allocator)
    sched = _Scheduler(rank, tp)
    scripted.ScriptedManager.instances.clear()
    prealloc = ml.MultimodalLanguagePreallocQueue(
        req_to_metadata_buffer_idx_allocator=allocator, metadata_buffers=buffers,
        tp_rank=rank, tp_size=tp, scheduler=sched,
        transfer_backend=u.TransferBackend.MOONCAKE, bootstrap_port=8998,
        gloo_group=REC.group)
    transfer = ml.MultimodalLanguageTransferQueue(
        gloo_group=REC.group, req_to_metadata_buffer_idx_allocator=allocator,
        metadata_buffers=buffers, scheduler=sched, tree_cache=None)
    _tag_queue(prealloc, "pop_preallocated", "prealloc")
    _tag_queue(transfer, "pop_transferred", "transfer")
    _wrap_failure_handler(transfer)
    sched.disagg_language_prealloc_queue = prealloc
    sched.disagg_language_transfer_queue = transfer
    if not scripted.ScriptedManager.instances:
        raise EngineSourceError("the prealloc queue did not create its connection manager")
    manager = scripted.ScriptedManager.instances[-1]
    manager.sink = REC.add
    req = stubs.Req(rid=rid, bootstrap_room=room)
    prealloc.add(req)
    iterate = ml.SchedulerDisaggregationMultiModalLanguageMixin.process_multimodal_language_queue

    ending = "completed"
    for step, (sch, exp) in enumerate(zip(trace["schedule"], trace["expected"], strict=True)):
        REC.steps.append([])
        for write in (exp.get("writes") or [[] for _ in range(tp)])[rank]:
            encoding.apply_write(buffers, write, hidden)
        for status in (exp.get("delivered") or [[] for _ in range(tp)])[rank]:
            manager.update_status(room, int(status))
        # abort requests are read by a scheduler iteration: ignored without one (trace format)
        if sch.get("abort", False) and sch.get("lang", True):
            for entry in list(prealloc.queue) + list(transfer.queue):
                if entry.req is req:
                    entry.embedding_receiver.abort()
        REC.alloc_fail = rank in (sch.get("alloc_fail") or [])
        try:
            if sch.get("lang", True):
                before = len(sched.waiting_queue)
                iterate(sched)
                for handed in sched.waiting_queue[before:]:
                    REC.add(_handoff(handed, buffers, sc))
            sync_point(KIND_STEP_END, step)
        except CollectiveMismatch:
            REC.add({"ev": "deadlock"})
            ending = "deadlock"
            break
        except Exception as e:  # noqa: BLE001 - the engine raised; report it as an event
            REC.add({"ev": "exception", "type": type(e).__name__,
                     "msg": (str(e).splitlines() or [""])[0]})
            ending = "exception"
            try:
                sync_point(KIND_FAILED)
            except CollectiveMismatch:
                pass
            break
        finally:
            REC.alloc_fail = False
    return {"steps": REC.steps, "ending": ending}


def rank_main(rank: int, world: int, port: int, engine_src: str, traces: list[dict[str, Any]],
              out_path: str, collective_timeout: float) -> None:
    """Process entry point: join the gloo group, load the engine, run every trace."""
    result: dict[str, Any]
    try:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                world_size=world,
                                timeout=timedelta(seconds=collective_timeout))
        try:
            REC.group = dist.new_group(list(range(world)), backend="gloo")
            engine = load_engine(engine_src)
            logger = logging.getLogger(engine.language.__name__)
            logger.handlers[:] = [_LogCapture()]
            logger.setLevel(logging.INFO)
            logger.propagate = False
            dist.all_reduce = recording_all_reduce  # the engine calls dist.all_reduce by name
            results = [run_trace(engine, t, rank) for t in traces]
            result = {"ok": True, "results": results}
        finally:
            dist.all_reduce = _ORIG_ALL_REDUCE
            dist.destroy_process_group()
    except EngineSourceError as e:
        result = {"ok": False, "error": str(e), "kind": "engine"}
    except Exception as e:  # noqa: BLE001 - reported to the parent, which prints one line
        result = {"ok": False, "error": f"{type(e).__name__}: {e}", "kind": "internal",
                  "traceback": traceback.format_exc()}
    with open(out_path, "w") as f:
        json.dump(result, f)
