"""Fatal outcomes held at one gate; shutdown that always ends (fake ports, manual clock)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from typing import Any

import pytest

from stream.claude.instant import InstantClaudeClient
from stream.claude.types import CallRequest, CallResult
from stream.concurrency import ManualClock
from stream.errors import Outcome
from stream.processor import EXIT_UNCOMMITTED, StopPolicy
from tests.fakes import ScriptedClaude
from tests.processor.fake_ports import (
    DLQ,
    RESULTS,
    FakeSink,
    FakeSource,
    GatedClaude,
    build_processor,
    until,
)


class _CountingClaude:
    """InstantClaudeClient answers; counts calls per (document, stage)."""

    def __init__(self, inner: InstantClaudeClient) -> None:
        self.inner = inner
        self.calls: Counter[tuple[str, str]] = Counter()

    async def call(self, request: CallRequest) -> CallResult:
        self.calls[(request.document_id, request.stage)] += 1
        await asyncio.sleep(0)
        return await self.inner.call(request)

    async def count_tokens(self, request: CallRequest) -> int:
        return await self.inner.count_tokens(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _triage_answer(request: CallRequest) -> str:
    return '{"summary": "s", "labels": ["a"], "score": 0.5}'


async def _triage_calls(script: dict[str, list[Outcome]]) -> Counter[tuple[str, str]]:
    clock = ManualClock(auto_advance=True)
    source, sink = FakeSource(clock), FakeSink()
    source.add(0, json.dumps({"id": "d", "text": "t", "pipeline": "triage"}).encode())
    client = _CountingClaude(InstantClaudeClient(script=script, text_for=_triage_answer))
    processor = build_processor(
        source, sink, client, clock, StopPolicy(max_documents=1), limits__pause_on_fatal_s=30.0
    )
    assert await processor.run() == 0
    assert len(sink.to(RESULTS)) == 1 and not sink.to(DLQ)
    return client.calls


async def test_a_spend_cap_resumes_the_stopped_call_without_rerunning_finished_stages() -> None:
    """The last stage meets a spend cap: after the pause only that call goes again."""
    plain = await _triage_calls({})
    capped = await _triage_calls({"d/recommendation": [Outcome.SPEND_CAP]})

    assert capped == plain + Counter({("d", "recommendation"): 1})


class _CappedUntil:
    """A spend cap on every call until the clock reaches ``lifted_at``."""

    def __init__(self, clock: ManualClock, lifted_at: float) -> None:
        self._clock = clock
        self._lifted_at = lifted_at
        self.capped_calls: list[float] = []

    async def call(self, request: CallRequest) -> CallResult:
        await asyncio.sleep(0)
        if self._clock.now() < self._lifted_at:
            self.capped_calls.append(self._clock.now())
            outcome = Outcome.SPEND_CAP
        else:
            outcome = Outcome.SUCCESS
        return await InstantClaudeClient(script={request.document_id: [outcome]}).call(request)

    async def count_tokens(self, request: CallRequest) -> int:
        return 1

    async def aclose(self) -> None:
        return None


async def test_a_spend_cap_costs_one_probe_per_pause_and_one_log_line_per_state_change(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock(auto_advance=True)
    source, sink = FakeSource(clock), FakeSink()
    for i in range(40):
        source.add_doc(i % 4, f"p{i % 4}-{i}")
    client = _CappedUntil(clock, lifted_at=25.0)
    processor = build_processor(
        source, sink, client, clock, StopPolicy(max_documents=40), limits__pause_on_fatal_s=10.0
    )

    with caplog.at_level(logging.INFO, logger="stream"):
        assert await processor.run() == 0

    assert len(sink.to(RESULTS)) == 40 and not sink.to(DLQ)
    after_first_wave = [t for t in client.capped_calls if t > 0.0]
    assert after_first_wave == [10.0, 20.0]  # one probe per pause interval, nothing else
    gate_lines = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(gate_lines) == 3  # closed, probe failed, probe failed; not one per call


class _HangingCommits(FakeSource):
    async def commit(self, offsets: dict[Any, int]) -> bool:
        await asyncio.Event().wait()
        return True

    async def stop(self) -> None:
        await asyncio.Event().wait()


async def test_shutdown_ends_and_exits_non_zero_when_the_broker_never_answers_a_commit() -> None:
    clock = ManualClock(auto_advance=True)
    source, sink = _HangingCommits(clock), FakeSink()
    source.add_docs(0, 3)
    processor = build_processor(
        source, sink, InstantClaudeClient(), clock, processing__commit_every=1
    )
    run = asyncio.create_task(processor.run())
    await until(lambda: processor.stats.results == 3)
    processor.request_stop()
    try:
        await until(run.done)
    finally:
        run.cancel()
    assert run.result() == EXIT_UNCOMMITTED


async def test_repeated_commit_failures_log_one_line_per_state_change(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Refusing(FakeSource):
        attempts = 0

        async def commit(self, offsets: dict[Any, int]) -> bool:
            self.attempts += 1
            if self.attempts <= 5:
                return False
            return await super().commit(offsets)

    clock = ManualClock(auto_advance=True)
    source, sink, client = Refusing(clock), FakeSink(), GatedClaude()
    ids = source.add_docs(0, 7)
    client.hold(*ids)
    processor = build_processor(
        source, sink, client, clock, StopPolicy(max_documents=7), processing__commit_every=1
    )

    with caplog.at_level(logging.WARNING, logger="stream"):
        run = asyncio.create_task(processor.run())
        for n, doc_id in enumerate(ids[:6], start=1):
            client.release(doc_id)
            await until(lambda n=n: source.attempts == n)  # one commit per completion
        client.release()
        assert await run == 0

    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("commits:")]
    assert len(lines) == 2  # failing (once, not 5 times), then ok again with the count
    assert "5 times" in lines[1]
    assert source.committed == {("docs", 0): 7}


async def test_a_drain_starts_no_new_call_and_a_restart_after_it_duplicates_nothing() -> None:
    """One call in flight and two records waiting for a permit at SIGTERM: the call
    finishes and is committed, the waiting ones never call Claude; a restart does them."""
    clock = ManualClock(auto_advance=True)
    source, sink, client = FakeSource(clock), FakeSink(), GatedClaude()
    source.add_docs(0, 3)
    client.hold("p0-0")
    limits = {"limits__algorithm": "fixed", "limits__initial_concurrency": 1}
    processor = build_processor(source, sink, client, clock, **limits)
    run = asyncio.create_task(processor.run())
    await until(lambda: client.started == ["p0-0"])
    stopped_at = clock.now()

    processor.request_stop()
    await until(lambda: ("docs", 0) in source.paused)
    client.release()
    assert await run == 0

    assert client.started == ["p0-0"]  # no call started after the stop
    assert clock.now() - stopped_at < 30.0  # no wait for the drain deadline
    assert source.committed == {("docs", 0): 1}
    source.restart()
    again = build_processor(source, sink, client, clock, StopPolicy(max_documents=2), **limits)
    assert await again.run() == 0
    offsets = Counter(s.json["source"]["offset"] for s in sink.to(RESULTS))
    assert offsets == {0: 1, 1: 1, 2: 1}  # every record once: no duplicate


async def test_a_drain_during_a_spend_cap_ends_without_waiting_for_the_probe() -> None:
    """Calls held by a spend cap at SIGTERM end at once: no probe, no new call, and the
    drain does not sit out the pause or the drain deadline."""
    clock = ManualClock(auto_advance=True)
    source, sink = FakeSource(clock), FakeSink()
    source.add_docs(0, 4)
    client = _CappedUntil(clock, lifted_at=10_000.0)
    processor = build_processor(source, sink, client, clock, limits__pause_on_fatal_s=300.0)
    run = asyncio.create_task(processor.run())
    await until(lambda: "fatal" in processor.pause_reasons)
    calls_before = len(client.capped_calls)
    stopped_at = clock.now()

    processor.request_stop()
    assert await run == 0

    assert clock.now() - stopped_at < 30.0
    assert len(client.capped_calls) == calls_before
    assert not sink.sent and source.committed.get(("docs", 0), 0) == 0


_UNAVAILABLE = CallResult(
    outcome=Outcome.TRANSIENT, http_status=503, error_class="api_error", retry_after_s=20.0
)


@pytest.mark.parametrize(
    "client",
    [
        # a 503 with retry-after 20 s: the backoff is at least that long
        InstantClaudeClient(script={"p0-0": [_UNAVAILABLE]}, record_calls=True),
        # a 429 with retry-after 60 s: the model's retry-after gate holds the retry
        ScriptedClaude(retry_after_s=60.0),
    ],
    ids=["in-backoff", "at-retry-after"],
)
async def test_a_drain_ends_calls_waiting_to_retry_without_sending_them(
    client: InstantClaudeClient,
) -> None:
    """A record backing off after a 503, or waiting out a 429's retry-after, when SIGTERM
    comes: its wait ends at once and no call is sent (not at the drain deadline)."""
    clock = ManualClock(auto_advance=True)
    source, sink = FakeSource(clock), FakeSink()
    source.add_doc(0, "p0-0", "text <<rate_limited>>")
    processor = build_processor(source, sink, client, clock)
    run = asyncio.create_task(processor.run())
    await until(lambda: len(client.calls) == 1)
    await until(lambda: clock.now() > 1.0)  # now in the backoff or at the gate
    stopped_at = clock.now()

    processor.request_stop()
    assert await run == 0

    assert len(client.calls) == 1
    assert clock.now() - stopped_at < 10.0
    assert not sink.sent
