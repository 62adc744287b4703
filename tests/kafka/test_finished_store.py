"""The finished-offsets ledger on the real broker: what one worker saves, the next loads."""

from __future__ import annotations

import pytest

from stream.finished import FinishedAbove
from stream.kafka.admin import ensure_topics
from stream.kafka.finished_store import finished_topic, open_finished_ledger
from stream.kafka.producer import KafkaSink
from tests.fixtures.broker import SettingsFactory

pytestmark = pytest.mark.kafka


async def test_ledger_loads_the_latest_state_per_partition_of_its_own_group(
    settings_factory: SettingsFactory,
) -> None:
    """Latest write wins; another group's and unreadable records are ignored."""
    settings = settings_factory()
    other = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"group_id": "someone-else"})}
    )
    await ensure_topics(settings.kafka)
    topic = settings.kafka.topics.input
    tp0, tp1 = (topic, 0), (topic, 1)
    async with KafkaSink(settings.kafka) as sink:
        ledger = await open_finished_ledger(settings.kafka, sink)
        assert await ledger.save({tp0: FinishedAbove(3, frozenset({5, 6}))})
        assert await ledger.save(
            {tp0: FinishedAbove(4, frozenset({6, 9})), tp1: FinishedAbove(0, frozenset())}
        )
        assert await (await open_finished_ledger(other.kafka, sink)).save(
            {tp1: FinishedAbove(7, frozenset({8}))}
        )
        key = f"{settings.kafka.group_id}/{topic}/1".encode()
        await sink.send_and_wait(finished_topic(settings.kafka), b"not json", key=key)

        loaded = await ledger.load([tp0, tp1, (topic, 2)])

    assert loaded == {tp0: FinishedAbove(4, frozenset({6, 9})), tp1: FinishedAbove(0, frozenset())}
