"""The backlog board's channel on the real broker, and a worker that writes to it."""

from __future__ import annotations

import asyncio
import json

import pytest

from stream.backlog_board import BacklogNote
from stream.kafka.admin import ensure_topics
from stream.kafka.backlog_channel import backlog_topic, open_backlog_channel
from stream.kafka.producer import KafkaSink
from stream.kafka.reader import read_topic
from stream.processor import StopPolicy
from stream.worker import run_worker
from tests.fakes import ScriptedClaude
from tests.fixtures.broker import SettingsFactory
from tests.processor.helpers import account, doc, publish

pytestmark = pytest.mark.kafka


async def test_a_note_one_member_writes_reaches_another_and_junk_is_skipped(
    settings_factory: SettingsFactory,
) -> None:
    settings = settings_factory()
    await ensure_topics(settings.kafka)
    got: list[BacklogNote] = []
    async with KafkaSink(settings.kafka) as sink:
        writer = await open_backlog_channel(settings.kafka, sink)
        reader = await open_backlog_channel(settings.kafka, sink)

        async def follow() -> None:
            async for note in reader.follow():
                got.append(note)

        task = asyncio.create_task(follow())
        try:
            topic = backlog_topic(settings.kafka)
            for n in range(200):  # until the reader, positioned at the end, sees one
                await sink.send_and_wait(topic, b"not a note", key=b"junk")
                await writer.publish(BacklogNote("g", "w-1", n, 1.0))
                await asyncio.sleep(0.05)
                if got:
                    break
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert got and all(n.group == "g" and n.member == "w-1" for n in got)


async def test_a_worker_with_the_board_writes_its_backlog_and_loses_nothing(
    settings_factory: SettingsFactory,
) -> None:
    """With ``limits.backlog_board`` every offset still ends as one output, and the
    worker's notes show its backlog while it works and 0 once it is done."""
    settings = settings_factory({"limits.backlog_board": True})
    coords = await publish(settings, [doc(f"d{i}") for i in range(40)])
    client = ScriptedClaude(max_delay_s=0.05)

    report = await run_worker(settings, stop=StopPolicy(until_idle_s=1.5), client=client)

    assert report.exit_code == 0
    books = await account(settings)
    assert books.outcomes() == {c: 1 for c in coords}
    notes = [
        json.loads(r.value or b"{}")
        async for r in read_topic(settings.kafka, backlog_topic(settings.kafka))
    ]
    mine = [n for n in notes if n["member"] == settings.processing.worker_id]
    assert mine and all(n["group"] == settings.kafka.group_id for n in mine)
    assert max(n["backlog"] for n in mine) > 0
    assert mine[-1]["backlog"] == 0
