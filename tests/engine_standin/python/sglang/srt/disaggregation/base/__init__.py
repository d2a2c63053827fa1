"""Stand-in for the engine's ``disaggregation.base`` package (written from protocol.md)."""

from sglang.srt.disaggregation.base.conn import (
    BaseKVBootstrapServer,
    BaseKVManager,
    BaseKVReceiver,
    BaseKVSender,
    KVArgs,
    KVPoll,
)

__all__ = ["BaseKVBootstrapServer", "BaseKVManager", "BaseKVReceiver", "BaseKVSender",
           "KVArgs", "KVPoll"]
