"""One input record to exactly one output record: a result, or a dead letter.

Decoding happens here, from raw bytes, so a bad record - whatever its bytes - becomes a
DLQ record with its original bytes (cut, and marked so, only when they would not fit in
one) instead of an exception in the poll loop. A spend cap holds the call at the fatal
gate until a probe succeeds; the only exception that leaves ``handle`` on purpose is
FatalOutcome (auth, unknown model: the gate is closed for good). No document that is not
at fault is dead-lettered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime

from stream.calls import Caller
from stream.concurrency import Priority
from stream.config import Settings
from stream.dedup import DedupStore, StoredOutputs
from stream.dlq.records import dead_letter_record, replay_count
from stream.errors import CallsStopped, Failure, FatalOutcome, Outcome
from stream.models import BadInput, Document, Result, decode_document
from stream.pipeline import Pipeline, StageDone, run_pipeline
from stream.ports import Output, RawRecord
from stream.results import build_result
from stream.resume import completed_stages, reusable_stages, stored_stages
from stream.telemetry import tracing

__all__ = ["RecordHandler"]

log = logging.getLogger(__name__)

# Room for headers and framing under the producer's max_request_size (a quarter of it
# when that is small).
_RECORD_OVERHEAD = 16 * 1024


def _payload_budget(max_request_size: int) -> int:
    return max_request_size - min(_RECORD_OVERHEAD, max_request_size // 4)


class RecordHandler:
    def __init__(
        self,
        settings: Settings,
        caller: Caller,
        pipelines: Mapping[str, Pipeline],
        default: str,
        *,
        dedup: DedupStore | None = None,
    ) -> None:
        self._settings = settings
        self._dedup = dedup
        self._caller = caller
        self._pipelines = pipelines
        self._default = default

    async def handle(self, record: RawRecord, sequence: int = 0) -> Output:
        """``sequence`` is the record's dispatch order: older records' calls go first."""
        started = time.monotonic()
        try:
            doc = decode_document(
                record.value, max_text_bytes=self._settings.processing.max_text_bytes
            )
        except BadInput as bad:
            return self.dead_letter(
                record, _failure(Outcome.BAD_INPUT, bad.error_class, bad.message)
            )
        except Exception as exc:  # a decode failure we did not foresee is still bad input
            message = f"the record could not be decoded ({type(exc).__name__})"
            return self.dead_letter(record, _failure(Outcome.BAD_INPUT, "undecodable", message))
        try:
            return await self._process(record, doc, started, (-doc.priority, sequence))
        except (FatalOutcome, CallsStopped):
            raise
        except Exception as exc:  # a bug of ours met by this record; never crash-loop on it
            log.exception(
                "internal error on %s/%d@%d", record.topic, record.partition, record.offset
            )
            return self.dead_letter(
                record, _failure(Outcome.INTERNAL_ERROR, type(exc).__name__, "internal error")
            )

    async def _process(
        self, record: RawRecord, doc: Document, started: float, priority: Priority
    ) -> Output:
        name = doc.pipeline or self._default
        pipeline = self._pipelines.get(name)
        if pipeline is None:
            known = ", ".join(sorted(self._pipelines))
            # The name is document content: say which pipelines exist, not which was asked.
            message = f"the document names a pipeline this worker does not run (it runs {known})"
            failure = _failure(Outcome.BAD_INPUT, "unknown_pipeline", message)
            return self.dead_letter(record, failure)
        reuse = reusable_stages(record.headers, pipeline)
        key, stored = await self._lookup(pipeline, doc, reuse)
        if stored is None:
            run = await run_pipeline(
                pipeline,
                doc,
                self._caller,
                stream=self._settings.claude.stream,
                priority=priority,
                reuse=reuse,
            )
            if run.failure is not None:
                done = completed_stages(pipeline, run.outputs)
                return self.dead_letter(record, run.failure, completed=done)
            outputs = run.outputs
        else:
            outputs = stored_stages(stored, pipeline)
        processing = self._settings.processing
        result = build_result(
            record=record,
            document_id=doc.id,
            pipeline=name,
            outputs=outputs,
            worker_id=processing.worker_id,
            trace_id=tracing.current_trace_id(),
            replay_count=replay_count(record.headers),
            latency_ms=(time.monotonic() - started) * 1000,
            duplicate_of=stored.document_id if stored is not None else None,
        )
        output = self._result_output(record, doc, result)
        if key is not None and stored is None and output.failure is None:
            assert self._dedup is not None
            carried = completed_stages(pipeline, outputs) or ""
            await self._dedup.remember(key, doc.id, carried, time.time())
        return output

    async def _lookup(
        self, pipeline: Pipeline, doc: Document, reuse: Mapping[str, StageDone]
    ) -> tuple[bytes | None, StoredOutputs | None]:
        """The dedup key and a stored result, unless dedup is off or this is a resume."""
        if self._dedup is None or reuse:
            return None, None
        key, stored = await self._dedup.lookup(pipeline, doc)
        if stored is not None and len(stored_stages(stored, pipeline)) != len(pipeline.stages):
            return key, None  # unreadable or partial: process it (and store it again)
        return key, stored

    def _result_output(self, record: RawRecord, doc: Document, result: Result) -> Output:
        processing = self._settings.processing
        if result.truncated and processing.truncation == "dlq":
            stage = next(n for n, o in result.outputs.items() if o.truncated)
            failure = _failure(Outcome.TRUNCATED, "max_tokens", "output truncated at max_tokens")
            return self.dead_letter(record, failure, stage=stage, attempts=result.attempts)
        value = result.model_dump_json(by_alias=True).encode("utf-8")
        if len(value) > _payload_budget(self._settings.kafka.max_request_size):
            failure = _failure(
                Outcome.BAD_REQUEST, "output_too_large", f"result is {len(value)} bytes"
            )
            return self.dead_letter(record, failure, attempts=result.attempts)
        return Output(
            topic=self._settings.kafka.topics.results,
            key=doc.id.encode("utf-8"),
            value=value,
            headers=[],
            failure=None,
            attempts=result.attempts,
        )

    def dead_letter(
        self,
        record: RawRecord,
        failure: Failure,
        *,
        stage: str | None = None,
        attempts: int = 0,
        completed: str | None = None,
    ) -> Output:
        if stage is not None or attempts:
            failure = replace(failure, stage=stage or failure.stage, attempts=attempts)
        letter = dead_letter_record(
            record,
            failure,
            group=self._settings.kafka.group_id,
            worker_id=self._settings.processing.worker_id,
            max_bytes=_payload_budget(self._settings.kafka.max_request_size),
            completed=completed,
        )
        return Output(
            topic=self._settings.kafka.topics.dlq,
            key=letter.key,
            value=letter.value,
            headers=letter.headers,
            failure=failure,
            attempts=failure.attempts,
        )


def _failure(outcome: Outcome, error_class: str, message: str) -> Failure:
    now = datetime.now(UTC)
    return Failure(outcome, error_class, message, first_failure_at=now, last_failure_at=now)
