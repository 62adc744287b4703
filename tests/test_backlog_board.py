"""The backlog board: a worker's share of the account is its part of the group's backlog,
a drained peer's part is the others' at once, and a known share holds as told."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from stream.backlog_board import (
    BacklogBoard,
    BacklogNote,
    decode,
    encode,
    keep_share,
    own_backlog,
)
from stream.concurrency import HeadroomPacer, ManualClock


def _board(wall: list[float], member: str = "a") -> BacklogBoard:
    return BacklogBoard("g", member, ttl_s=3.0, wall=lambda: wall[0])


def test_the_share_is_the_part_of_the_groups_backlog_of_live_members_of_this_group() -> None:
    wall = [100.0]
    board = _board(wall)
    assert board.share(50) is None  # nobody else has written: the partitions tell it
    board.note(BacklogNote("g", "b", 100, 99.0))
    board.note(BacklogNote("g", "c", 50, 99.5))
    board.note(BacklogNote("other-group", "d", 1000, 99.5))  # another group's account
    board.note(BacklogNote("g", "a", 1000, 99.5))  # our own note, read back
    assert board.share(50) == pytest.approx(50 / 200)
    board.note(BacklogNote("g", "b", 0, 99.8))  # b drained: its part is ours and c's
    board.note(BacklogNote("g", "b", 70, 98.0))  # an older note read late changes nothing
    assert board.share(50) == pytest.approx(0.5)
    wall[0] = 102.6  # c's note is older than 3 s: c stopped writing (crashed or left)
    assert board.share(50) == pytest.approx(1.0)
    assert board.share(0) is None  # nothing to do: no share to tell


def test_a_small_backlog_still_gets_the_floor() -> None:
    wall = [10.0]
    board = _board(wall)
    board.note(BacklogNote("g", "b", 10_000, 10.0))
    assert board.share(1) == pytest.approx(0.05)


def test_notes_round_trip_and_anything_else_is_refused() -> None:
    note = BacklogNote("g", "w-1", 42, 1.5)
    assert decode(encode(note)) == note
    negative = b'{"group":"g","member":"m","backlog":-1,"at":1}'
    for raw in (b"not json", b"[]", b'{"group": "g"}', negative):
        with pytest.raises(ValueError):
            decode(raw)


def test_own_backlog_is_the_lag_less_what_is_finished_above_the_first_unfinished() -> None:
    lag = {("t", 0): 10, ("t", 1): 5, ("t", 2): 0}
    done = {("t", 0): (100, frozenset({102, 105})), ("t", 2): (7, frozenset())}
    assert own_backlog(lag, done) == 8 + 5


class MemoryChannel:
    """Every note written, delivered to every follower (the topic, in memory)."""

    def __init__(self) -> None:
        self.written: list[BacklogNote] = []
        self._followers: list[asyncio.Queue[BacklogNote]] = []

    async def publish(self, note: BacklogNote) -> None:
        self.written.append(note)
        for queue in self._followers:
            queue.put_nowait(note)

    async def follow(self) -> AsyncIterator[BacklogNote]:
        queue: asyncio.Queue[BacklogNote] = asyncio.Queue()
        self._followers.append(queue)
        while True:
            yield await queue.get()


async def test_two_workers_share_by_backlog_and_the_last_one_busy_gets_everything() -> None:
    """A job lands: backlogs 300 and 100 give shares 3/4 and 1/4 within a poll; when
    the second drains, the first is told 1.0 at once; notes go out on change and at
    least every second."""
    clock = ManualClock()
    wall = [1000.0]
    channel = MemoryChannel()
    backlogs = {"a": 0, "b": 0}
    told: dict[str, list[float]] = {"a": [], "b": []}
    tasks = [
        asyncio.create_task(
            keep_share(
                channel,
                _board(wall, member),
                lambda m=member: backlogs[m],  # type: ignore[misc]
                told[member].append,
                clock,
            )
        )
        for member in ("a", "b")
    ]
    try:
        await clock.run_for(0.2)
        assert told == {"a": [], "b": []}  # idle: nothing to share
        backlogs.update(a=300, b=100)
        await clock.run_for(0.2)
        assert told["a"][-1] == pytest.approx(0.75) and told["b"][-1] == pytest.approx(0.25)
        backlogs["b"] = 0
        await clock.run_for(0.1)
        assert told["a"][-1] == pytest.approx(1.0)
        writes = len(channel.written)
        await clock.run_for(2.0)  # nothing changes: a heartbeat per second each
        assert 3 <= len(channel.written) - writes <= 5
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def test_a_known_share_holds_as_told_and_moves_the_refill_at_once() -> None:
    """A hint from partitions is corrected by the headers' evidence; a share the board
    told (``known``) is the share, and the bucket's refill follows it from now on."""
    clock = ManualClock()
    pacer = HeadroomPacer(clock)
    prefix = "anthropic-ratelimit-requests-"
    pacer.observe_headers({prefix + "limit": "3000", prefix + "remaining": "0"})
    bucket = pacer.bucket("requests")
    assert bucket is not None
    pacer.set_share(0.25, known=True)
    assert pacer.share == 0.25
    before = bucket.level
    clock.advance(1.0)
    assert bucket.level == pytest.approx(before + 0.25 * 50.0)
    pacer.set_share(1.0, known=True)
    clock.advance(1.0)
    assert bucket.level == pytest.approx(before + 0.25 * 50.0 + 50.0)


def test_after_an_idle_spell_a_worker_counts_only_its_part_of_a_full_bucket() -> None:
    """Three workers idle between jobs: each one's bucket refills to its third of the
    50 the server holds, not to all 50 (three full buckets' worth went out at the next
    job's start, a 429 for each request over 50)."""
    clock = ManualClock()
    pacer = HeadroomPacer(clock, wall=lambda: 1_750_000_000.0 + clock.now())
    prefix = "anthropic-ratelimit-requests-"
    # empty, and full again within 2 s (whole seconds, rounded up): a bucket of 50
    reset = "2025-06-15T15:06:42Z"  # 1_750_000_002 s
    pacer.observe_headers(
        {prefix + "limit": "3000", prefix + "remaining": "0", prefix + "reset": reset}
    )
    pacer.set_share(1 / 3, known=False)
    clock.advance(5.0)
    bucket = pacer.bucket("requests")
    assert bucket is not None and bucket.level == pytest.approx(50 / 3)


def test_a_worker_with_nothing_to_do_goes_back_to_its_partitions_share() -> None:
    """The board's share holds while the worker has a backlog; when it has none, the
    next job's split is unknown and the partition hint (k of P) is the guess again."""
    from stream.calls import Caller
    from stream.concurrency import CircuitBreaker
    from stream.config import load_settings
    from tests.fakes import ScriptedClaude

    clock = ManualClock()
    settings = load_settings(None, {})
    caller = Caller(ScriptedClaude(), settings.limits, clock, breaker=CircuitBreaker(clock))
    pacer = caller.controls_for("m").pacer
    caller.set_share_hint(2 / 6)
    caller.set_board_share(0.8)
    assert pacer.share_hint == 0.8
    caller.set_board_share(None)
    assert pacer.share_hint == pytest.approx(2 / 6)


async def test_a_small_share_of_a_small_bucket_still_lets_calls_go() -> None:
    """600 RPM held per second (10 requests) and a share of 0.15: our part of the
    bucket (1.5) is below a request and its margin. Calls still go, at our part of the
    refill (a call every ~0.7 s), instead of waiting for a level our part never reaches
    (three workers of a ``tight`` job stopped for good)."""
    clock = ManualClock()
    pacer = HeadroomPacer(clock, wall=lambda: 1_750_000_000.0 + clock.now())
    prefix = "anthropic-ratelimit-requests-"
    reset = "2025-06-15T15:06:42Z"  # full again within 2 s: a bucket of 10
    pacer.observe_headers(
        {prefix + "limit": "600", prefix + "remaining": "0", prefix + "reset": reset}
    )
    pacer.set_share(0.15, known=True)
    took = []
    for _ in range(3):
        task = asyncio.create_task(pacer.reserve(10, 10))
        while not task.done():
            await clock.run_for(0.05)
            assert clock.now() < 10.0, "the reservation never went"
        pacer.mark_sent(task.result())
        took.append(clock.now())
    assert took[-1] < 4.0
