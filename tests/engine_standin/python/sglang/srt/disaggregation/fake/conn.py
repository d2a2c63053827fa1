"""Stand-in: warm-up receiver and sender (protocol.md §8.3 table, §11)."""

from __future__ import annotations

from typing import Any

from sglang.srt.disaggregation.base.conn import BaseKVReceiver, BaseKVSender, KVPoll


class FakeKVReceiver(BaseKVReceiver):
    """WaitingForInput until ``init`` has run, then Success."""

    def __init__(self, mgr: Any = None, bootstrap_addr: str = "", bootstrap_room: Any = None,
                 prefill_dp_rank: Any = None) -> None:
        self.initialised = False

    def init(self, kv_indices: Any = None, aux_index: Any = None,
             embedding_indices: Any = None) -> None:
        self.initialised = True

    def poll(self) -> int:
        return KVPoll.Success if self.initialised else KVPoll.WaitingForInput

    def failure_exception(self) -> None:
        raise Exception("Fake KVReceiver Exception")


class FakeKVSender(BaseKVSender):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sent = False

    def send_embedding(self, *args: Any, **kwargs: Any) -> None:
        self.sent = True

    def poll(self) -> int:
        return KVPoll.Success if self.sent else KVPoll.WaitingForInput

    def failure_exception(self) -> None:
        raise Exception("Fake KVSender Exception")
