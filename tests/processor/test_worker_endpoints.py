"""`docstream run --http-port`: the real worker's readiness follows its state, and
/metrics shows what it processed (issue 13, item 3)."""

from __future__ import annotations

import asyncio
import json
import re
import socket

import pytest

from stream.processor import StopPolicy
from stream.telemetry.setup import configure_telemetry
from stream.worker import run_worker
from tests.fakes import ScriptedClaude
from tests.fixtures.broker import SettingsFactory
from tests.processor.helpers import doc, publish
from tests.telemetry.test_endpoints import get

pytestmark = pytest.mark.kafka


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_DONE = re.compile(r'^docstream_documents_total\{docstream_outcome="success".*\} 3\.0$', re.M)


async def test_readyz_turns_ready_once_assigned_and_metrics_count_documents(
    settings_factory: SettingsFactory,
) -> None:
    port = _free_port()
    settings = settings_factory({"telemetry.http_port": port, "telemetry.http_host": "127.0.0.1"})
    await publish(settings, [doc(f"d{i}") for i in range(3)])
    handle = configure_telemetry(settings.telemetry, set_global=False, prometheus=True)
    worker = asyncio.create_task(
        run_worker(
            settings,
            stop=StopPolicy(until_idle_s=1.0),
            client=ScriptedClaude(),
            metrics_page=handle.prometheus_page,
        )
    )
    try:
        reasons: list[str] = []
        scraped = ""
        while not worker.done() and not _DONE.search(scraped):  # pytest-timeout bounds it
            try:
                status, _, body = await get(port, "/readyz")
                reason = json.loads(body)["reason"]
                if not reasons or reasons[-1] != reason:
                    reasons.append(reason)
                if status == 200:
                    scraped = (await get(port, "/metrics"))[2]
            except OSError:  # not listening yet
                pass
            await asyncio.sleep(0.02)
        await worker
        with pytest.raises(OSError):  # the worker stopped: its port is closed again
            await get(port, "/livez")
    finally:
        handle.shutdown()
    assert _DONE.search(scraped), scraped
    assert reasons[0].startswith("joining") and "running" in reasons, reasons
