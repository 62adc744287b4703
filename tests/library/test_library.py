"""The public library API: light import, settings from keywords, typed outcomes, and the
README example run as written."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

import stream
from stream import ConfigError, DeadLetter, Docstream, Result
from stream.simulator import SimulatorServer
from tests.readme_blocks import readme_block

ROOT = Path(__file__).resolve().parents[2]


def _python_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def test_import_stream_loads_no_sdk_until_a_name_is_used() -> None:
    """``import stream`` is light; ``stream.Docstream`` loads the library on first use."""
    code = (
        "import sys, stream\n"
        "sdks = ('anthropic', 'aiokafka', 'faust', 'opentelemetry.sdk')\n"
        "print(sorted(m for m in sdks if m in sys.modules))\n"
        "stream.Docstream\n"
        "print('stream.library' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=_python_env(), capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["[]", "True"]


def test_every_public_name_resolves_and_unknown_names_raise_attribute_error() -> None:
    for name in stream.__all__:
        assert getattr(stream, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'Procesor'"):
        _ = stream.Procesor


async def test_keywords_are_settings_fields_and_a_typo_is_a_config_error(
    simulator: SimulatorServer,
) -> None:
    async with Docstream(base_url=simulator.base_url, model="m-1", max_attempts=2) as ds:
        assert ds.settings.claude.model == "m-1"
        assert ds.settings.limits.max_attempts == 2
    with pytest.raises(ConfigError, match="unknown setting 'modle'"):
        Docstream(base_url=simulator.base_url, modle="m-1")
    with pytest.raises(ConfigError, match=r"claude\.max_tokens"):
        Docstream(stream.Settings(), base_url=simulator.base_url, max_tokens=0)


async def test_process_returns_a_result_or_a_dead_letter_with_the_failure(
    simulator: SimulatorServer,
) -> None:
    async with Docstream(base_url=simulator.base_url, max_attempts=2) as ds:
        ok = await ds.process(stream.Document(id="d1", text="hello"))
        bad = await ds.process({"id": "d2", "text": "[[sim:error500]]"})
        invalid = await ds.process({"id": "d3"})  # no text: the document's own fault
    assert isinstance(ok, Result)
    assert (ok.document_id, ok.pipeline, list(ok.outputs)) == ("d1", "summarize", ["summary"])
    assert isinstance(bad, DeadLetter)
    assert (bad.outcome, bad.error_class, bad.attempts) == ("retries_exhausted", "api_error", 2)
    assert isinstance(invalid, DeadLetter)
    assert (invalid.outcome, invalid.error_class) == ("bad_input", "schema")


async def test_process_many_yields_every_document_once_from_an_async_source(
    simulator: SimulatorServer,
) -> None:
    async def documents():  # type: ignore[no-untyped-def]
        for i in range(30):
            yield {"id": f"d{i}", "text": "hello"}

    async with Docstream(base_url=simulator.base_url) as ds:
        outcomes = [o async for o in ds.process_many(documents())]
    assert sorted(o.document_id for o in outcomes if isinstance(o, Result)) == sorted(
        f"d{i}" for i in range(30)
    )


async def test_the_readme_library_example_runs_as_written(
    simulator: SimulatorServer, tmp_path: Path
) -> None:
    script = tmp_path / "library_example.py"
    script.write_text(readme_block("# library_example.py"), encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        env=_python_env(DOCSTREAM_CLAUDE__BASE_URL=simulator.base_url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[0].startswith("doc-1 ")
    assert lines[1] == "bad_request prompt_too_long"
    assert sorted(lines[2:]) == sorted(f"Result batch-{i}" for i in range(20))
