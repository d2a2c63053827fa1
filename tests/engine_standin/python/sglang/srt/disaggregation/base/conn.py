"""Stand-in: status values (protocol.md §3) and the connection base classes."""

from __future__ import annotations

from abc import ABC

from sglang.srt.server_args import ServerArgs  # noqa: F401 - same dependency as the engine


class KVPoll:
    Failed = 0
    Bootstrapping = 1
    WaitingForInput = 2
    Transferring = 3
    Success = 4


class KVArgs:
    """Bag of buffer descriptions handed to a connection manager."""


class BaseKVManager(ABC):  # noqa: B024 - interface marker only
    pass


class BaseKVSender(ABC):  # noqa: B024
    pass


class BaseKVReceiver(ABC):  # noqa: B024
    pass


class BaseKVBootstrapServer(ABC):  # noqa: B024
    pass
