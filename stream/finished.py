"""Offsets finished above the committed one, remembered so a restart does not redo them.

Records that finish above an unfinished one cannot be committed. Confluent's Parallel
Consumer encodes them in the commit metadata; the embedded broker (Tansu) accepts commit
metadata but returns it empty, so docstream keeps them where every broker keeps data: a
compacted topic, one record per (group, topic, partition), latest wins. Opt-in with
``processing.skip_finished``.

Safety: an offset is written here only after its result or DLQ record was acknowledged,
so skipping it never loses an output. A state whose position lies above the first offset
fetched after an assignment (the group's offsets were reset backwards, or the topic was
recreated) is ignored: those records are processed again, as asked.

Pure: no SDK; the Kafka side is ``stream.kafka.finished_store``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from stream.ports import TP

__all__ = ["FinishedAbove", "FinishedKeeper", "FinishedLedger", "SkipList", "decode", "encode"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FinishedAbove:
    """At the time of writing: the committable position and the finished offsets above it."""

    position: int
    offsets: frozenset[int]


class FinishedLedger(Protocol):
    async def load(self, tps: Sequence[TP]) -> dict[TP, FinishedAbove]: ...
    async def save(self, states: dict[TP, FinishedAbove]) -> bool: ...


def encode(state: FinishedAbove) -> bytes:
    """``{"position": p, "ranges": [[first, last], ...]}``: runs of offsets stay small."""
    ranges: list[list[int]] = []
    for offset in sorted(state.offsets):
        if ranges and ranges[-1][1] == offset - 1:
            ranges[-1][1] = offset
        else:
            ranges.append([offset, offset])
    return json.dumps({"position": state.position, "ranges": ranges}).encode()


def decode(value: bytes) -> FinishedAbove:
    """Raises ValueError (or KeyError/TypeError) on a record this module did not write."""
    data = json.loads(value)
    offsets = {o for first, last in data["ranges"] for o in range(int(first), int(last) + 1)}
    return FinishedAbove(int(data["position"]), frozenset(offsets))


class SkipList:
    """The loaded states, checked against each partition's first fetched offset."""

    def __init__(self) -> None:
        self._loaded: dict[TP, FinishedAbove] = {}
        self._skip: dict[TP, set[int]] = {}

    def arm(self, tp: TP, state: FinishedAbove) -> None:
        self._loaded[tp] = state
        self._skip.pop(tp, None)

    def drop(self, tp: TP) -> None:
        self._loaded.pop(tp, None)
        self._skip.pop(tp, None)

    def finished(self, tp: TP, offset: int) -> bool:
        """True if ``offset`` already has its output; call for every fetched offset in order."""
        state = self._loaded.pop(tp, None)
        if state is not None:
            if offset < state.position:
                log.info(
                    "%s: fetching from %d, below the remembered position %d (offsets reset?); "
                    "remembered finished offsets ignored",
                    tp,
                    offset,
                    state.position,
                )
            else:
                self._skip[tp] = {o for o in state.offsets if o >= offset}
        skip = self._skip.get(tp)
        if not skip or offset not in skip:
            return False
        skip.discard(offset)
        return True


class FinishedKeeper:
    """The processor's side: load at assignment, skip at dispatch, save after commits.
    Without a ledger every call is a no-op.

    Loading runs beside the poll loop, not inside the rebalance callback (aiokafka may
    hand out records of a partition before that callback returns); records of a
    partition still ``loading`` wait, undispatched."""

    def __init__(self, ledger: FinishedLedger | None) -> None:
        self._ledger = ledger
        self._skip = SkipList()
        self._saved: dict[TP, FinishedAbove] = {}
        self._loading: set[TP] = set()

    def begin(self, tps: Sequence[TP]) -> bool:
        """Mark ``tps`` as loading; False when there is nothing to load (no ledger)."""
        if self._ledger is None:
            return False
        self._loading.update(tps)
        return True

    def loading(self, tp: TP) -> bool:
        return tp in self._loading

    async def load(self, tps: Sequence[TP]) -> None:
        """Arm the skip list with the saved states of ``tps``; they stop loading either way."""
        try:
            if self._ledger is not None:
                for tp, state in (await self._ledger.load(tps)).items():
                    self._skip.arm(tp, state)
                    self._saved[tp] = state
        finally:
            self._loading.difference_update(tps)

    def revoked(self, tps: Sequence[TP]) -> None:
        for tp in tps:
            self._loading.discard(tp)
            self._skip.drop(tp)
            self._saved.pop(tp, None)

    def finished(self, tp: TP, offset: int) -> bool:
        return self._ledger is not None and self._skip.finished(tp, offset)

    async def save(self, current: dict[TP, tuple[int, frozenset[int]]]) -> None:
        """Write the partitions whose finished offsets changed (an empty set clears one)."""
        if self._ledger is None:
            return
        changed = {}
        for tp, (position, done) in current.items():
            state = FinishedAbove(position, done)
            if state != self._saved.get(tp) and (done or tp in self._saved):
                changed[tp] = state
        if changed and await self._ledger.save(changed):
            self._saved.update(changed)
