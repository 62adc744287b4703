"""The worker against the real broker: accounting, commits, ordering, rebalance, bad input."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest

from stream.processor import Processor, StopPolicy
from stream.worker import run_worker
from tests.fakes import ScriptedClaude
from tests.fixtures.broker import SettingsFactory
from tests.processor.helpers import account, committed, doc, header, publish

pytestmark = pytest.mark.kafka


async def test_clean_run_every_offset_ends_as_exactly_one_result_or_dlq(
    settings_factory: SettingsFactory,
) -> None:
    """Each input offset yields exactly one output; commits reach the end of every partition."""
    settings = settings_factory({"processing.commit_interval_s": 0.2})
    records = [doc(f"d{i}") for i in range(120)]
    records += [doc(f"r{i}", "please <<refused>>") for i in range(3)]
    records += [(b"bad", b"\xff\xfe not utf8"), (b"bad2", b"{not json")]
    coords = await publish(settings, records)
    client = ScriptedClaude(max_delay_s=0.02)

    report = await run_worker(settings, stop=StopPolicy(until_idle_s=1.0), client=client)

    assert report.exit_code == 0
    books = await account(settings)
    assert books.outcomes() == {c: 1 for c in coords}
    assert sum(books.dead.values()) == 5
    ends = defaultdict(int)
    for partition, offset in coords:
        ends[partition] = max(ends[partition], offset + 1)
    assert await committed(settings) == dict(ends)


async def test_dlq_bad_input_keeps_original_bytes_and_reason(
    settings_factory: SettingsFactory,
) -> None:
    """Every kind of bad input lands in the DLQ at once with its bytes and error class."""
    settings = settings_factory({"processing.max_text_bytes": 1000})
    bad = {
        "invalid_utf8": b'{"id": "a", "text": "\xff"}',
        "invalid_json": b'{"id": "b", "text": ',
        "schema": b'{"id": "", "text": 5, "metadata": []}',
        "too_large": b'{"id": "d", "text": "' + b"x" * 2000 + b'"}',
        "empty": b"",
    }
    await publish(settings, [(k.encode(), v) for k, v in bad.items()])
    client = ScriptedClaude()

    await run_worker(settings, stop=StopPolicy(until_idle_s=1.0), client=client)

    books = await account(settings)
    by_class = {header(r, "docstream.error.class"): r for r in books.dlq_records}
    assert set(by_class) == set(bad)
    for error_class, record in by_class.items():
        assert record.value == bad[error_class]
        assert record.key == error_class.encode()
        assert header(record, "docstream.error.outcome") == "bad_input"
    assert client.calls == []  # bad input never reaches Claude


async def test_key_ordering_runs_each_key_in_offset_order(
    settings_factory: SettingsFactory,
) -> None:
    """ordering=key: calls for one key happen one after another, in publication order."""
    settings = settings_factory({"processing.ordering": "key"})
    records = [doc(f"k{i % 5}-{i:03d}") for i in range(100)]
    keyed = [(f"key{i % 5}".encode(), value) for i, (_, value) in enumerate(records)]
    await publish(settings, keyed)
    client = ScriptedClaude(max_delay_s=0.01)

    await run_worker(settings, stop=StopPolicy(until_idle_s=1.0), client=client)

    seen: dict[str, list[str]] = defaultdict(list)
    for call in client.calls:
        seen[call.document_id.split("-")[0]].append(call.document_id)
    assert len(client.calls) == 100
    for ids in seen.values():
        assert ids == sorted(ids)


async def test_max_documents_processes_n_and_exits_zero(
    settings_factory: SettingsFactory,
) -> None:
    """--max-documents N: exactly N outputs, commit covers only what was processed."""
    settings = settings_factory({"kafka.topics.partitions": 1})
    await publish(settings, [doc(f"d{i}") for i in range(30)])

    report = await run_worker(settings, stop=StopPolicy(max_documents=10), client=ScriptedClaude())

    assert report.exit_code == 0
    assert report.stats.processed == 10
    assert await committed(settings) == {0: 10}


async def test_two_workers_rebalance_mid_run_loses_nothing(
    settings_factory: SettingsFactory,
) -> None:
    """A second worker joins mid-run: partitions split, every offset still gets an output."""
    settings = settings_factory({"processing.commit_interval_s": 0.2})
    coords = await publish(settings, [doc(f"d{i}") for i in range(300)])
    first_client = ScriptedClaude(max_delay_s=0.05, seed=1)
    second_client = ScriptedClaude(max_delay_s=0.05, seed=2)
    joined = asyncio.Event()

    async def second() -> None:
        await asyncio.sleep(0.5)
        joined.set()
        await run_worker(settings, stop=StopPolicy(until_idle_s=2.0), client=second_client)

    first = asyncio.create_task(
        run_worker(settings, stop=StopPolicy(until_idle_s=2.0), client=first_client)
    )
    await asyncio.gather(first, second())

    books = await account(settings)
    assert set(books.outcomes()) == set(coords)
    assert len(second_client.calls) > 0  # the newcomer really took partitions
    duplicates = sum(books.outcomes().values()) - len(coords)
    assert duplicates <= settings.processing.buffer_size


async def test_auth_outcome_pauses_without_dlq_or_commit(
    settings_factory: SettingsFactory,
) -> None:
    """401: nothing is dead-lettered, nothing more committed, exit code 3 after the pause."""
    settings = settings_factory({"limits.pause_on_fatal_s": 1.0, "kafka.topics.partitions": 1})
    await publish(settings, [doc("ok-1"), doc("bad-key", "x <<auth>>"), doc("ok-2")])
    seen: list[Processor] = []

    report = await run_worker(
        settings,
        stop=StopPolicy(until_idle_s=5.0),
        client=ScriptedClaude(),
        on_start=seen.append,
    )

    assert report.exit_code == 3
    books = await account(settings)
    assert books.dead == {}
    assert (await committed(settings)).get(0, 0) <= 1


async def test_breaker_opens_on_an_outage_pauses_and_recovers_without_dlq(
    settings_factory: SettingsFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Consecutive 500s open the breaker: consumption pauses, nothing is dead-lettered,
    a half-open probe succeeds and everything is processed."""
    settings = settings_factory(
        {
            "limits.breaker_failures": 3,
            "limits.breaker_open_s": 0.3,
            "limits.max_attempts": 50,
            "limits.backoff_base_s": 0.01,
            "limits.backoff_max_s": 0.05,
            "limits.initial_concurrency": 2,
            "limits.min_concurrency": 1,
        }
    )
    coords = await publish(settings, [doc(f"d{i}") for i in range(20)])
    paused: list[frozenset[str]] = []

    def watch(processor: Processor) -> None:
        processor.on_tick.append(lambda: paused.append(processor.pause_reasons))

    with caplog.at_level("WARNING", logger="stream.worker"):
        report = await run_worker(
            settings,
            stop=StopPolicy(until_idle_s=1.0),
            client=ScriptedClaude(fail_first=6),
            on_start=watch,
        )

    assert report.exit_code == 0
    assert any("breaker" in reasons for reasons in paused)
    assert "circuit breaker closed -> open" in caplog.text
    books = await account(settings)
    assert books.dead == {}
    assert set(books.results) == set(coords)
