"""One run of a scenario: the environment phase of each step (docs/trace-format.md
"Schedule") and the per-rank language iterations, shared by both backends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .collectives import CollectiveGroup
from .content import leave_block, read_block_ids
from .embedding import EmbeddingSide
from .events import Event
from .language import LanguageRank
from .source import SourceData
from .trace import Scenario, Step, TakenBlock
from .transport import Transport
from .variants import Variant


class Simulation:
    """The whole embedding side (every process simulates it identically) plus the language
    ranks in ``local_ranks`` (in-process backend: all; gloo backend: one per process)."""

    def __init__(
        self,
        scenario: Scenario,
        variant: Variant,
        groups: dict[int, CollectiveGroup],
    ) -> None:
        self.scenario = scenario
        self.source = SourceData(scenario.embedding_length, scenario.hidden, scenario.mrope_delta)
        # data_to_all: every rank's sender writes data, ``receivers`` is ignored.
        receivers = tuple(range(scenario.tp_size)) if variant.data_to_all else scenario.receivers
        self.transport = Transport(scenario.tp_size, receivers)
        self.embedding = EmbeddingSide(scenario, self.transport, self.source, variant)
        self.step_taken: dict[int, list[dict[str, Any]]] = {}
        self.lang: dict[int, LanguageRank] = {
            r: LanguageRank(r, scenario, variant, self.transport, self.source, g) for r, g in sorted(groups.items())
        }

    def env_phase(self, step: Step, taken: Mapping[int, tuple[TakenBlock, ...]] | None = None) -> None:
        """Environment events, in the contract's order. ``taken``: the expected step's
        ``taken`` per rank (what other requests leave in the blocks they take)."""
        self.transport.begin_step()
        self.step_taken = {r: [] for r in self.lang}
        for rank in self.lang.values():
            rank.recorder.begin_step()
        for r in step.messages:
            self.embedding.process_messages(r)
        if step.encode:
            self.embedding.encode()
        for e in step.chunks:
            self.embedding.process_chunk(e, fail=e in step.chunk_fail)
        if step.emb_finish:
            self.embedding.emb_finish()
        for r in step.deliver:
            statuses = self.transport.take_statuses(r)  # accounted on every process
            if r in self.lang:
                for room, status in statuses:
                    self.lang[r].deliver(room, status)
        for r in step.others_free:
            if r in self.lang:
                self.lang[r].allocator.others_free()
        for r in step.others_alloc:
            if r in self.lang:
                self.step_taken[r] = self._others_alloc(self.lang[r], (taken or {}).get(r, ()))
        if step.abort and step.lang:  # abort requests are read by the scheduler iteration
            for lr in self.lang.values():
                lr.abort()

    @staticmethod
    def _others_alloc(rank: LanguageRank, leaves: tuple[TakenBlock, ...]) -> list[dict[str, Any]]:
        """Other requests take every free block of ``rank`` and leave in each what ``leaves``
        says (matched by block id, in order; a block it does not list keeps its contents).
        Returns the ``taken`` entries as found in the blocks."""
        pending = list(leaves)
        out: list[dict[str, Any]] = []
        for block in rank.allocator.others_alloc():
            match = next((x for x in pending if x.block == block), None)
            if match is not None:
                pending.remove(match)
                leave_block(rank.buffers, block, match.content, match.aux)
            aux = rank.buffers.aux_datas[block]
            out.append({"block": block, "content": read_block_ids(rank.buffers, block), "aux": [int(aux[0]), int(aux[1])]})
        return out

    def events(self, rank: int) -> list[Event]:
        return list(self.lang[rank].recorder.events)

    def writes(self, rank: int) -> list[dict[str, Any]]:
        return list(self.transport.step_writes[rank])

    def delivered(self, rank: int) -> list[int]:
        return list(self.transport.step_delivered[rank])

    def taken(self, rank: int) -> list[dict[str, Any]]:
        return list(self.step_taken.get(rank, []))
