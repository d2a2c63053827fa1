"""In-memory stand-ins for what the engine's connection layer talks to, so that its own code
(`mooncake/conn_multimodal.py`: managers, senders, receivers, `embedding_thread`,
`transfer_worker`, `send_embedding`, `language_thread`) runs inside a rank process:

* `zmq`: PUSH/PULL sockets by endpoint. A PULL socket's `recv_multipart` returns the next
  message the harness has *released* to it and raises `Drained` when there is none, which
  ends the engine thread's `while True` loop and returns control to the harness;
* `requests`: the bootstrap server's routes (embedding parallel info, rank addresses);
* `MooncakeTransferEngine`: `batch_transfer_sync` copies the bytes for real into this
  process's language buffers (its own session) and records every write (all sessions);
* `threading`: `Thread(...).start()` records the target instead of starting it; the harness
  calls `embedding_thread` / `transfer_worker` / `language_thread` when the schedule says so.

Everything routes through `CURRENT`, the bus of the trace being run. Nothing here is engine
code; names and call signatures follow protocol.md §6 and the engine's imports.
"""

from __future__ import annotations

import ctypes
import threading as _threading
import urllib.parse
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

IP = "127.0.0.1"
LANG_PORT, EMB_PORT, LANG_SESSION, EMB_SESSION = 20000, 30000, 40000, 50000
ARRAYS = 4  # embeddings, fill_ids, mrope, aux (a fifth, deepstack, is never allocated here)


class Drained(BaseException):
    """No more input for an engine thread loop (BaseException: `except Exception` in the
    engine's loops does not catch it)."""


Owner = tuple[str, int]  # ("lang", r) or ("emb", e)


@dataclass
class Write:
    rank: int  # language rank the session belongs to
    block: int
    start: int  # first source token
    count: int
    aux: list[int] | None
    garbage: bool = False  # copied from source blocks the embedding side had freed


@dataclass
class Bus:
    """The transport of one trace in one rank process."""

    local_rank: int
    tp_size: int
    emb_size: int
    room: int
    owner: Owner | None = None  # the manager being constructed
    threads: dict[Owner, dict[str, tuple[Callable[..., Any], tuple[Any, ...]]]] = field(
        default_factory=dict)
    released: dict[str, deque[list[bytes]]] = field(default_factory=dict)
    outgoing: list[tuple[str, list[bytes]]] = field(default_factory=list)  # local lang -> emb
    to_lang: dict[int, deque[list[bytes]]] = field(default_factory=dict)  # emb -> lang r
    lang_ptrs: dict[int, list[int]] = field(default_factory=dict)  # rank -> dst base pointers
    item_lens: list[int] = field(default_factory=list)  # per array, bytes of one block
    local_regions: list[tuple[int, int]] = field(default_factory=list)  # (ptr, len) local dst
    src_regions: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # e -> (ptr,len)
    src_freed: dict[int, set[int]] = field(default_factory=dict)  # e -> freed source blocks
    fail_next: set[int] = field(default_factory=set)  # e: next batch write returns 1
    writes: list[Write] = field(default_factory=list)  # this step's writes, all ranks
    sessions_served: list[int] = field(default_factory=list)  # ranks sent to in this chunk
    src_pos: dict[int, dict[int, int]] = field(default_factory=dict)  # e -> block -> position
    # (e, array, source block, nbytes) -> what a freed source block holds (another request's)
    garbage: Callable[[int, int, int, int], bytes] | None = None

    def rank_of_port(self, port: int) -> int | None:
        r = port - LANG_PORT
        return r if 0 <= r < self.tp_size else None

    def deliver_from_emb(self, endpoint: str, frames: list[bytes]) -> None:
        port = int(endpoint.rsplit(":", 1)[1])
        r = self.rank_of_port(port)
        if r is not None:
            self.to_lang.setdefault(r, deque()).append(list(frames))

    def send(self, endpoint: str, frames: list[bytes]) -> None:
        port = int(endpoint.rsplit(":", 1)[1])
        if EMB_PORT <= port < EMB_PORT + self.emb_size:
            self.outgoing.append((endpoint, list(frames)))
        else:
            self.deliver_from_emb(endpoint, frames)

    def release(self, endpoint: str, frames: list[bytes]) -> None:
        self.released.setdefault(endpoint, deque()).append(frames)

    def recv(self, endpoint: str) -> list[bytes]:
        q = self.released.get(endpoint)
        if not q:
            raise Drained(endpoint)
        return q.popleft()


CURRENT: Bus | None = None


def bus() -> Bus:
    if CURRENT is None:
        raise RuntimeError("ranksync transport used outside a trace run")
    return CURRENT


# ---- zmq -----------------------------------------------------------------------------------
class _Socket:
    def __init__(self, kind: int) -> None:
        self.kind = kind
        self.endpoint = ""

    def bind(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def connect(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def setsockopt(self, *args: Any) -> None:
        del args

    def send_multipart(self, frames: list[bytes], *args: Any, **kwargs: Any) -> None:
        del args, kwargs
        bus().send(self.endpoint, [bytes(f) for f in frames])

    def recv_multipart(self, *args: Any, **kwargs: Any) -> list[bytes]:
        del args, kwargs
        return bus().recv(self.endpoint)

    def close(self, *args: Any) -> None:
        del args


class _Context:
    def socket(self, kind: int) -> _Socket:
        return _Socket(kind)

    @classmethod
    def instance(cls) -> _Context:
        return cls()


def zmq_module() -> ModuleType:
    m = ModuleType("zmq")
    m.__dict__.update(Context=_Context, PULL=7, PUSH=8, IPV6=42, Socket=_Socket)
    return m


# ---- requests (the bootstrap server) --------------------------------------------------------
class _Response:
    def __init__(self, status: int, payload: Any = None, text: str = "") -> None:
        self.status_code = status
        self._payload = payload
        self.text = text or ("OK" if status == 200 else "not found")

    def json(self) -> Any:
        return self._payload


def _get(url: str, *args: Any, **kwargs: Any) -> _Response:
    del args, kwargs
    q = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
    b = bus()
    rank = int(q.get("engine_rank", ["-2"])[0])
    if rank == -1:
        return _Response(200, {"embedding_tp_size": b.emb_size, "embedding_dp_size": 1})
    if 0 <= rank < b.emb_size:
        return _Response(200, {"rank_ip": IP, "rank_port": EMB_PORT + rank})
    return _Response(404)


def _put(url: str, *args: Any, **kwargs: Any) -> _Response:
    del url, args, kwargs
    return _Response(200)


class _Session:
    def get(self, url: str, *args: Any, **kwargs: Any) -> _Response:
        return _get(url, *args, **kwargs)


def requests_module() -> ModuleType:
    m = ModuleType("requests")
    m.__dict__.update(get=_get, put=_put, post=_put, Session=_Session,
                      RequestException=OSError, exceptions=ModuleType("requests.exceptions"))
    return m


def aiohttp_modules() -> dict[str, ModuleType]:
    web = ModuleType("aiohttp.web")
    for name in ("Application", "Response", "Request", "AppRunner", "TCPSite", "json_response"):
        web.__dict__[name] = type(name, (), {"__init__": lambda self, *a, **k: None})
    pkg = ModuleType("aiohttp")
    pkg.__path__ = []
    pkg.__dict__["web"] = web
    return {"aiohttp": pkg, "aiohttp.web": web}


# ---- threading: record thread targets ---------------------------------------------------------
class _RecordedThread:
    def __init__(self, group: Any = None, target: Callable[..., Any] | None = None,
                 name: str | None = None, args: tuple[Any, ...] = (),
                 kwargs: dict[str, Any] | None = None, daemon: bool | None = None) -> None:
        del group, kwargs, daemon
        self.target, self.args, self.name = target, tuple(args), name

    def start(self) -> None:
        b = bus()
        if b.owner is None or self.target is None:
            return  # a thread started outside a manager constructor: never run
        key = getattr(self.target, "__name__", "thread")
        slot = b.threads.setdefault(b.owner, {})
        n = sum(1 for k in slot if k.split("#")[0] == key)
        slot[f"{key}#{n}"] = (self.target, self.args)

    def join(self, *args: Any) -> None:
        del args

    def is_alive(self) -> bool:
        return False


def threading_shim() -> ModuleType:
    """The `threading` an engine connection module sees: real locks, recorded threads."""
    m = ModuleType("threading")
    m.__dict__.update({k: getattr(_threading, k) for k in dir(_threading) if not k.startswith("__")})
    m.__dict__["Thread"] = _RecordedThread
    return m


# ---- the transfer engine --------------------------------------------------------------------
class TransferEngine:
    """`MooncakeTransferEngine`: registered regions, a session id, synchronous batch writes."""

    def __init__(self, hostname: str | None = None, gpu_id: int | None = None,
                 ib_device: str | None = None, *args: Any, **kwargs: Any) -> None:
        del hostname, gpu_id, ib_device, args, kwargs
        b = bus()
        self.owner: Owner = b.owner or ("lang", b.local_rank)
        side, i = self.owner
        self.session = f"{IP}:{(LANG_SESSION if side == 'lang' else EMB_SESSION) + i}"
        self.regions: list[tuple[int, int]] = []

    def register(self, ptr: int, length: int) -> int:
        self.regions.append((int(ptr), int(length)))
        b = bus()
        if self.owner[0] == "emb":
            b.src_regions.setdefault(self.owner[1], []).append((int(ptr), int(length)))
        return 0

    def batch_register(self, ptrs: list[int], lengths: list[int]) -> int:
        for p, n in zip(ptrs, lengths, strict=True):
            self.register(p, n)
        return 0

    def deregister(self, ptr: int) -> int:
        del ptr
        return 0

    def batch_deregister(self, ptrs: list[int]) -> int:
        del ptrs
        return 0

    def get_session_id(self) -> str:
        return self.session

    def get_localhost(self) -> str:
        return IP

    def transfer_sync(self, session_id: str, buffer: int, peer_buffer_address: int,
                      length: int) -> int:
        return self.batch_transfer_sync(session_id, [buffer], [peer_buffer_address], [length])

    def batch_transfer_sync(self, session_id: str, src_addrs: list[int], dst_addrs: list[int],
                            lengths: list[int]) -> int:
        return transfer(self, session_id, [int(x) for x in src_addrs],
                        [int(x) for x in dst_addrs], [int(x) for x in lengths])


def transfer_engine_module(name: str) -> ModuleType:
    m = ModuleType(name)
    m.__dict__["MooncakeTransferEngine"] = TransferEngine
    m.__dict__["__ranksync_stub__"] = True
    return m


def _locate(regions: list[tuple[int, int]], addr: int, item_lens: list[int]
            ) -> tuple[int, int, int] | None:
    """(array index, block, offset in block) of an address in registered regions."""
    for a, (base, n) in enumerate(regions[:ARRAYS]):
        if base <= addr < base + n:
            off = addr - base
            return a, off // item_lens[a], off % item_lens[a]
    return None


def transfer(engine: TransferEngine, session_id: str, src: list[int], dst: list[int],
             lengths: list[int]) -> int:
    """One synchronous batch write: decode it into per-block writes, copy for real into the
    local rank's buffers, poison bytes read from freed source blocks."""
    b = bus()
    e = engine.owner[1]
    if e in b.fail_next:
        b.fail_next.discard(e)
        return 1
    rank = int(session_id.rsplit(":", 1)[1]) - LANG_SESSION
    if not 0 <= rank < b.tp_size or rank not in b.lang_ptrs:
        raise RuntimeError(f"ranksync transport: write to unknown session {session_id}")
    dst_regions = [(p, n) for p, n in zip(b.lang_ptrs[rank], _sizes(b), strict=False)]
    by_block: dict[int, Write] = {}
    order: list[int] = []
    for s, d, n in zip(src, dst, lengths, strict=True):
        sl = _locate(b.src_regions.get(e, []), s, b.item_lens)
        dl = _locate(dst_regions, d, b.item_lens)
        if sl is None or dl is None or sl[0] != dl[0]:
            raise RuntimeError(f"ranksync transport: unresolvable write {s:#x} -> {d:#x}")
        arr, sblock, _ = sl
        _, dblock, _ = dl
        stale = sblock in b.src_freed.get(e, set())
        data = b.garbage(e, arr, sblock, n) if (stale and b.garbage and arr != 3) \
            else ctypes.string_at(s, n)
        if rank == b.local_rank:
            _check_local(b, d, n)
            ctypes.memmove(d, data, n)
        w = by_block.get(dblock)
        if w is None:
            pos = b.src_pos.get(e, {}).get(sblock, 0)
            w = by_block[dblock] = Write(rank, dblock, pos * (b.item_lens[1] // 4), 0, None,
                                         stale)
            order.append(dblock)
        if arr == 1:  # fill ids (int32): the token count
            w.count = n // 4
        elif arr == 3:  # the aux row: [L, delta, ...]
            w.aux = [int.from_bytes(data[i:i + 4], "little", signed=True) for i in (0, 4)]
    b.writes.extend(by_block[k] for k in order)
    b.sessions_served.append(rank)
    return 0


def _sizes(b: Bus) -> list[int]:
    return [n for _p, n in b.local_regions]


def _check_local(b: Bus, addr: int, n: int) -> None:
    if not any(p <= addr and addr + n <= p + m for p, m in b.local_regions):
        raise RuntimeError(f"ranksync transport: write outside the language buffers at {addr:#x}")
