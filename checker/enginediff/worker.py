"""One language TP rank: runs traces on the engine's real code, records what it did.

Runs in its own OS process (started by :mod:`.driver`), joined to a gloo group with the other
ranks. Per trace it builds fresh engine objects: the real ``MultimodalDataBuffers``,
``ReqToMetadataBlockAllocator``, ``MultimodalLanguagePreallocQueue`` and
``MultimodalLanguageTransferQueue``; every iteration calls the engine's own
``process_multimodal_language_queue``.

The connection layer, per trace (``mode``):

* ``driven``: the engine's own ``mooncake/conn_multimodal.py`` on both sides over the
  in-memory transport (transport.py, embedding_side.py). The language ranks' messages are
  exchanged at the end of every step so every process runs the same embedding side;
* ``scripted``: the scripted receiver (scripted.py); the trace's ``writes`` and
  ``delivered`` are applied instead of an embedding side (topology b, or a commit whose
  connection module does not load: the loader says why).

Collective alignment: every ``all_reduce`` the engine issues, and the end of every step, is
preceded by an exchange of a small descriptor (kind, op, size, dtype) among the ranks. If the
descriptors differ, the ranks' collective sequences differ: every rank records
``{"ev": "deadlock"}`` and the trace ends there, instead of hanging or mis-matching in gloo.
"""

from __future__ import annotations

import json
import os
import traceback
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from . import encoding, scripted, seams, stubs, transport
from .embedding_side import EmbeddingSide
from .loader import EngineModules, EngineSourceError, load_engine

KIND_ALL_REDUCE = 1
KIND_STEP_END = 2
KIND_FAILED = 3
KIND_SETUP = 4
GATHER_VALUES = 64  # all-reduces of at most this many integers travel in the descriptor
DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float32,
          torch.float64, torch.bfloat16, torch.float16, torch.bool)


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


def sync_point(kind: int, a: int = 0, b: int = 0, c: int = 0, agree: int = 4) -> list[int]:
    """Exchange a descriptor with every rank; raise CollectiveMismatch unless the first
    `agree` fields are equal everywhere. Returns the ranks' last fields."""
    mine = torch.zeros(4 + GATHER_VALUES, dtype=torch.int64)  # one size for every exchange
    mine[:4] = torch.tensor([kind, a, b, c], dtype=torch.int64)
    world = dist.get_world_size(REC.group)
    rows = [torch.zeros_like(mine) for _ in range(world)]
    _ORIG_ALL_GATHER(rows, mine, group=REC.group)
    seen = [tuple(int(x) for x in r[:4].tolist()) for r in rows]
    if any(s[:agree] != seen[0][:agree] for s in seen) or any(s[0] == KIND_FAILED for s in seen):
        raise CollectiveMismatch(seen)
    return [s[3] for s in seen]


def exchange(kind: int, step: int, payload: bytes) -> list[bytes]:
    """A step boundary: align the ranks and gather every rank's payload (one all_gather when
    no rank has anything to send)."""
    lens = sync_point(kind, step, 0, len(payload), agree=3)
    if max(lens) == 0:
        return [b""] * len(lens)
    buf = torch.zeros(max(lens), dtype=torch.uint8)
    if payload:
        buf[: len(payload)] = torch.frombuffer(bytearray(payload), dtype=torch.uint8)
    rows = [torch.zeros(max(lens), dtype=torch.uint8) for _ in lens]
    _ORIG_ALL_GATHER(rows, buf, group=REC.group)
    return [bytes(r[:n].tolist()) for r, n in zip(rows, lens, strict=True)]


def _gathered_reduce(tensor: torch.Tensor, code: int, dtype: int) -> bool:
    """An integer MIN/MAX/SUM as one all_gather of (descriptor, values), reduced locally:
    the alignment check and the collective in one round trip. False if not applicable."""
    n = tensor.numel()
    if code not in (1, 2, 3) or n > GATHER_VALUES or tensor.dtype.is_floating_point \
            or tensor.dtype == torch.bool:
        return False
    mine = torch.zeros(4 + GATHER_VALUES, dtype=torch.int64)
    mine[:4] = torch.tensor([KIND_ALL_REDUCE, code, n, dtype])
    mine[4:4 + n] = tensor.reshape(-1).to(torch.int64)
    world = dist.get_world_size(REC.group)
    rows = [torch.zeros_like(mine) for _ in range(world)]
    _ORIG_ALL_GATHER(rows, mine, group=REC.group)
    heads = [tuple(int(x) for x in r[:4].tolist()) for r in rows]
    if any(h != heads[0] for h in heads) or heads[0][0] != KIND_ALL_REDUCE:
        raise CollectiveMismatch(heads)
    vals = torch.stack([r[4:4 + n] for r in rows])
    red = vals.min(0).values if code == 1 else vals.max(0).values if code == 2 else vals.sum(0)
    tensor.copy_(red.reshape(tensor.shape).to(tensor.dtype))
    return True


def recording_all_reduce(tensor: torch.Tensor, op: Any = dist.ReduceOp.SUM, group: Any = None,
                         async_op: bool = False) -> Any:
    code = _op_code(op)
    dtype = DTYPES.index(tensor.dtype) if tensor.dtype in DTYPES else 99
    work = None
    if async_op or not _gathered_reduce(tensor, code, dtype):
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


class _Scheduler:
    """What the language queues and the scheduler mixin use of the engine's ``Scheduler``."""

    def __init__(self, rank: int, tp_size: int) -> None:
        self.server_args = stubs.ServerArgs(tp_size=tp_size, dp_size=1,
                                            disaggregation_bootstrap_port=8998)
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


class Others:
    """The other live requests of trace version 2 (docs/trace-format.md): the blocks they hold
    at the start (`initial_held`), their `others_free` / `others_alloc`, and what they leave
    in the blocks they took (`taken`), through the real allocator's own alloc/free (not the
    request's calls: not trace events)."""

    def __init__(self, allocator: Any, sc: dict[str, Any], rank: int, bs: int) -> None:
        self.allocator, self.alloc, self.free = allocator, allocator.alloc, allocator.free
        self.rank, self.bs = rank, bs
        held = sc.get("initial_held")
        self.held: list[int] = [int(b) for b in held[rank]] if held else []
        free = sc.get("initial_free")
        if free is not None or self.held:  # free list [initial_free], the rest held
            self.alloc(num_tokens=int(sc["pool_blocks"]) * bs, req_id="ranksync-others")
            self.free(block_indices=[int(b) for b in free[rank]] if free is not None else
                      [b for b in range(int(sc["pool_blocks"])) if b not in self.held],
                      req_id="ranksync-others")

    def act(self, sch: dict[str, Any], exp: dict[str, Any], buffers: Any, hidden: int) -> None:
        if self.rank in (sch.get("others_free") or []) and self.held:
            self.free(block_indices=[self.held.pop(0)], req_id="ranksync-others")
        n = int(self.allocator.available_size())
        if self.rank in (sch.get("others_alloc") or []) and n > 0:
            self.held += [int(b) for b in self.alloc(num_tokens=n * self.bs,
                                                     req_id="ranksync-others") or []]
        for t in (exp.get("taken") or [])[self.rank:self.rank + 1]:
            for x in t:
                encoding.write_ids(buffers, int(x["block"]),
                                   [int(c) for c in x["content"]][:self.bs], hidden)
                encoding.set_aux(buffers, int(x["block"]), x["aux"])


def _set_queue(tag: str | None) -> None:
    REC.queue = tag


def _wire_events(frames: list[bytes]) -> dict[str, Any] | None:
    """init / resume as sent on the wire (protocol.md §6): 7 frames init, 8 frames resume."""
    if not frames or frames[0] == b"None" or len(frames) < 7:
        return None
    blocks = [int(x) for x in frames[4].decode().split(",") if x]
    if len(frames) >= 8:
        return {"ev": "resume", "blocks": blocks, "sent_tokens": int(frames[6]),
                "allocated_tokens": int(frames[7])}
    return {"ev": "init", "blocks": blocks, "allocated_tokens": int(frames[6])}


class _Bus(transport.Bus):
    """The transport bus; sends of the local language rank are also trace events."""

    def send(self, endpoint: str, frames: list[bytes]) -> None:
        super().send(endpoint, frames)
        port = int(endpoint.rsplit(":", 1)[1])
        if transport.EMB_PORT <= port < transport.EMB_PORT + self.emb_size:
            ev = _wire_events(frames)
            if ev is not None:
                REC.add(ev)


def _exchange_messages(bus: transport.Bus, side: EmbeddingSide, kind: int, step: int) -> None:
    out = [[ep, [f.hex() for f in frames]] for ep, frames in bus.outgoing]
    bus.outgoing = []
    got = exchange(kind, step, json.dumps(out).encode() if out else b"")
    for r, raw in enumerate(got):
        msgs = json.loads(raw) if raw else []
        side.absorb(r, [(ep, [bytes.fromhex(f) for f in fr]) for ep, fr in msgs])


def _phase(req: Any, prealloc: Any, transfer: Any, sched: _Scheduler, failed: bool) -> str:
    if any(x.req is req for x in prealloc.queue):
        return "prealloc"
    if any(x.req is req for x in transfer.queue):
        return "transfer"
    return "handed off" if req in sched.waiting_queue else "removed" if failed else "gone"


def _indices(req: Any, transfer: Any) -> Any:
    entry = next((x for x in transfer.queue if x.req is req), None)
    return entry.embedding_indices if entry is not None else getattr(req, "embedding_indices",
                                                                      None)


def run_trace(engine: EngineModules, trace: dict[str, Any], rank: int, mode: str
              ) -> dict[str, Any]:
    """Run one trace on this rank; return its recorded events per step and how it ended."""
    sc = trace["scenario"]
    tp, ep = int(sc["tp_size"]), int(sc.get("embedding_tp_size", sc["tp_size"]))
    bs, pool, hidden = int(sc["block_size"]), int(sc["pool_blocks"]), int(sc["hidden"])
    room, rid, L = int(sc["room"]), str(sc["rid"]), int(sc["embedding_length"])
    os.environ["SGLANG_EMBEDDING_DEFAULT_ALLOCATE_BUFFER_SIZE"] = str(
        int(sc["default_allocate_tokens"]))
    u, ml = engine.utils, engine.language
    driven = mode == "driven"
    engine.use_connection(driven)

    REC.steps, REC.queue, REC.alloc_fail = [[]], None, False
    bus = _Bus(local_rank=rank, tp_size=tp, emb_size=ep, room=room)
    transport.CURRENT = bus
    buffers = u.MultimodalDataBuffers(size=pool, block_size=bs, embedding_dim=hidden)
    for block, slots in enumerate((sc.get("initial_content") or [[]] * tp)[rank]):
        encoding.write_ids(buffers, block, [int(c) for c in slots][:bs], hidden)
    for block, (a0, a1) in enumerate((sc.get("initial_aux") or [[]] * tp)[rank]):
        buffers.aux_datas[block, 0] = int(a0)
        buffers.aux_datas[block, 1] = int(a1)
    ptrs, lens, items = buffers.get_buf_infos()
    bus.local_regions = list(zip(ptrs[:4], lens[:4], strict=True))
    bus.item_lens = [int(x) for x in items[:4]]
    side = EmbeddingSide(engine, engine.connection, bus, sc) if driven else None
    SIDE[:] = [side] if side is not None else []
    allocator = u.ReqToMetadataBlockAllocator(size=pool, block_size=bs)
    others = Others(allocator, sc, rank, bs)  # before the wrappers: not the request's calls
    seams.wrap_allocator(allocator, REC.add, lambda: REC.alloc_fail)
    seams.wrap_get_buf(buffers, REC.add)
    sched = _Scheduler(rank, tp)
    scripted.ScriptedManager.instances.clear()
    bus.owner = ("lang", rank)
    try:
        prealloc = ml.MultimodalLanguagePreallocQueue(
            req_to_metadata_buffer_idx_allocator=allocator, metadata_buffers=buffers,
            tp_rank=rank, tp_size=tp, scheduler=sched,
            transfer_backend=u.TransferBackend.MOONCAKE, bootstrap_port=8998,
            gloo_group=REC.group)
    finally:
        bus.owner = None
    transfer = ml.MultimodalLanguageTransferQueue(
        gloo_group=REC.group, req_to_metadata_buffer_idx_allocator=allocator,
        metadata_buffers=buffers, scheduler=sched, tree_cache=None)
    seams.tag_queue(prealloc, "pop_preallocated", _set_queue, "prealloc")
    seams.tag_queue(transfer, "pop_transferred", _set_queue, "transfer")
    seams.wrap_failure_handler(transfer, REC.add)
    sched.disagg_language_prealloc_queue = prealloc
    sched.disagg_language_transfer_queue = transfer
    manager: Any = None
    if not driven:
        if not scripted.ScriptedManager.instances:
            raise EngineSourceError("the prealloc queue did not create its connection manager")
        manager = scripted.ScriptedManager.instances[-1]
        manager.sink = REC.add
    # the tokenizer's request: its L input ids (the ids the embedding side's fill ids carry)
    req = stubs.Req(rid=rid, bootstrap_room=room,
                    origin_input_ids=encoding.source_ids(0, L).tolist())
    prealloc.add(req)
    if side is not None:  # bootstrap handshake done before step 0 (trace-format.md)
        _exchange_messages(bus, side, KIND_SETUP, -1)
        for r in range(tp):
            side.messages(r)
        side.events.clear()
    iterate = ml.SchedulerDisaggregationMultiModalLanguageMixin.process_multimodal_language_queue

    REC.steps = []
    envs: list[dict[str, Any]] = []
    ending, failed = "completed", False
    for step, (sch, exp) in enumerate(zip(trace["schedule"], trace["expected"], strict=True)):
        REC.steps.append([])
        if side is not None:
            env = _env_phase(side, bus, sch, rank, tp, int(trace["version"]))
        else:
            env = {"writes": exp.get("writes") or [[] for _ in range(tp)],
                   "delivered": exp.get("delivered") or [[] for _ in range(tp)]}
            for write in env["writes"][rank]:
                encoding.apply_write(buffers, write, hidden)
            for status in env["delivered"][rank]:
                manager.update_status(room, int(status))
        envs.append(env)
        others.act(sch, exp, buffers, hidden)
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
                    for ev in seams.handoff(handed, buffers, sc, int(trace["version"])):
                        REC.add(ev)
            failed = failed or any(e.get("ev") == "removed" for e in REC.steps[-1])
            REC.add(seams.snapshot(allocator, _phase(req, prealloc, transfer, sched, failed),
                                   _indices(req, transfer), others.held))
            if side is not None:
                _exchange_messages(bus, side, KIND_STEP_END, step)
            else:
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
    transport.CURRENT = None
    return {"steps": REC.steps, "ending": ending, "env": envs, "mode": mode}


SIDE: list[EmbeddingSide] = []  # the embedding side of the trace being run


def _emb_log(event: dict[str, Any]) -> None:
    if SIDE:
        SIDE[0].events.append(dict(event, ev="emb_log", emb=SIDE[0].current))


def _env_phase(side: EmbeddingSide, bus: transport.Bus, sch: dict[str, Any], rank: int,
               tp: int, version: int) -> dict[str, Any]:
    """The schedule's environment events on the engine's connection code (trace-format.md
    order), and what they did to every language rank."""
    side.events = []
    bus.writes = []
    for r in sch.get("messages") or []:
        side.messages(r)
    enabled = side.encode_enabled()
    fired = side.encode() if sch.get("encode", False) else False
    fail = set(sch.get("chunk_fail") or [])
    for e in sch.get("chunks") or []:
        side.chunk(e, e in fail)
    if sch.get("emb_finish", False):
        side.emb_finish()
    delivered: list[list[int]] = [[] for _ in range(tp)]
    for r in sch.get("deliver") or []:
        frames = side.statuses_for(r)
        delivered[r] = [int(f[1]) for f in frames]
        if r == rank:
            ep = f"tcp://{transport.IP}:{transport.LANG_PORT + rank}"
            for f in frames:
                bus.release(ep, f)
            side.run_thread(*side._thread(("lang", rank), "language_thread#0"))
    writes: list[list[dict[str, Any]]] = [[] for _ in range(tp)]
    for w in bus.writes:  # in the trace's version (1: garbage is a null start)
        writes[w.rank].append({"block": w.block, "start": w.start, "count": w.count,
                               "aux": w.aux, "garbage": w.garbage} if version >= 2 else
                              {"block": w.block, "start": None if w.garbage else w.start,
                               "count": w.count, "aux": w.aux})
    return {"writes": writes, "delivered": delivered, "emb": side.events, "encode_fired": fired,
            "encode_enabled": enabled,
            "awaiting": list(side.awaiting), "pending_resumes": side.pending_resumes(),
            "src_alive": side.inflight, "src_frees": side.src_frees}


def rank_main(rank: int, world: int, port: int, engine_src: str,
              traces: list[tuple[dict[str, Any], str]], out_path: str,
              collective_timeout: float) -> None:
    """Process entry point: join the gloo group, load the engine, run every trace."""
    result: dict[str, Any]
    try:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                world_size=world,
                                # also the rendezvous: spawning T processes on a loaded
                                # machine can take long; hangs are the driver's deadline's job
                                timeout=timedelta(seconds=max(collective_timeout, 300.0)))
        try:
            REC.group = dist.new_group(list(range(world)), backend="gloo")
            # one shard queue and worker per embedding manager: with one request only the
            # room's shard is ever used, so this changes nothing but the shard index
            os.environ["SGLANG_DISAGGREGATION_QUEUE_SIZE"] = "1"
            os.environ["SGLANG_DISAGGREGATION_THREAD_POOL_SIZE"] = "1"
            engine = load_engine(engine_src)
            seams.capture_logger(engine.language.__name__, lambda: REC.add)
            if engine.connection is not None:  # the connection layer's lines: env events
                seams.capture_logger(engine.connection.__name__, lambda: _emb_log)
            dist.all_reduce = recording_all_reduce  # the engine calls dist.all_reduce by name
            results = [run_trace(engine, t, rank, mode) for t, mode in traces]
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
