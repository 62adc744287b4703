"""A broker the board cannot reach ends nothing: the reader keeps trying, and says so once."""

from __future__ import annotations

import asyncio
import logging

import pytest

from stream.config import load_settings
from stream.kafka.backlog_channel import KafkaBacklogChannel
from stream.kafka.side_topic import SideTopic

pytestmark = pytest.mark.timeout(60)


async def test_following_notes_with_no_broker_retries_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = load_settings(None, {"kafka.bootstrap_servers": "127.0.0.1:1"})
    channel = KafkaBacklogChannel(SideTopic(settings.kafka, None, "documents.backlog"))  # type: ignore[arg-type]

    async def follow() -> None:
        async for _ in channel.follow():
            pass

    with caplog.at_level(logging.WARNING, logger="stream.kafka.backlog_channel"):
        task = asyncio.create_task(follow())
        for _ in range(400):  # until the first failure is reported
            await asyncio.sleep(0.05)
            if task.done() or _warnings(caplog):
                break
        await asyncio.sleep(2.5)  # two more tries (one a second)
        assert not task.done()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert len(_warnings(caplog)) == 1


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "backlog notes not read" in r.getMessage()]
