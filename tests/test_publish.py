"""The publisher: sources, validation with line numbers, --strict, keys, and delivery."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.cli.main import cli
from stream.config import KafkaSettings, Settings
from stream.kafka.admin import ensure_topics
from stream.kafka.partitioner import murmur2
from stream.kafka.reader import read_topic
from stream.models import BadInput, Document, decode_document
from stream.ports import RawRecord
from stream.publish import (
    PublishAborted,
    PublishProgress,
    open_source,
    publish_documents,
    publish_items,
    record_key,
)
from stream.publish_sources import Candidate, Rejected, validate_line
from tests.fixtures.broker import SettingsFactory
from tests.fixtures.env import kafka_env

pytestmark = pytest.mark.kafka

JSONL = (
    b'{"id": "a", "text": "first"}\n'
    b"\n"
    b"this is not json\n"
    b'{"id": "b", "text": "second", "metadata": {"tenant": "t1"}}\n'
    b'{"id": "c"}\n'
    b'{"id": "d", "text": "fourth", "pipeline": "p2", "priority": 5}\n'
)


async def _read(kafka: KafkaSettings, topic: str | None = None) -> list[RawRecord]:
    return [r async for r in read_topic(kafka, topic or kafka.topics.input)]


async def _setup(settings_factory: SettingsFactory) -> Settings:
    settings = settings_factory()
    await ensure_topics(settings.kafka)
    return settings


# -- sources and validation -------------------------------------------------------------


async def test_publish_jsonl_file_invalid_lines_reported_with_line_numbers_and_skipped(
    settings_factory: SettingsFactory, tmp_path: Path
) -> None:
    """Lines 3 and 5 are rejected by number; the three valid lines arrive byte for byte."""
    settings = await _setup(settings_factory)
    path = tmp_path / "docs.jsonl"
    path.write_bytes(JSONL)
    rejected: list[Rejected] = []
    summary = await publish_items(
        settings.kafka, settings.kafka.topics.input, open_source(path), on_reject=rejected.append
    )
    assert [(r.line, r.reason.split(":")[0]) for r in rejected] == [
        (3, "invalid_json"),
        (5, "schema"),
    ]
    assert all(r.where == f"{path}:{r.line}" for r in rejected)
    assert (summary.sent, summary.rejected) == (3, 2)
    got = {r.key: r.value for r in await _read(settings.kafka)}
    lines = JSONL.splitlines()
    assert got == {b"a": lines[0], b"b": lines[3], b"d": lines[5]}
    assert summary.bytes == sum(len(v) for v in got.values())


async def test_publish_directory_one_document_per_file_id_is_relative_path(
    settings_factory: SettingsFactory, tmp_path: Path
) -> None:
    """Files become {id: relative path, text: content}; hidden and non-UTF-8 files don't."""
    settings = await _setup(settings_factory)
    (tmp_path / "sub").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / "a.txt").write_text("alpha", encoding="utf-8")
    (tmp_path / "sub" / "b.md").write_text("béta", encoding="utf-8")
    (tmp_path / ".git" / "config").write_text("hidden", encoding="utf-8")
    (tmp_path / ".env").write_text("hidden", encoding="utf-8")
    (tmp_path / "bad.bin").write_bytes(b"\xff\xfe")
    rejected: list[Rejected] = []
    summary = await publish_items(
        settings.kafka,
        settings.kafka.topics.input,
        open_source(tmp_path),
        on_reject=rejected.append,
    )
    docs = {Document.model_validate_json(r.value or b"") for r in await _read(settings.kafka)}
    assert docs == {Document(id="a.txt", text="alpha"), Document(id="sub/b.md", text="béta")}
    assert [(r.where, r.reason.split(":")[0]) for r in rejected] == [("bad.bin", "invalid_utf8")]
    assert (summary.sent, summary.rejected) == (2, 1)


async def test_publish_stdin_jsonl_arrives_keyed_by_id(
    settings_factory: SettingsFactory,
) -> None:
    """``-`` reads JSONL from stdin (on a thread) with the same validation and numbering."""
    settings = await _setup(settings_factory)
    rejected: list[Rejected] = []
    source = open_source("-", stdin=io.BytesIO(JSONL))
    summary = await publish_items(
        settings.kafka, settings.kafka.topics.input, source, on_reject=rejected.append
    )
    assert [r.where for r in rejected] == ["<stdin>:3", "<stdin>:5"]
    assert sorted(r.key or b"" for r in await _read(settings.kafka)) == [b"a", b"b", b"d"]
    assert summary.sent == 3


async def test_publish_stdin_slow_writer_lines_go_out_before_eof(
    settings_factory: SettingsFactory,
) -> None:
    """Lines from a pipe that stays open are published without waiting for more input."""
    settings = await _setup(settings_factory)
    read_fd, write_fd = os.pipe()
    acked = asyncio.Event()

    def on_progress(p: PublishProgress) -> None:
        if p.sent >= 2:
            acked.set()

    with os.fdopen(read_fd, "rb") as reader, os.fdopen(write_fd, "wb") as writer:
        writer.write(b'{"id": "x", "text": "1"}\n{"id": "y", "text": "2"}\n')
        writer.flush()
        publishing = asyncio.ensure_future(
            publish_items(
                settings.kafka,
                settings.kafka.topics.input,
                open_source("-", stdin=reader),
                on_progress=on_progress,
            )
        )
        await asyncio.wait_for(acked.wait(), timeout=30)  # pipe still open here
        assert not publishing.done()
        writer.write(b'{"id": "z", "text": "3"}\n')
        writer.close()
        summary = await publishing
    assert summary.sent == 3


# -- strict -----------------------------------------------------------------------------


async def test_publish_strict_aborts_at_first_invalid_and_says_how_many_were_sent(
    settings_factory: SettingsFactory, tmp_path: Path
) -> None:
    """--strict stops at line 3; only the document before it was sent, and it says so."""
    settings = await _setup(settings_factory)
    path = tmp_path / "docs.jsonl"
    path.write_bytes(JSONL)
    with pytest.raises(PublishAborted) as info:
        await publish_items(
            settings.kafka, settings.kafka.topics.input, open_source(path), strict=True
        )
    assert info.value.rejected.line == 3
    assert info.value.summary.sent == 1
    assert "1 document(s) before it were sent" in str(info.value)
    assert [r.key for r in await _read(settings.kafka)] == [b"a"]


def test_cli_publish_strict_exits_1_and_prints_sent_count(
    settings_factory: SettingsFactory, tmp_path: Path
) -> None:
    """The command exits 1 under --strict, naming the line and the count already sent."""
    kafka = settings_factory().kafka
    path = tmp_path / "docs.jsonl"
    path.write_bytes(JSONL)
    result = CliRunner().invoke(
        cli, ["publish", str(path), "--strict", "--no-progress"], env=kafka_env(kafka)
    )
    assert result.exit_code == 1, result.output
    assert f"stopped at {path}:3" in result.stderr
    assert "sent 1, rejected 1" in result.stdout


def test_cli_publish_stdin_reports_rejections_and_summary(
    settings_factory: SettingsFactory,
) -> None:
    """``docstream publish -`` publishes stdin, lists rejected lines, prints the summary."""
    kafka = settings_factory().kafka
    result = CliRunner().invoke(
        cli, ["publish", "-", "--no-progress"], input=JSONL, env=kafka_env(kafka)
    )
    assert result.exit_code == 0, result.output
    assert "rejected <stdin>:3: invalid_json" in result.stderr
    assert "rejected <stdin>:5: schema: text: Field required" in result.stderr
    assert result.stdout.startswith("sent 3, rejected 2,")
    got = asyncio.run(_read(kafka))
    assert sorted(r.key or b"" for r in got) == [b"a", b"b", b"d"]


# -- keys -------------------------------------------------------------------------------


async def test_publish_key_field_metadata_and_top_level_keys_records(
    settings_factory: SettingsFactory,
) -> None:
    """--key-field picks a metadata field or a top-level one; a document without it is
    rejected rather than published with a wrong key."""
    settings = await _setup(settings_factory)
    docs = [
        {"id": "1", "text": "a", "metadata": {"tenant": "acme"}},
        {"id": "2", "text": "b", "metadata": {"tenant": 7}},
        {"id": "3", "text": "c"},
    ]
    rejected: list[Rejected] = []
    summary = await publish_documents(
        settings.kafka,
        settings.kafka.topics.input,
        docs,
        key_field="tenant",
        on_reject=rejected.append,
    )
    keys = sorted(r.key or b"" for r in await _read(settings.kafka))
    assert keys == [b"7", b"acme"]
    assert summary.rejected == 1 and rejected[0].where == "item 3"
    doc = Document(id="9", text="t", pipeline="p", metadata={"pipeline": "m"})
    assert record_key(doc, "pipeline") == b"p"
    assert record_key(doc, "metadata.pipeline") == b"m"
    assert record_key(doc, None) == b"9"


# -- Python API and sizes ---------------------------------------------------------------


async def test_publish_documents_many_all_arrive_progress_ends_at_total(
    settings_factory: SettingsFactory,
) -> None:
    """5,000 Documents and dicts all arrive once; the last progress report counts them."""
    settings = await _setup(settings_factory)
    docs: list[Document | dict[str, object]] = [
        Document(id=f"d{i}", text=f"text {i}") if i % 2 else {"id": f"d{i}", "text": f"text {i}"}
        for i in range(5000)
    ]
    reports: list[PublishProgress] = []
    summary = await publish_documents(
        settings.kafka, settings.kafka.topics.input, docs, on_progress=reports.append
    )
    got = await _read(settings.kafka)
    assert sorted(r.key or b"" for r in got) == sorted(f"d{i}".encode() for i in range(5000))
    assert summary.sent == 5000 and reports[-1].sent == 5000
    assert all(a.sent <= b.sent for a, b in itertools.pairwise(reports))


async def test_publish_record_over_max_request_size_is_rejected_not_fatal(
    settings_factory: SettingsFactory,
) -> None:
    """A document too big for kafka.max_request_size is a rejection; the rest go out."""
    settings = settings_factory({"kafka.max_request_size": 2048})
    await ensure_topics(settings.kafka)
    docs = [{"id": "small", "text": "x"}, {"id": "big", "text": "y" * 4096}]
    rejected: list[Rejected] = []
    summary = await publish_documents(
        settings.kafka, settings.kafka.topics.input, docs, on_reject=rejected.append
    )
    assert [r.key for r in await _read(settings.kafka)] == [b"small"]
    assert summary.sent == 1 and "kafka.max_request_size" in rejected[0].reason


# -- pure parts -------------------------------------------------------------------------


def test_murmur2_matches_kafka_java_reference_values() -> None:
    """Values from Kafka's UtilsTest.testMurmur2 (Java ints), so keys land where Java puts them."""
    reference = {
        b"21": -973932308,
        b"foobar": -790332482,
        b"a-little-bit-long-string": -985981536,
        b"a-little-bit-longer-string": -1486304829,
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
        b"abc": 479470107,
    }
    for data, java_int in reference.items():
        assert murmur2(data) == java_int & 0xFFFFFFFF


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-300, 300) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
_doc_like = st.dictionaries(
    st.sampled_from(["id", "text", "metadata", "pipeline", "priority", "extra"]),
    _json_values | st.text(max_size=300),
)


@settings(max_examples=300, deadline=None)
@given(data=_doc_like | _json_values, raw=st.binary(max_size=40), use_raw=st.booleans())
def test_validate_line_verdict_equals_worker_decoder(
    data: object, raw: bytes, use_raw: bool
) -> None:
    """The publisher's fast path accepts exactly what the worker's decoder accepts."""
    line = raw if use_raw else json.dumps(data).encode()
    if not line.strip():
        return
    line = line.strip()
    item = validate_line(line, "x:1", 1, max_text_bytes=200)
    try:
        expected: Document | None = decode_document(line, max_text_bytes=200)
    except (BadInput, UnicodeEncodeError):
        expected = None
    if expected is None:
        assert isinstance(item, Rejected)
    else:
        assert isinstance(item, Candidate) and item.doc == expected and item.value == line
