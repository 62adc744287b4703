"""Replay mechanics on the real broker, with DLQ records written in the worker's format.

Filters, dry runs, positions per filter set, interruption, max replays, limit, the
``until`` cut-off and pacing. The worker is not involved here (see
test_replay_simulator.py for the loop through it).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from stream.concurrency import ManualClock
from stream.config import Settings
from stream.dlq.filters import ReplayFilters, TimeBound
from stream.dlq.replay import ReplayError, ReplayProgress, replay, replay_group
from stream.kafka.group import committed_offsets
from stream.kafka.replay_source import ReaderError
from tests.dlq.helpers import (
    header,
    letter_record,
    put_dlq,
    read_all,
    replay_counts,
    replay_once,
    replayed_records,
    sources,
)
from tests.fixtures.broker import SettingsFactory

pytestmark = pytest.mark.kafka

NOW = datetime.now(UTC).replace(microsecond=0)


async def _mixed_dlq(settings: Settings) -> None:
    """Six DLQ records that differ in one header each."""
    topic = settings.kafka.topics.input
    hour = timedelta(hours=1)
    await put_dlq(
        settings,
        [
            letter_record("r1", original_topic=topic, failed_at=NOW - 5 * hour),
            letter_record("r2", original_topic=topic, key=b"key-r2", failed_at=NOW - 3 * hour),
            letter_record(
                "p1", original_topic=topic, outcome="bad_request", error_class="prompt_too_long"
            ),
            letter_record(
                "e1", original_topic=topic, outcome="retries_exhausted", error_class="api_error"
            ),
            letter_record("c1", original_topic=topic, stage="classify"),
            letter_record(
                "j1",
                original_topic=topic,
                outcome="bad_input",
                error_class="invalid_json",
                stage=None,
                model=None,
                value=b"{not json",
            ),
        ],
    )


async def _dry_ids(settings: Settings, filters: ReplayFilters) -> set[str]:
    summary = await replay_once(settings, filters, dry_run=True)
    return {item.document_id or "" for item in summary.dry_run}


async def test_replay_each_filter_selects_only_what_it_names(
    settings_factory: SettingsFactory,
) -> None:
    """Dry runs per filter list exactly the records that filter describes."""
    settings = settings_factory()
    await _mixed_dlq(settings)
    expected = {
        ReplayFilters(): {"r1", "r2", "p1", "e1", "c1", "j1"},
        ReplayFilters(outcomes=("refused",)): {"r1", "r2", "c1"},
        ReplayFilters(outcomes=("bad_input", "retries_exhausted")): {"j1", "e1"},
        ReplayFilters(error_classes=("prompt_too_long",)): {"p1"},
        ReplayFilters(stages=("classify",)): {"c1"},
        ReplayFilters(keys=("key-r2",)): {"r2"},
        ReplayFilters(ids=("r2", "j1")): {"r2", "j1"},
        ReplayFilters(since=TimeBound.parse("4h")): {"r2", "p1", "e1", "c1", "j1"},
        ReplayFilters(outcomes=("refused",), since=TimeBound.parse("4h")): {"r2", "c1"},
    }
    for filters, ids in expected.items():
        assert await _dry_ids(settings, filters) == ids, filters.describe()
    limited = await replay_once(settings, ReplayFilters(limit=2), dry_run=True)
    assert (len(limited.dry_run), limited.limit_reached) == (2, True)


async def test_replay_dry_run_sends_nothing_and_commits_nothing(
    settings_factory: SettingsFactory,
) -> None:
    """A dry run leaves the target empty and the group without a position."""
    settings = settings_factory()
    await _mixed_dlq(settings)

    dry = await replay_once(settings, dry_run=True)

    assert (dry.mode, len(dry.dry_run), dry.replayed) == ("dry_run", 6, 0)
    assert await read_all(settings, settings.kafka.topics.input) == []
    group = replay_group(settings.kafka.group_id, ReplayFilters())
    assert await committed_offsets(settings.kafka, group, settings.kafka.topics.dlq) == {}
    real = await replay_once(settings)
    assert real.replayed == 6


async def test_replay_filter_sets_keep_separate_positions(
    settings_factory: SettingsFactory,
) -> None:
    """A filtered run does not use up other records: each filter set has its own group."""
    settings = settings_factory()
    await _mixed_dlq(settings)
    refused = ReplayFilters(outcomes=("refused",))

    first = await replay_once(settings, refused)
    again = await replay_once(settings, refused)
    everything = await replay_once(settings)

    assert (first.replayed, first.filtered_out, again.replayed) == (3, 3, 0)
    assert first.group != everything.group
    assert everything.replayed == 6  # overlapping sets replay their common records once each
    replayed = await replayed_records(settings)
    assert sorted(sources(replayed).values()) == [1, 1, 1, 2, 2, 2]


async def test_replay_interrupted_then_rerun_sends_each_record_once(
    settings_factory: SettingsFactory,
) -> None:
    """Cancel after K sends; what was acknowledged is committed; the rerun sends the rest."""
    settings = settings_factory()
    topic = settings.kafka.topics.input
    await put_dlq(settings, [letter_record(f"d{i}", original_topic=topic) for i in range(12)])
    k = 5
    seen: list[ReplayProgress] = []

    def cancel_after_k(progress: ReplayProgress) -> None:
        seen.append(progress)
        if progress.examined == k and not task.cancelling():
            task.cancel()  # once, like one Ctrl-C

    task = asyncio.create_task(
        replay(
            settings,
            ReplayFilters(),
            to=None,
            dry_run=False,
            rate=20.0,  # after the burst each send waits on the bucket: where it cancels
            force=False,
            group=None,
            on_progress=cancel_after_k,
            clock=ManualClock(auto_advance=True),  # the bucket never refills by itself
        )
    )
    with pytest.raises(asyncio.CancelledError):
        await task
    after_cancel = await replayed_records(settings)
    rerun = await replay_once(settings)

    assert seen[0].total == 12
    assert len(after_cancel) == k
    assert rerun.replayed == 12 - k
    assert sorted(sources(await replayed_records(settings)).values()) == [1] * 12


async def test_replay_max_replays_skipped_unless_forced(
    settings_factory: SettingsFactory,
) -> None:
    """At processing.max_replays a record is skipped and reported; --force replays it."""
    settings = settings_factory({"processing.max_replays": 2})
    topic = settings.kafka.topics.input
    await put_dlq(
        settings,
        [letter_record(f"n{n}", original_topic=topic, replay_count=n) for n in range(4)],
    )

    normal = await replay_once(settings)
    same_lane_forced = await replay_once(settings, force=True)
    picked = await replay_once(settings, ReplayFilters(ids=("n3",)), force=True)

    assert (normal.replayed, normal.skipped_max_replays) == (2, 2)
    assert sorted(i.document_id or "" for i in normal.skipped) == ["n2", "n3"]
    assert same_lane_forced.replayed == 0  # the lane's position is past the skipped records
    assert (picked.replayed, picked.filtered_out) == (1, 3)
    assert replay_counts(await replayed_records(settings)) == [1, 2, 4]


async def test_replay_force_first_run_replays_records_at_the_limit(
    settings_factory: SettingsFactory,
) -> None:
    """With --force nothing is skipped; counts keep rising past max_replays."""
    settings = settings_factory({"processing.max_replays": 0})
    topic = settings.kafka.topics.input
    await put_dlq(settings, [letter_record("a", original_topic=topic, replay_count=5)])

    skipped = await replay_once(settings, dry_run=True)
    forced = await replay_once(settings, force=True)

    assert (len(skipped.dry_run), skipped.skipped_max_replays) == (0, 1)
    assert (forced.replayed, forced.skipped_max_replays) == (1, 0)
    assert replay_counts(await replayed_records(settings)) == [6]


async def test_replay_limit_stops_early_and_next_run_continues(
    settings_factory: SettingsFactory,
) -> None:
    """--limit N sends N; the position stops there, so the next run sends the rest."""
    settings = settings_factory()
    topic = settings.kafka.topics.input
    await put_dlq(settings, [letter_record(f"d{i}", original_topic=topic) for i in range(7)])

    first = await replay_once(settings, ReplayFilters(limit=3))
    second = await replay_once(settings, ReplayFilters(limit=3))
    third = await replay_once(settings, ReplayFilters(limit=3))

    assert [r.replayed for r in (first, second, third)] == [3, 3, 1]
    assert (first.limit_reached, third.limit_reached) == (True, False)
    assert sorted(sources(await replayed_records(settings)).values()) == [1] * 7


async def test_replay_relative_until_defers_newer_records_until_they_qualify(
    settings_factory: SettingsFactory,
) -> None:
    """A record newer than --until stops its partition; a later run of the lane takes it."""
    settings = settings_factory()
    topic = settings.kafka.topics.input
    t0 = NOW - timedelta(hours=10)
    await put_dlq(
        settings,
        [
            letter_record("old-1", original_topic=topic, failed_at=t0),
            letter_record("new", original_topic=topic, failed_at=t0 + timedelta(hours=3)),
            letter_record("old-2", original_topic=topic, failed_at=t0 + timedelta(minutes=1)),
        ],
        partition=0,
    )
    until = ReplayFilters(until=TimeBound.parse("1h"))

    early = await replay(
        settings, until, to=None, dry_run=False, rate=None, force=False, group=None,
        now=lambda: t0 + timedelta(hours=2),
    )  # fmt: skip
    later = await replay(
        settings, until, to=None, dry_run=False, rate=None, force=False, group=None,
        now=lambda: t0 + timedelta(hours=5),
    )  # fmt: skip

    assert (early.replayed, early.deferred_partitions) == (1, (0,))
    assert (later.replayed, later.deferred_partitions) == (2, ())
    ids = [header(r, "docstream.replay.from") for r in await replayed_records(settings)]
    assert len(ids) == len(set(ids)) == 3


async def test_replay_rate_paces_sends_on_the_injected_clock(
    settings_factory: SettingsFactory,
) -> None:
    """5 documents at 4/s (burst 1) wait 4 x 0.25 s on the clock, no wall time asserted."""
    settings = settings_factory()
    topic = settings.kafka.topics.input
    await put_dlq(settings, [letter_record(f"d{i}", original_topic=topic) for i in range(5)])
    clock = ManualClock(auto_advance=True)

    summary = await replay(
        settings, ReplayFilters(), to=None, dry_run=False, rate=4.0, force=False, group=None,
        clock=clock,
    )  # fmt: skip

    assert summary.replayed == 5
    assert clock.now() == pytest.approx(1.0)


async def test_replay_to_topic_and_invalid_records(settings_factory: SettingsFactory) -> None:
    """--to redirects every record; a record without docstream headers is never sent."""
    settings = settings_factory()
    topic = settings.kafka.topics.input
    await put_dlq(
        settings,
        [letter_record("a", original_topic=topic), (b"x", b"foreign", [("h", b"1")])],
    )
    other = settings.kafka.topics.input + ".other"

    summary = await replay_once(settings, to=other)

    assert (summary.replayed, summary.invalid, summary.by_target) == (1, 1, {other: 1})
    assert [r.key for r in await replayed_records(settings, other)] == [b"a"]


async def test_replay_refuses_dlq_as_target_and_missing_topic(
    settings_factory: SettingsFactory,
) -> None:
    """Replaying into the DLQ itself is refused; a missing DLQ topic is a clear error."""
    settings = settings_factory()
    with pytest.raises(ReplayError, match="into itself"):
        await replay_once(settings, to=settings.kafka.topics.dlq)
    with pytest.raises(ReaderError, match="does not exist"):
        await replay_once(settings)
    with pytest.raises(ReplayError, match=r"at least 0\.01"):
        await replay_once(settings, rate=0.001)


async def test_replay_two_runs_of_one_lane_at_once_send_each_record_once(
    settings_factory: SettingsFactory,
) -> None:
    """Concurrent runs with the same group split the partitions: no record goes twice."""
    settings = settings_factory()
    topic = settings.kafka.topics.input
    await put_dlq(settings, [letter_record(f"d{i}", original_topic=topic) for i in range(40)])

    first, second = await asyncio.gather(replay_once(settings), replay_once(settings))

    assert first.replayed + second.replayed == 40
    assert sorted(sources(await replayed_records(settings)).values()) == [1] * 40


async def test_replay_second_run_joining_midway_takes_over_without_duplicates(
    settings_factory: SettingsFactory,
) -> None:
    """A run that joins while another is sending: the rebalance commits, then they share."""
    settings = settings_factory()
    topic = settings.kafka.topics.input
    await put_dlq(settings, [letter_record(f"d{i}", original_topic=topic) for i in range(40)])
    started = asyncio.Event()

    def on_progress(progress: ReplayProgress) -> None:
        if progress.replayed >= 3:
            started.set()

    slow = asyncio.create_task(
        replay(
            settings, ReplayFilters(), to=None, dry_run=False, rate=10.0, force=False,
            group=None, on_progress=on_progress,
        )
    )  # fmt: skip
    await started.wait()
    late = await replay_once(settings)
    first = await slow

    assert first.replayed + late.replayed == 40
    assert sorted(sources(await replayed_records(settings)).values()) == [1] * 40
