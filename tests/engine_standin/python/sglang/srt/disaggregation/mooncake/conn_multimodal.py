"""Stand-in for the connection layer (protocol.md §3.1, §3.2, §4, §6, §7), for CI.

Written from protocol.md, not from the engine: the same classes, constructor and method
signatures, threads and transport calls (zmq sockets, the bootstrap server over HTTP, the
transfer engine's batch writes), so the ranksync harness drives it as it drives the engine.
"""

from __future__ import annotations

import dataclasses
import logging
import struct
import threading
from typing import Any

import requests
import zmq
from sglang.srt.disaggregation.base.conn import (
    BaseKVManager,
    BaseKVReceiver,
    BaseKVSender,
    KVPoll,
)
from sglang.srt.disaggregation.common.utils import FastQueue
from sglang.srt.disaggregation.mooncake.transfer_engine import MooncakeTransferEngine
from sglang.srt.disaggregation.standin_config import BUG
from sglang.srt.disaggregation.utils import DisaggregationMode
from sglang.srt.utils import get_free_port, get_int_env_var, get_local_ip_by_remote

logger = logging.getLogger(__name__)
UNKNOWN = "Failed due to an unknown reason from another rank"


class EmbeddingTransferError(Exception):
    def __init__(self, bootstrap_room: int, failure_reason: str) -> None:
        super().__init__(failure_reason)
        self.bootstrap_room, self.failure_reason = bootstrap_room, failure_reason

    def __str__(self) -> str:
        return f"EmbeddingTransferError(bootstrap_room={self.bootstrap_room}): {self.failure_reason}"


@dataclasses.dataclass
class TransferEmbeddingChunk:
    room: int
    embedding_indices: list[int]
    is_last: bool
    total_tokens: int


@dataclasses.dataclass
class TransferEmbeddingInfo:  # §7.2
    room: int
    endpoint: str
    dst_port: int
    session: str
    dst: list[int]
    required: int
    sent_tokens: int = 0
    allocated_tokens: int = 0
    src: list[int] | None = None
    total_tokens: int = 0


def _ints(frame: bytes) -> list[int]:
    return [int(x) for x in frame.decode().split(",") if x]


class MooncakeEmbeddingManager(BaseKVManager):
    def __init__(self, args: Any, disaggregation_mode: Any, server_args: Any) -> None:
        self.data_args, self.mode = args, disaggregation_mode
        self.engine = MooncakeTransferEngine(hostname=get_local_ip_by_remote(), gpu_id=0)
        for ptr, n in zip(args.aux_data_ptrs, args.aux_data_lens, strict=True):
            self.engine.register(ptr, n)
        self.request_status: dict[int, int] = {}
        self.failure_records: dict[int, str] = {}
        self.bootstrap_port = server_args.disaggregation_bootstrap_port
        self.tp_size, self.dp_size = server_args.tp_size, server_args.dp_size
        self.rank_port = get_free_port()
        self.server_socket = zmq.Context().socket(zmq.PULL)
        self.server_socket.bind(f"tcp://{get_local_ip_by_remote()}:{self.rank_port}")
        self.sockets: dict[str, Any] = {}
        if disaggregation_mode == DisaggregationMode.ENCODE:
            self.transfer_infos: dict[int, dict[str, TransferEmbeddingInfo]] = {}
            self.dst_ptrs: dict[str, list[int]] = {}
            self.failed_sessions: set[str] = set()
            requests.put(f"http://{get_local_ip_by_remote()}:{self.bootstrap_port}/route",
                         json={"role": "Encode", "engine_rank": args.engine_rank,
                               "rank_port": self.rank_port})
            n = get_int_env_var("SGLANG_DISAGGREGATION_QUEUE_SIZE", 4)
            self.transfer_queues = [FastQueue() for _ in range(n)]
            threading.Thread(target=self.embedding_thread, daemon=True).start()
            for q in self.transfer_queues:
                threading.Thread(target=self.transfer_worker, args=(q,), daemon=True).start()
        else:
            self.embedding_tp_size: int | None = None
            threading.Thread(target=self.language_thread, daemon=True).start()

    # -- shared -----------------------------------------------------------------------------
    def update_status(self, room: int, status: int) -> None:  # §3.1
        old = self.request_status.get(room)
        self.request_status[room] = status if old is None or status == KVPoll.Failed \
            else max(old, status)

    def check_status(self, room: int) -> int:
        return self.request_status[room]

    def record_failure(self, room: int, reason: str) -> None:
        self.failure_records[room] = reason

    def get_session_id(self) -> str:
        return self.engine.get_session_id()

    def _send(self, endpoint: str, frames: list[bytes]) -> None:
        if endpoint not in self.sockets:
            self.sockets[endpoint] = zmq.Context().socket(zmq.PUSH)
            self.sockets[endpoint].connect(endpoint)
        self.sockets[endpoint].send_multipart(frames)

    # -- embedding side (§7) --------------------------------------------------------------------
    def embedding_thread(self) -> None:  # §7.4
        while True:
            f = self.server_socket.recv_multipart()
            session = f[3].decode()
            if f[0] == b"None":
                self.dst_ptrs[session] = list(struct.unpack(f"{len(f[4]) // 8}Q", f[4]))
                self.failed_sessions.discard(session)
                continue
            room = int(f[0])
            if len(f) >= 8:  # resume
                info = self.transfer_infos.get(room, {}).get(session)
                if info is None:
                    logger.error(f"Cannot resume: room={room} session={session} not found in "
                                 f"transfer_infos")
                    continue
                info.sent_tokens, info.allocated_tokens = int(f[6]), int(f[7])
                if BUG != "stale_dst":
                    info.dst = _ints(f[4])
                logger.info(f"Resume transfer for room={room}, sent_tokens={info.sent_tokens}, "
                            f"allocated_tokens={info.allocated_tokens}")
                if info.src is not None and info.total_tokens > 0:
                    self._queue(room).put(TransferEmbeddingChunk(room, info.src, True,
                                                                 info.total_tokens))
                continue
            infos = self.transfer_infos.setdefault(room, {})
            infos[session] = TransferEmbeddingInfo(room, f[1].decode(), int(f[2]), session,
                                                   _ints(f[4]), int(f[5]), 0, int(f[6]))
            if len(infos) == int(f[5]):
                self.update_status(room, KVPoll.WaitingForInput)

    def _queue(self, room: int) -> Any:
        ports = sum(int(s.split(":")[1]) for s in self.transfer_infos[room])
        return self.transfer_queues[ports % len(self.transfer_queues)]

    def add_transfer_request(self, room: int, indices: list[int], is_last: bool, total: int,
                             block_size: int) -> None:  # §7.1
        if self.request_status.get(room, KVPoll.Failed) == KVPoll.Failed:
            return
        if room not in self.transfer_infos:
            return  # a rank without sessions for the room
        if self.check_status(room) in (KVPoll.Transferring, KVPoll.Success):
            return
        self._queue(room).put(TransferEmbeddingChunk(room, indices, is_last, total))

    def send_embedding(self, session: str, src: list[int], dst_ptrs: list[int], dst: list[int],
                       total: int, bs: int, sent: int, allocated: int) -> tuple[int, bool]:
        remaining = total - sent  # §7.3 step 3
        partial = remaining > allocated
        tokens = allocated if partial else remaining
        if partial:
            logger.warning(f"Partial transfer: remaining={remaining} > allocated={allocated}. "
                           f"Will transfer {allocated} tokens.")
        need = -(-tokens // bs)
        if need > len(dst):
            raise ValueError(f"Insufficient dst blocks: need {need} blocks for {tokens} tokens, "
                             f"but only have {len(dst)} blocks")
        first = sent // bs
        srcs, dsts, lens = [], [], []
        items = self.data_args.aux_item_lens
        for i, (s, d) in enumerate(zip(src[first:first + need], dst[:need], strict=False)):
            t = min(bs, tokens - i * bs)
            for a in range(4):
                if a == 3 and not (sent == 0 and i == 0):
                    continue
                n = items[a] if a == 3 else items[a] * t // bs
                srcs.append(self.data_args.aux_data_ptrs[a] + s * items[a])
                dsts.append(dst_ptrs[a] + d * items[a])
                lens.append(n)
        return self.engine.batch_transfer_sync(session, srcs, dsts, lens), partial

    def transfer_worker(self, queue: Any) -> None:  # §7.3
        while True:
            try:
                chunk = queue.get()
                done = []
                bs = self.data_args.aux_item_lens[1] // 4
                for info in list(self.transfer_infos.get(chunk.room, {}).values()):
                    if info.session in self.failed_sessions:
                        self._fail(chunk.room, info)
                        break
                    if info.src is None:
                        info.src, info.total_tokens = chunk.embedding_indices, chunk.total_tokens
                    ret, partial = self.send_embedding(
                        info.session, chunk.embedding_indices, self.dst_ptrs[info.session],
                        info.dst, chunk.total_tokens, bs, info.sent_tokens,
                        info.allocated_tokens)
                    if ret != 0:
                        self.failed_sessions.add(info.session)
                        logger.error(f"Session {info.session} failed.")
                        self._fail(chunk.room, info)
                        break
                    info.sent_tokens += min(chunk.total_tokens - info.sent_tokens,
                                            info.allocated_tokens)
                    done.append(info)
                    if len(done) == info.required:
                        status = KVPoll.Transferring if partial else KVPoll.Success
                        self.update_status(chunk.room, status)
                        for x in done:
                            self._status(x, status)
                if self.request_status.get(chunk.room, KVPoll.Success) == KVPoll.Success:
                    self.transfer_infos.pop(chunk.room, None)
            except Exception as e:
                raise RuntimeError(f"Transfer thread failed because of {e}. Embedding instance "
                                   f"with bootstrap_port={self.bootstrap_port} is dead.") from e

    def _fail(self, room: int, info: TransferEmbeddingInfo) -> None:
        self.record_failure(room, f"Failed to send embedding chunk of {room} to "
                                  f"{info.endpoint}:{info.dst_port}")
        self.update_status(room, KVPoll.Failed)
        self._status(info, KVPoll.Failed)

    def _status(self, info: TransferEmbeddingInfo, status: int) -> None:
        self._send(f"tcp://{info.endpoint}:{info.dst_port}",
                   [str(info.room).encode(), str(int(status)).encode()])

    # -- language side (§3.2) -------------------------------------------------------------------
    def language_thread(self) -> None:
        while True:
            room_b, status_b = self.server_socket.recv_multipart()
            room, status = int(room_b), int(status_b)
            if status == KVPoll.Failed:
                self.record_failure(room, "Failed to get embedding data from embedding "
                                          "instance, it might be dead")
            self.update_status(room, status)


def _latched_poll(x: Any) -> int:
    """§3.2: the latched state, else the room's status (Success and Failed latch)."""
    if x.conclude_state is None:
        status = x.mgr.check_status(x.room)
        if status in (KVPoll.Success, KVPoll.Failed):
            x.conclude_state = status
        return int(status)
    return int(x.conclude_state)


class MooncakeEmbeddingSender(BaseKVSender):
    def __init__(self, mgr: MooncakeEmbeddingManager, bootstrap_addr: str, bootstrap_room: int,
                 dest_tp_ranks: list[int], pp_rank: int) -> None:
        self.mgr, self.room, self.conclude_state = mgr, bootstrap_room, None
        mgr.update_status(bootstrap_room, KVPoll.Bootstrapping)
        self.embedding_indices: list[int] | None = None

    def init(self, embedding_indices: list[int] | None = None) -> None:
        self.embedding_indices = embedding_indices

    def send_embedding(self, embedding_indices: list[int] | None = None, last_chunk: bool = True,
                       total_tokens: int | None = None, block_size: int | None = None) -> None:
        self.mgr.add_transfer_request(self.room, embedding_indices or [], last_chunk,
                                      int(total_tokens or 0), int(block_size or 0))

    def poll(self) -> int:
        return _latched_poll(self)

    def clear(self) -> None:
        self.mgr.request_status.pop(self.room, None)
        self.mgr.transfer_infos.pop(self.room, None)

    def failure_exception(self) -> None:
        self.clear()
        if self.conclude_state is None:
            self.conclude_state = KVPoll.Failed
        raise EmbeddingTransferError(self.room, self.mgr.failure_records.pop(self.room, UNKNOWN))


class MooncakeEmbeddingReceiver(BaseKVReceiver):
    def __init__(self, mgr: MooncakeEmbeddingManager, bootstrap_addr: str,
                 bootstrap_room: int | None = None, prefill_dp_rank: int | None = None) -> None:
        self.mgr, self.room, self.addr = mgr, int(bootstrap_room or 0), bootstrap_addr
        self.session_id, self.conclude_state = mgr.get_session_id(), None
        mgr.update_status(self.room, KVPoll.Bootstrapping)
        info = requests.get(f"http://{bootstrap_addr}/route?engine_rank=-1&target_dp_group=-1")
        E = int(info.json()["embedding_tp_size"])
        T, r = mgr.tp_size // mgr.dp_size, mgr.data_args.engine_rank
        target = r % T if T <= E else r % E  # §4
        self.required = 1 if T <= E else T // E
        where = requests.get(f"http://{bootstrap_addr}/route?engine_rank={target}"
                             f"&target_dp_group=0").json()
        self.endpoint = f"tcp://{where['rank_ip']}:{where['rank_port']}"
        ptrs = b"".join(struct.pack("Q", p) for p in mgr.data_args.aux_data_ptrs)
        self._send([b"None", get_local_ip_by_remote().encode(), str(mgr.rank_port).encode(),
                    self.session_id.encode(), ptrs])
        mgr.update_status(self.room, KVPoll.WaitingForInput)

    def _send(self, frames: list[bytes]) -> None:
        self.mgr._send(self.endpoint, frames)

    def _head(self) -> list[bytes]:
        return [str(self.room).encode(), get_local_ip_by_remote().encode(),
                str(self.mgr.rank_port).encode(), self.session_id.encode()]

    def init(self, embedding_indices: list[int] | None = None,
             allocated_tokens: int | None = None) -> None:
        blocks = ",".join(str(b) for b in embedding_indices or [])
        self._send([*self._head(), blocks.encode(), str(self.required).encode(),
                    str(allocated_tokens).encode()])

    def resume_transfer(self, embedding_indices: list[int], sent_tokens: int,
                        allocated_tokens: int) -> None:
        blocks = ",".join(str(b) for b in embedding_indices)
        self._send([*self._head(), blocks.encode(), str(self.required).encode(),
                    str(sent_tokens).encode(), str(allocated_tokens).encode()])

    def poll(self) -> int:
        return _latched_poll(self)

    def failure_exception(self) -> None:
        self.mgr.request_status.pop(self.room, None)
        if self.conclude_state is None:
            self.conclude_state = KVPoll.Failed
        raise EmbeddingTransferError(self.room, self.mgr.failure_records.pop(self.room, UNKNOWN))

    def abort(self) -> None:
        self.mgr.record_failure(self.room, "Aborted by AbortReq.")
        self.conclude_state = KVPoll.Failed


class MooncakeEmbeddingBootstrapServer:
    def __init__(self, host: str = "", port: int = 0) -> None:
        del host, port
