"""Channels between the two instances (protocol.md §6, §13 "Channels").

* language -> embedding: ZMQ multipart messages (lists of ASCII frames), FIFO per sending
  language rank; the ``messages`` schedule event drains one rank's FIFO (trace-format).
* embedding -> language: status messages (room, status), FIFO per language rank, applied by
  the ``deliver`` schedule event.
* RDMA writes: byte copies into the registered destination buffers of a language rank. They
  complete before the chunk's status message is sent (§13).

A process holds the destination buffers of its *local* language ranks only (gloo backend:
one); writes to other ranks are accounted for (write records) but their bytes go nowhere.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from .buffers import MultimodalDataBuffers
from .kvpoll import KVPoll

Frames = list[str]


def session_port(lang_rank: int) -> int:
    """Transfer-engine session port of a language rank (session id ``host:port``)."""
    return 17000 + lang_rank


def manager_port(lang_rank: int) -> int:
    """Language manager PULL port of a language rank (status messages go there)."""
    return 18000 + lang_rank


LANG_IP = "127.0.0.1"


def session_id(lang_rank: int) -> str:
    return f"{LANG_IP}:{session_port(lang_rank)}"


def _session_frames(room: int, lang_rank: int, dst_indices: list[int], required: int) -> Frames:
    """The frames init and resume share (§6): room, endpoint, session, blocks, required."""
    return [
        str(room),
        LANG_IP,
        str(manager_port(lang_rank)),
        session_id(lang_rank),
        ",".join(str(b) for b in dst_indices),
        str(required),
    ]


def init_frames(
    room: int, lang_rank: int, dst_indices: list[int], required: int, allocated_tokens: int
) -> Frames:
    """§6 init: 7 frames."""
    return _session_frames(room, lang_rank, dst_indices, required) + [str(allocated_tokens)]


def resume_frames(
    room: int,
    lang_rank: int,
    dst_indices: list[int],
    required: int,
    sent_tokens: int,
    allocated_tokens: int,
) -> Frames:
    """§6 resume: 8 frames (the embedding thread tells it from init by the count)."""
    return _session_frames(room, lang_rank, dst_indices, required) + [
        str(sent_tokens),
        str(allocated_tokens),
    ]


CANCEL = "cancel"


def cancel_frames(room: int, lang_rank: int) -> Frames:
    """Design change ``cancel`` (trace-format "Designs"): room, endpoint, session, "cancel".
    Five frames; a registration also has five but its first frame is "None"."""
    return [str(room), LANG_IP, str(manager_port(lang_rank)), session_id(lang_rank), CANCEL]


def is_cancel(frames: Frames) -> bool:
    return len(frames) == 5 and frames[0] != "None" and frames[4] == CANCEL


@dataclass(frozen=True)
class CopyRequest:
    """One (src, dst, length) write of a Mooncake batch, as byte offsets into array i."""

    array_index: int
    src_offset: int
    dst_offset: int
    length: int


class Transport:
    def __init__(self, tp_size: int, data_receivers: tuple[int, ...]) -> None:
        self.tp_size = tp_size
        self.data_receivers = set(data_receivers)
        self.to_embedding: list[deque[Frames]] = [deque() for _ in range(tp_size)]
        # Messages sent during the current language phase, moved to ``to_embedding`` at its
        # end (gloo: after exchanging them between processes).
        self.outbox: list[list[Frames]] = [[] for _ in range(tp_size)]
        self.to_language: list[deque[tuple[int, KVPoll]]] = [deque() for _ in range(tp_size)]
        self.dst_buffers: dict[int, MultimodalDataBuffers] = {}
        self.step_writes: list[list[dict[str, Any]]] = [[] for _ in range(tp_size)]
        self.step_delivered: list[list[int]] = [[] for _ in range(tp_size)]

    def begin_step(self) -> None:
        self.step_writes = [[] for _ in range(self.tp_size)]
        self.step_delivered = [[] for _ in range(self.tp_size)]

    # language -> embedding
    def send_to_embedding(self, lang_rank: int, frames: Frames) -> None:
        self.outbox[lang_rank].append(frames)

    def flush_outboxes(self, gathered: list[list[Frames]] | None = None) -> None:
        """End of a language phase: sent messages become visible to the embedding side."""
        boxes = gathered if gathered is not None else self.outbox
        for r, box in enumerate(boxes):
            self.to_embedding[r].extend(list(f) for f in box)
        self.outbox = [[] for _ in range(self.tp_size)]

    # embedding -> language
    def send_status(self, lang_rank: int, room: int, status: KVPoll) -> None:
        self.to_language[lang_rank].append((room, status))

    def take_statuses(self, lang_rank: int) -> list[tuple[int, KVPoll]]:
        out = list(self.to_language[lang_rank])
        self.to_language[lang_rank].clear()
        self.step_delivered[lang_rank].extend(int(s) for _, s in out)
        return out

    # RDMA
    def delivers_data(self, lang_rank: int) -> bool:
        """Topology b: only ``receivers`` get data, the others status messages only (under
        the design change ``data_to_all`` the caller passes every rank as a receiver)."""
        return lang_rank in self.data_receivers

    def batch_transfer_sync(
        self,
        lang_rank: int,
        src: MultimodalDataBuffers,
        requests: list[CopyRequest],
        fail: bool = False,
    ) -> int:
        """One synchronous batch; returns ret (0 = ok). A failed batch lands nothing."""
        if fail:
            return -1
        if not self.delivers_data(lang_rank):
            return 0
        dst = self.dst_buffers.get(lang_rank)
        if dst is None:  # another process's rank (gloo): bytes land there, not here
            return 0
        for req in requests:
            s = src.byte_view(req.array_index)
            d = dst.byte_view(req.array_index)
            d[req.dst_offset : req.dst_offset + req.length] = s[
                req.src_offset : req.src_offset + req.length
            ]
        return 0

    def record_write(self, lang_rank: int, write: dict[str, Any]) -> None:
        self.step_writes[lang_rank].append(write)
