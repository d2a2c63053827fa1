"""Status values and the per-room status store (protocol.md §3, §3.1)."""

from __future__ import annotations

from enum import IntEnum


class KVPoll(IntEnum):
    """protocol.md §3: integer constants, reduced as uint8 by the MIN all-reduce."""

    Failed = 0
    Bootstrapping = 1
    WaitingForInput = 2
    Transferring = 3
    Success = 4


def update_status(request_status: dict[int, KVPoll], room: int, status: KVPoll) -> None:
    """protocol.md §3.1: absent -> store; Failed -> Failed; otherwise max(old, new).

    Note the consequence the protocol relies on: a status never decreases except to
    Failed, and anything but Failed may *raise* a Failed room again (max(0, s) = s).
    """
    if room not in request_status:
        request_status[room] = KVPoll(status)
    elif status == KVPoll.Failed:
        request_status[room] = KVPoll.Failed
    else:
        request_status[room] = KVPoll(max(request_status[room], status))
