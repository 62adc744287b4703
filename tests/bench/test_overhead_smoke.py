"""``docstream bench overhead`` at toy size against the session broker: its accounting
is right and it notices lost or duplicated documents. No timing assertions."""

from __future__ import annotations

import contextlib

import pytest

from stream.bench.overhead import account, publish_documents, run_overhead, spawn_worker
from stream.kafka.producer import KafkaSink
from stream.kafka.reader import read_topic
from stream.ports import RawRecord
from tests.fixtures.broker import SettingsFactory

pytestmark = pytest.mark.kafka

DOCUMENTS = 200


async def test_overhead_small_run_every_document_produces_exactly_one_result(
    settings_factory: SettingsFactory,
) -> None:
    """200 documents through one worker process: each input offset has exactly one result."""
    settings = settings_factory()

    report = await run_overhead(settings, documents=DOCUMENTS)

    books = report.accounting
    assert books.ok
    assert (books.inputs, books.results, books.dead_letters) == (DOCUMENTS, DOCUMENTS, 0)
    assert (books.missing, books.duplicated, books.unexpected) == (0, 0, 0)
    assert books.distinct_ids == DOCUMENTS
    assert books.committed_to_end
    worker = report.worker
    assert not worker.stalled and worker.exit_code == 0
    assert worker.processed == worker.results == worker.claude_calls == DOCUMENTS
    # Measured, not judged: the figures exist; their size is the benchmark's business.
    assert worker.window_s > 0 and worker.cpu_s > 0 and worker.peak_rss_mb > 0
    assert report.docs_per_s > 0 and report.cpu_us_per_doc > 0


async def test_overhead_last_record_triggers_commit_every_worker_still_exits(
    settings_factory: SettingsFactory,
) -> None:
    """The last record hitting commit_every must not hang shutdown (3.11 wait_for race)."""
    settings = settings_factory({"processing.commit_every": 1000})

    report = await run_overhead(settings, documents=2000, idle_timeout_s=10.0)

    assert not report.worker.stalled_at_shutdown
    assert not report.worker.stalled and report.worker.exit_code == 0
    assert report.accounting.ok and report.accounting.committed_to_end


async def test_overhead_accounting_lost_or_duplicated_outputs_not_ok(
    settings_factory: SettingsFactory,
) -> None:
    """A published offset without output, or an output written twice, fails the accounting."""
    settings = settings_factory()
    coords, _ = await publish_documents(settings, 3)
    measured = await spawn_worker(settings, expected=3, pipeline="summarize")
    assert measured.processed == 3
    assert (await account(settings, coords)).ok

    lost = await account(settings, coords | {(0, 10_000)})
    assert not lost.ok and lost.missing == 1

    first: RawRecord | None = None
    reader = read_topic(settings.kafka, settings.kafka.topics.results)
    async with contextlib.aclosing(reader):
        async for record in reader:
            first = record
            break
    assert first is not None
    async with KafkaSink(settings.kafka) as sink:
        await sink.send_and_wait(settings.kafka.topics.results, first.value or b"", key=first.key)
    duplicated = await account(settings, coords)
    assert not duplicated.ok and duplicated.duplicated == 1
