"""The embedding side, run on the engine's own connection code, inside every rank process.

Every language rank process builds the same E embedding ranks (replicas): the engine's real
`MooncakeEmbeddingManager` in ENCODE mode with the real `MultimodalDataBuffers` and
`ReqToMetadataBlockAllocator` as source, and a real `MooncakeEmbeddingSender` per rank. The
language ranks' messages are exchanged at the end of every step (worker.py), so every replica
processes the same messages in the same order and stays identical; only the writes into the
process's own language rank are copied for real (transport.py), the others are recorded.

The schedule's environment events (docs/trace-format.md) call the engine's threads:
`messages` -> its `embedding_thread` drains the released messages; `chunks` -> one
`transfer_worker` runs exactly one chunk of the room's shard queue; `deliver` -> the language
manager's `language_thread` drains the statuses. What the embedding *scheduler* does
(`encode`: allocate source blocks, `set_buf`, `send_embedding`; `emb_finish`: MIN of the
senders' polls, `clear()` and free) is scripted from protocol.md §7.1.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import torch

from . import encoding, stubs, transport
from .transport import Bus, Drained

FAILED, BOOTSTRAPPING, WAITING, TRANSFERRING, SUCCESS = 0, 1, 2, 3, 4


class _EmbReq:
    """The embedding scheduler's request as `set_buf` reads it (protocol.md §5.1)."""

    def __init__(self, sc: dict[str, Any], indices: list[int]) -> None:
        L, h = int(sc["embedding_length"]), int(sc["hidden"])
        self.rid, self.bootstrap_room = str(sc["rid"]), int(sc["room"])
        self.embedding = encoding.source_embeddings(0, L, h).to(torch.bfloat16)
        self.fill_ids = encoding.source_ids(0, L).tolist()
        self.origin_input_ids = list(self.fill_ids)
        self.multimodal_inputs = stubs.MultimodalInputs()
        self.multimodal_inputs.mrope_positions = encoding.source_mrope(0, L)
        self.multimodal_inputs.mrope_position_delta = torch.tensor([[int(sc["mrope_delta"])]])
        self.embedding_indices = indices


class EmbeddingSide:
    def __init__(self, engine: Any, conn: Any, bus: Bus, sc: dict[str, Any]) -> None:
        self.u, self.conn, self.bus, self.sc = engine.utils, conn, bus, sc
        self.E, self.T = bus.emb_size, bus.tp_size
        bs, L, hidden = int(sc["block_size"]), int(sc["embedding_length"]), int(sc["hidden"])
        self.n_src = -(-L // bs)
        self.room = int(sc["room"])
        self.buffers, self.allocs, self.mgrs, self.senders = [], [], [], []
        self.src_indices: list[list[int]] = [[] for _ in range(self.E)]
        bus.garbage = self.garbage
        for e in range(self.E):
            buf = self.u.MultimodalDataBuffers(size=self.n_src, block_size=bs,
                                               embedding_dim=hidden)
            args = engine.base.KVArgs()
            args.engine_rank = e
            args.aux_data_ptrs, args.aux_data_lens, args.aux_item_lens = buf.get_buf_infos()
            args.ib_device, args.gpu_id = None, 0
            server_args = stubs.ServerArgs(tp_size=self.E, dp_size=1,
                                           disaggregation_mode="encode")
            bus.owner = ("emb", e)
            try:
                mgr = conn.MooncakeEmbeddingManager(args, self.u.DisaggregationMode.ENCODE,
                                                    server_args)
                sender = conn.MooncakeEmbeddingSender(
                    mgr, f"{transport.IP}:8998", self.room, [e], 0)
            finally:
                bus.owner = None
            self.buffers.append(buf)
            self.allocs.append(self.u.ReqToMetadataBlockAllocator(size=self.n_src,
                                                                  block_size=bs))
            self.mgrs.append(mgr)
            self.senders.append(sender)
        self.queues = [self._shards(e) for e in range(self.E)]
        self.dead: set[tuple[int, int]] = set()  # (e, shard) whose worker thread died
        self.pending: list[deque[tuple[str, list[bytes]]]] = [deque() for _ in range(self.T)]
        self.awaiting = [False] * self.T  # a processed resume whose chunk has not run yet
        self.encoded = self.inflight = False
        self.src_frees = 0
        self.events: list[dict[str, Any]] = []
        self.current: int | None = None  # the embedding rank acting (tags its log lines)

    def garbage(self, e: int, arr: int, block: int, n: int) -> bytes:
        """What a freed source block holds when a late chunk copies it: the garbage content
        ids of its tokens (docs/trace-format.md), laid out as `set_buf` lays out a block."""
        bs, L = int(self.sc["block_size"]), int(self.sc["embedding_length"])
        pos = self.bus.src_pos.get(e, {}).get(block, 0)
        t = max(0, min(bs, L - pos * bs))
        raw = encoding.block_bytes(arr, encoding.garbage_ids(pos * bs, t), int(self.sc["hidden"]),
                                   (self.buffers[e].input_embeddings.dtype,))
        return (raw + bytes(n))[:n]

    # -- plumbing ---------------------------------------------------------------------------
    def _thread(self, owner: transport.Owner, name: str) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        slot = self.bus.threads.get(owner, {})
        if name not in slot:
            raise RuntimeError(f"the engine's {owner[0]} manager {owner[1]} started no {name} "
                               f"thread (has: {', '.join(slot) or 'none'})")
        return slot[name]

    def _shards(self, e: int) -> list[tuple[Any, Callable[..., Any], tuple[Any, ...]]]:
        """(queue, worker, args) per transfer_worker thread of manager e; queues counted."""
        out = []
        for key, (fn, args) in sorted(self.bus.threads.get(("emb", e), {}).items()):
            if key.split("#")[0] != "transfer_worker" or not args:
                continue
            q = args[0]
            _count_queue(q, self)
            out.append((q, fn, args))
        if not out:
            raise RuntimeError(f"the engine's embedding manager {e} started no transfer_worker")
        return out

    def run_thread(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        except Drained:
            pass

    # -- setup and message exchange ---------------------------------------------------------
    def absorb(self, rank: int, messages: list[tuple[str, list[bytes]]]) -> None:
        """Messages language rank `rank` sent in the last step, in order."""
        for endpoint, frames in messages:
            if frames and frames[0] == b"None" and len(frames) >= 5:  # registration
                n = len(frames[4]) // 8
                self.bus.lang_ptrs[rank] = [int.from_bytes(frames[4][8 * i:8 * i + 8], "little")
                                            for i in range(n)]
            self.pending[rank].append((endpoint, frames))

    # -- the schedule's environment events ---------------------------------------------------
    def messages(self, r: int) -> None:
        """`messages`: the embedding thread of r's embedding rank drains r's messages."""
        for endpoint, frames in list(self.pending[r]):
            self.pending[r].popleft()
            e = int(endpoint.rsplit(":", 1)[1]) - transport.EMB_PORT
            kind = "register" if frames[0] == b"None" else "resume" if len(frames) >= 8 \
                else "init"
            before = self.puts
            self.current = e
            self.bus.release(endpoint, frames)
            self.run_thread(*self._thread(("emb", e), "embedding_thread#0"))
            queued = self.puts - before
            if kind == "resume" and queued:
                self.awaiting[r] = True
            self.events.append({"ev": "msg", "rank": r, "emb": e, "kind": kind,
                                "queued": queued})

    puts = 0  # chunks queued on any shard (counted by the queue wrappers)

    def encode_enabled(self) -> bool:
        """The embedding scheduler would encode now: not yet done and every sender is past
        Bootstrapping (the rooms' status, read without polling: polls latch)."""
        if self.encoded:
            return False
        st = [int(m.check_status(self.room)) for m in self.mgrs]
        return min(st) not in (BOOTSTRAPPING, FAILED)

    def encode(self) -> bool:
        """§7.1: once no sender is Bootstrapping (or Failed), allocate source blocks,
        `set_buf`, `send_embedding`. Returns whether it fired."""
        if self.encoded:
            return False
        polls = [int(s.poll()) for s in self.senders]
        if min(polls) in (BOOTSTRAPPING, FAILED):
            self.events.append({"ev": "encode", "fired": False, "polls": polls})
            return False
        L, bs = int(self.sc["embedding_length"]), int(self.sc["block_size"])
        for e in range(self.E):
            self.current = e
            idx = self.allocs[e].alloc(num_tokens=L, req_id=str(self.sc["rid"]))
            if idx is None:
                raise RuntimeError("source allocation failed (pool sized for the request)")
            self.src_indices[e] = [int(b) for b in idx]
            self.bus.src_pos[e] = {b: i for i, b in enumerate(self.src_indices[e])}
            self.senders[e].init(embedding_indices=self.src_indices[e])
            self.buffers[e].set_buf(_EmbReq(self.sc, self.src_indices[e]))
            self.senders[e].send_embedding(embedding_indices=self.src_indices[e],
                                           last_chunk=True, total_tokens=L, block_size=bs)
        self.encoded = self.inflight = True
        self.events.append({"ev": "encode", "fired": True, "polls": polls})
        return True

    def chunk(self, e: int, fail: bool) -> None:
        """`chunks`: embedding rank e's worker processes the oldest chunk of a shard."""
        for i, (q, fn, args) in enumerate(self.queues[e]):
            if q.ranksync_items <= 0 or (e, i) in self.dead:
                continue
            if fail:
                self.bus.fail_next.add(e)
            self.current = e
            q.ranksync_credit = 1
            self.bus.sessions_served = []
            try:
                self.run_thread(fn, args)
                died = ""
            except Exception as ex:  # noqa: BLE001 - the worker thread ends (§7.3 step 8)
                self.dead.add((e, i))
                died = f"{type(ex).__name__}: {(str(ex).splitlines() or [''])[0]}"
            self.bus.fail_next.discard(e)
            for r in self.bus.sessions_served:
                self.awaiting[r] = False
            self.events.append({"ev": "chunk", "emb": e, "shard": i,
                                "sessions": list(self.bus.sessions_served), "died": died})
            return
        self.events.append({"ev": "chunk", "emb": e, "shard": None, "sessions": [], "died": ""})

    def emb_finish(self) -> None:
        """§7.1 step 4: MIN of the senders' polls; Success/Failed -> clear() and free."""
        if not self.inflight:
            return
        polls = [int(s.poll()) for s in self.senders]
        status = min(polls)
        if status not in (SUCCESS, FAILED):
            return
        for e, s in enumerate(self.senders):
            if status == SUCCESS:
                s.clear()
            else:
                try:
                    s.failure_exception()
                except Exception:  # noqa: BLE001,S110 - it raises by design (§8.6)
                    pass
            self.allocs[e].free(block_indices=self.src_indices[e], req_id=str(self.sc["rid"]))
            self.bus.src_freed.setdefault(e, set()).update(self.src_indices[e])
        self.inflight = False
        self.src_frees += 1
        self.events.append({"ev": "src_free", "status": status})

    def statuses_for(self, r: int) -> list[list[bytes]]:
        q = self.bus.to_lang.get(r)
        out = list(q) if q else []
        if q:
            q.clear()
        return out

    def pending_resumes(self) -> list[int]:
        return [sum(1 for _e, f in self.pending[r] if len(f) >= 8) for r in range(self.T)]


def _count_queue(q: Any, side: EmbeddingSide) -> None:
    """Wrap a shard queue's put/get: count items; `get` hands out one granted item, then
    raises Drained so the worker loop returns to the harness."""
    if getattr(q, "ranksync_wrapped", False):
        return
    real_put, real_get = q.put, q.get
    q.ranksync_items, q.ranksync_credit, q.ranksync_wrapped = 0, 0, True

    def put(item: Any, *args: Any, **kwargs: Any) -> Any:
        q.ranksync_items += 1
        side.puts += 1
        return real_put(item, *args, **kwargs)

    def get(*args: Any, **kwargs: Any) -> Any:
        if q.ranksync_credit <= 0 or q.ranksync_items <= 0:
            raise Drained("shard queue")
        q.ranksync_credit -= 1
        q.ranksync_items -= 1
        return real_get(*args, **kwargs)

    q.put, q.get = put, get
