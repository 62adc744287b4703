"""The DLQ records the worker writes, per outcome class, through the SDK and the simulator.

One worker run over documents that each fail one way; every DLQ record must carry the
original bytes and key and the full context header set, and never the document text.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from stream.ports import RawRecord
from stream.simulator import SimulatorServer
from tests.dlq.helpers import FAST, doc, header, publish, read_all, run_worker_sdk
from tests.fixtures.broker import SettingsFactory

pytestmark = pytest.mark.kafka

SENTINEL = "SENTINEL-text-that-must-not-reach-a-header"

# key -> (value, outcome, error class, http status, attempts, has a stage/model)
CASES: dict[str, tuple[bytes, str, str, str | None, str, bool]] = {
    "refused": (
        doc("refused", f"{SENTINEL} [[sim:refusal]]")[1], "refused", "refusal", "200", "1", True,
    ),
    "too-long": (
        doc("too-long", f"{SENTINEL} [[sim:prompt_too_long]]")[1],
        "bad_request", "prompt_too_long", "400", "1", True,
    ),
    "flaky": (
        doc("flaky", f"{SENTINEL} [[sim:error500]]")[1],
        "retries_exhausted", "api_error", "500", "2", True,
    ),
    "marker": (  # the simulator's message echoes an unknown marker: it must not survive
        doc("marker", f"{SENTINEL} [[sim:nosuchmode]]")[1],
        "bad_request", "invalid_request_error", "400", "1", True,
    ),
    "json": (b'{"id": "json", "text": ', "bad_input", "invalid_json", None, "0", False),
    "utf8": (b'{"id": "utf8", "text": "\xff"}', "bad_input", "invalid_utf8", None, "0", False),
    "schema": (b'{"id": "", "text": 5}', "bad_input", "schema", None, "0", False),
    "extra": (  # an unknown field's name is document content too
        doc("extra", "t", **{SENTINEL: 1})[1], "bad_input", "schema", None, "0", False,
    ),
    "empty": (b"", "bad_input", "empty", None, "0", False),
    "large": (doc("large", "x" * 300)[1], "bad_input", "too_large", None, "0", False),
    "pipeline": (
        doc("pipeline", "t", pipeline=SENTINEL)[1],
        "bad_input", "unknown_pipeline", None, "0", False,
    ),
}  # fmt: skip


async def test_dead_letters_each_outcome_class_carries_full_context(
    settings_factory: SettingsFactory, simulator: SimulatorServer
) -> None:
    """Each failure class lands once with its outcome, class, status, attempts and origin."""
    settings = settings_factory(
        FAST, **{"claude.base_url": simulator.base_url, "processing.max_text_bytes": 200}
    )
    coords = await publish(settings, [(k.encode(), v[0]) for k, v in CASES.items()])
    origin = {k: c for k, c in zip(CASES, coords, strict=True)}

    report = await run_worker_sdk(settings)

    assert report.stats.results == 0
    dlq = await read_all(settings, settings.kafka.topics.dlq)
    by_key = {(r.key or b"").decode(): r for r in dlq}
    assert sorted(by_key) == sorted(CASES) and len(dlq) == len(CASES)
    for key, (value, outcome, error_class, status, attempts, called) in CASES.items():
        record = by_key[key]
        assert record.value == value, key
        got = _context(record)
        assert (got["error.outcome"], got["error.class"]) == (outcome, error_class), key
        assert got.get("error.http_status") == status, key
        assert got["attempts"] == attempts, key
        assert ("stage" in got, "model" in got, "error.request_id" in got) == (called,) * 3, key
        assert (got["original.partition"], got["original.offset"]) == tuple(
            map(str, origin[key])
        ), key
        assert got["original.topic"] == settings.kafka.topics.input
        assert got["consumer.group"] == settings.kafka.group_id
        assert got["worker.id"] == settings.processing.worker_id
        assert got["replay.count"] == "0" and "replay.from" not in got
        assert datetime.fromisoformat(got["first_failure_at"]) <= datetime.fromisoformat(
            got["last_failure_at"]
        )
        assert all(SENTINEL not in v for v in got.values()), key
        assert "nosuchmode" not in got["error.message"], key
    assert by_key["flaky"] and _context(by_key["flaky"])["stage"] == "summary"
    assert _context(by_key["too-long"])["error.message"].startswith("HTTP 400")


def _context(record: RawRecord) -> dict[str, str]:
    prefix = "docstream."
    return {
        name[len(prefix) :]: header(record, name) or ""
        for name, _ in record.headers
        if name.startswith(prefix)
    }
