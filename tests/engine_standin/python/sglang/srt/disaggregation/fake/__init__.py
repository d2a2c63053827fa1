"""Stand-in for the engine's ``disaggregation.fake`` package."""

from sglang.srt.disaggregation.fake.conn import FakeKVReceiver, FakeKVSender

__all__ = ["FakeKVReceiver", "FakeKVSender"]
