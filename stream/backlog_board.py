"""The group's backlog board: each worker's share of the account from everyone's backlog.

Workers of one consumer group spend one account. From the headers alone a worker sees
what the others spend only a round trip late, so a job's start (every worker ramping)
and its end (one worker drained while another still holds a partition's worth) run
below the account's rate: three workers finished a 500-document job 0.5-1 s after the
account could have. With ``limits.backlog_board`` each worker writes its backlog (the
records of its partitions not yet done) to a small topic whenever it changes and reads
everyone's; its share of the account is then its part of the group's backlog, so the
workers finish together and a drained worker's part goes to the others within a poll.
A note also carries, per model, the worker's calls in flight and its estimate of a 529
cap, from which the workers share the cap by backlog (``stream.concurrency.cap_share``).

Pure: no SDK; the Kafka side is ``stream.kafka.backlog_channel``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from stream.concurrency.cap_share import CapEstimate, PeerCap
from stream.concurrency.clock import Clock
from stream.ports import TP

__all__ = [
    "BacklogBoard",
    "BacklogChannel",
    "BacklogNote",
    "CapSharing",
    "decode",
    "encode",
    "keep_share",
    "own_backlog",
]


@dataclass(frozen=True, slots=True)
class BacklogNote:
    """One worker's backlog as it wrote it (``at``: wall-clock epoch seconds)."""

    group: str
    member: str
    backlog: int
    at: float
    models: Mapping[str, PeerCap] = field(default_factory=dict)  # calls in flight, caps


def encode(note: BacklogNote) -> bytes:
    value = {
        "group": note.group,
        "member": note.member,
        "backlog": note.backlog,
        "at": note.at,
        "models": {name: _encode_use(use) for name, use in note.models.items()},
    }
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _encode_use(use: PeerCap) -> dict[str, Any]:
    cap = use.cap
    return {"inflight": use.inflight} | (
        {} if cap is None else {"cap": cap.value, "cap_at": cap.at}
    )


def _decode_use(value: Mapping[str, Any]) -> PeerCap:
    cap = value.get("cap")
    estimate = None if cap is None else CapEstimate(int(cap), float(value["cap_at"]))
    return PeerCap(int(value["inflight"]), estimate)


def decode(raw: bytes) -> BacklogNote:
    """Raises ValueError for anything but a note (the topic is ours, but not only ours
    to write)."""
    try:
        value = json.loads(raw)
        note = BacklogNote(
            str(value["group"]),
            str(value["member"]),
            int(value["backlog"]),
            float(value["at"]),
            {str(k): _decode_use(v) for k, v in value.get("models", {}).items()},
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"not a backlog note: {exc}") from None
    if note.backlog < 0:
        raise ValueError("not a backlog note: negative backlog")
    return note


def own_backlog(lag: Mapping[TP, int], done: Mapping[TP, tuple[int, frozenset[int]]]) -> int:
    """Records of the owned partitions not yet done: ``lag`` (highwater - the first
    unfinished offset, per partition) less those finished above it (``done``, as
    ``OffsetTracker.finished_above`` gives them)."""
    return sum(max(n - len(done[tp][1]) if tp in done else n, 0) for tp, n in lag.items())


class BacklogChannel(Protocol):
    """Where the group's notes are written and read (a Kafka topic in the worker)."""

    async def publish(self, note: BacklogNote) -> None: ...

    def follow(self) -> AsyncIterator[BacklogNote]: ...


class CapSharing(Protocol):
    """The caller's side of sharing 529 caps (``stream.cap_sharing``)."""

    def uses(self) -> Mapping[str, PeerCap]:
        """Per model: this worker's calls in flight and its cap estimate, to publish."""
        ...

    def share(self, peers: Mapping[str, list[PeerCap]], share: float | None) -> None:
        """The live peers' notes per model, and this worker's backlog share."""
        ...


class BacklogBoard:
    """The latest note of every member of ``group``; notes older than ``ttl_s`` are of a
    worker that stopped writing (crashed, or left) and count for nothing."""

    def __init__(
        self,
        group: str,
        member: str,
        *,
        ttl_s: float = 3.0,
        floor: float = 0.05,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.group = group
        self.member = member
        self._ttl = ttl_s
        self._floor = floor
        self.wall = wall
        self._notes: dict[str, BacklogNote] = {}

    def note(self, note: BacklogNote) -> None:
        if note.group != self.group or note.member == self.member:
            return
        current = self._notes.get(note.member)
        if current is None or note.at >= current.at:
            self._notes[note.member] = note

    def share(self, own: int) -> float | None:
        """``own`` / the group's backlog (at least ``floor``); None when this worker has
        nothing to do or no other live member has written (then the board knows
        nothing the partition count does not)."""
        horizon = self.wall() - self._ttl
        live = [n.backlog for n in self._notes.values() if n.at >= horizon]
        if own <= 0 or not live:
            return None
        return max(own / (own + sum(live)), self._floor)

    def peer_caps(self) -> dict[str, list[PeerCap]]:
        """Per model, what each live peer's last note says of it."""
        horizon = self.wall() - self._ttl
        peers: dict[str, list[PeerCap]] = {}
        for note in self._notes.values():
            if note.at >= horizon:
                for model, use in note.models.items():
                    peers.setdefault(model, []).append(replace(use, at=note.at))
        return peers


async def keep_share(
    channel: BacklogChannel,
    board: BacklogBoard,
    backlog: Callable[[], int],
    tell: Callable[[float | None], None],
    clock: Clock,
    *,
    every_s: float = 0.05,
    heartbeat_s: float = 1.0,
    caps: CapSharing | None = None,
) -> None:
    """Until cancelled: write this worker's backlog (and with ``caps`` its models' calls
    in flight and cap estimates) when it changes by a twentieth (or to or from zero) and
    at least every ``heartbeat_s``; read the others'; after each, ``tell`` the share, or
    None when the board knows none (nothing to do, or nobody else has written), and
    give ``caps`` the peers' notes. Runs as a task the worker owns."""
    told: float | None = None

    def update(own: int) -> None:
        nonlocal told
        share = board.share(own)
        if share != told:
            told = share
            tell(share)
        if caps is not None:
            caps.share(board.peer_caps(), share)

    async def read() -> None:
        async for note in channel.follow():
            board.note(note)
            update(backlog())

    async with asyncio.TaskGroup() as group:
        group.create_task(read())
        last: int | None = None
        last_uses: Mapping[str, PeerCap] = {}
        last_at = -float("inf")
        while True:
            now = clock.now()
            own = backlog()
            uses = caps.uses() if caps is not None else {}
            changed = _worth_writing(last, own) or _uses_changed(last_uses, uses)
            if changed or now - last_at >= heartbeat_s:
                note = BacklogNote(board.group, board.member, own, board.wall(), uses)
                await channel.publish(note)
                last, last_uses, last_at = own, uses, now
            update(own)
            await clock.sleep(every_s)


def _uses_changed(last: Mapping[str, PeerCap], uses: Mapping[str, PeerCap]) -> bool:
    if last.keys() != uses.keys():
        return True
    return any(
        last[m].cap != use.cap or _worth_writing(last[m].inflight, use.inflight)
        for m, use in uses.items()
    )


def _worth_writing(last: int | None, own: int) -> bool:
    if last is None or (last == 0) != (own == 0):
        return True
    return abs(own - last) >= max(1, last / 20)
