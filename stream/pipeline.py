"""The stage graph for one document: independent stages in parallel, dependents after.

A pipeline file (YAML, see ``stream/pipelines/``) is validated completely when loaded:
unknown or cyclic dependencies, templates that reference a stage they don't depend on,
a system prompt that tries to include document data, and invalid JSON Schemas are all
PipelineErrors before the first record is read.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from pydantic import ValidationError

from stream.caching.layout import StageLayout, split_at_document
from stream.caching.rules import CACHE_MODES
from stream.calls import Caller, CallRecord
from stream.claude.cost import Cost
from stream.claude.types import CallRequest
from stream.concurrency import LOWEST, Priority
from stream.errors import CallsStopped, Failure, FatalOutcome, Outcome, PipelineError
from stream.models import Document, PipelineSpec, StageSpec, Usage
from stream.templates import Template, TemplateContext, compile_template, delimited

__all__ = [
    "BUILTIN_PIPELINES",
    "CompiledStage",
    "Pipeline",
    "PipelineRun",
    "StageDone",
    "load_pipeline",
    "run_pipeline",
]

BUILTIN_PIPELINES = ("summarize", "triage")


@dataclass(frozen=True, slots=True)
class CompiledStage:
    spec: StageSpec
    user: Template
    model: str
    max_tokens: int
    validator: jsonschema.protocols.Validator | None
    layout: StageLayout


@dataclass(frozen=True, slots=True)
class Pipeline:
    name: str
    stages: Mapping[str, CompiledStage]
    levels: tuple[tuple[str, ...], ...]  # topological layers; a layer runs concurrently
    warm_cache: bool = False
    version: str = ""  # digest of the spec and defaults: what a stored output was made by
    reads_id: bool = False  # some template uses {{ id }}
    reads_metadata: frozenset[str] = frozenset()  # the metadata keys templates use


@dataclass(frozen=True, slots=True)
class StageDone:
    name: str
    text: str
    json_value: Any | None
    record: CallRecord
    attempts: int  # including a JSON-repair attempt
    usage: Usage = field(default_factory=Usage)  # every billed call, a repair included
    cost: Cost = field(default_factory=Cost)
    reused: bool = False  # made by an earlier processing, not called this time


@dataclass(frozen=True, slots=True)
class PipelineRun:
    outputs: Mapping[str, StageDone]
    failure: Failure | None


def load_pipeline(source: str | Path, *, default_model: str, default_max_tokens: int) -> Pipeline:
    """A built-in name (summarize, triage) or a YAML file path."""
    text = _read_source(source)
    try:
        raw = yaml.safe_load(text)
        spec = PipelineSpec.model_validate(raw)
    except yaml.YAMLError as exc:
        raise PipelineError(f"pipeline {source}: not valid YAML ({exc})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PipelineError(f"pipeline {source}: {where}: {first['msg']}") from None
    return compile_pipeline(
        spec, default_model=default_model, default_max_tokens=default_max_tokens
    )


def _read_source(source: str | Path) -> str:
    if isinstance(source, str) and source in BUILTIN_PIPELINES:
        return (resources.files("stream.pipelines") / f"{source}.yaml").read_text("utf-8")
    path = Path(source)
    if not path.is_file():
        raise PipelineError(
            f"pipeline {source}: no such file (built-ins: {', '.join(BUILTIN_PIPELINES)})"
        )
    return path.read_text(encoding="utf-8")


def compile_pipeline(
    spec: PipelineSpec, *, default_model: str, default_max_tokens: int
) -> Pipeline:
    stages: dict[str, CompiledStage] = {}
    shared = compile_template(spec.instructions, where=f"pipeline {spec.name}, instructions")
    if any(not isinstance(p, str) for p in shared.parts):
        raise PipelineError(
            f"pipeline {spec.name}: instructions are constant; document data, metadata and "
            "stage outputs may only appear in a stage's user template"
        )
    for stage in spec.stages:
        if stage.name in stages:
            raise PipelineError(f"pipeline {spec.name}: stage {stage.name!r} defined twice")
        stages[stage.name] = _compile_stage(spec, stage, default_model, default_max_tokens)
    for stage in spec.stages:
        where = f"pipeline {spec.name}, stage {stage.name}"
        for dep in stage.depends_on:
            if dep not in stages:
                raise PipelineError(f"{where}: depends_on unknown stage {dep!r}")
        undeclared = stages[stage.name].user.stage_refs - set(stage.depends_on)
        if undeclared:
            raise PipelineError(
                f"{where}: template uses stages.{sorted(undeclared)[0]} "
                "without depending on it (add it to depends_on)"
            )
    version = hashlib.sha256(
        f"{spec.model_dump_json()}\0{default_model}\0{default_max_tokens}".encode()
    ).hexdigest()[:16]
    parts = [p for stage in stages.values() for p in stage.user.parts if isinstance(p, tuple)]
    return Pipeline(
        spec.name,
        _count_sharing(stages),
        _levels(spec),
        spec.warm_cache,
        version,
        reads_id=("id",) in parts,
        reads_metadata=frozenset(p[1] for p in parts if p[0] == "metadata"),
    )


def _count_sharing(stages: dict[str, CompiledStage]) -> dict[str, CompiledStage]:
    """Tell each stage's layout how many stages send the same prefix through the document."""
    keys = Counter(s.layout.share_key for s in stages.values() if s.layout.share_key)
    return {
        name: replace(stage, layout=replace(stage.layout, sharing=keys[stage.layout.share_key]))
        if stage.layout.share_key
        else stage
        for name, stage in stages.items()
    }


def _compile_stage(
    pipeline: PipelineSpec, stage: StageSpec, default_model: str, default_max_tokens: int
) -> CompiledStage:
    where = f"pipeline {pipeline.name}, stage {stage.name}"
    system = compile_template(stage.system, where=f"{where}, system")
    if system.parts and any(not isinstance(p, str) for p in system.parts):
        raise PipelineError(
            f"{where}: the system prompt is constant; document data, metadata and stage "
            "outputs may only appear in the user template"
        )
    validator = None
    instructions = stage.system
    if stage.output == "json":
        schema = stage.json_schema or {"type": "object"}
        try:
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise PipelineError(f"{where}: json_schema is invalid: {exc.message}") from None
        validator = cls(schema)
        instructions = with_schema(stage.system, schema)
    elif stage.json_schema is not None:
        raise PipelineError(f"{where}: json_schema needs output: json")
    user = compile_template(stage.user, where=f"{where}, user")
    model = stage.model or default_model
    head, tail = split_at_document(user)
    shared = bool(pipeline.instructions)
    layout = StageLayout(
        model=model,
        system=pipeline.instructions if shared else instructions,
        head=head,
        tail=tail,
        instruction=instructions if shared else "",
        ttl=CACHE_MODES[pipeline.cache],
    )
    return CompiledStage(
        spec=stage,
        user=user,
        model=model,
        max_tokens=stage.max_tokens or default_max_tokens,
        validator=validator,
        layout=layout,
    )


def with_schema(instructions: str, schema: Any) -> str:
    """A JSON stage's instructions end with the schema its answer is validated against:
    the model sees the contract (the repair prompt refers to it) and the simulator answers
    with an instance of it. Constant per stage, so it stays inside the cached prefix."""
    block = json.dumps(schema, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return (
        f"{instructions}\n\n<json_schema>\n{block}\n</json_schema>\n"
        "Answer with only a JSON value that is valid against the JSON Schema above."
    ).lstrip()


def _levels(spec: PipelineSpec) -> tuple[tuple[str, ...], ...]:
    remaining = {s.name: set(s.depends_on) for s in spec.stages}
    levels: list[tuple[str, ...]] = []
    placed: set[str] = set()
    while remaining:
        ready = tuple(name for name, deps in remaining.items() if deps <= placed)
        if not ready:
            raise PipelineError(
                f"pipeline {spec.name}: dependency cycle among {', '.join(sorted(remaining))}"
            )
        levels.append(ready)
        placed.update(ready)
        for name in ready:
            del remaining[name]
    return tuple(levels)


class _StageFailed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.error_class)
        self.failure = failure


async def run_pipeline(
    pipeline: Pipeline,
    doc: Document,
    caller: Caller,
    *,
    stream: bool = False,
    priority: Priority = LOWEST,
    reuse: Mapping[str, StageDone] | None = None,
) -> PipelineRun:
    """Run every stage; the first failure cancels the rest of the document's stages.
    Every call of the document waits with ``priority`` (see stream.concurrency.priority).
    Stages in ``reuse`` (finished by an earlier processing) are taken as they are."""
    outputs: dict[str, StageDone] = {
        name: done for name, done in (reuse or {}).items() if name in pipeline.stages
    }

    def run(stage: CompiledStage) -> Coroutine[Any, Any, StageDone]:
        return _run_stage(stage, doc, outputs, caller, stream, priority)

    for level in pipeline.levels:
        failed = await _run_level(pipeline, level, doc, outputs, run)
        if failed is not None:
            return PipelineRun(outputs, failed)
    return PipelineRun(outputs, None)


async def _run_level(
    pipeline: Pipeline,
    level: tuple[str, ...],
    doc: Document,
    outputs: dict[str, StageDone],
    run: Callable[[CompiledStage], Coroutine[Any, Any, StageDone]],
) -> Failure | None:
    """A lone stage (or the cache warmer) runs by itself, the rest in a task group."""
    level = tuple(name for name in level if name not in outputs)  # reused ones are done
    if not level:
        return None
    alone = level[0] if len(level) == 1 else _warmer(pipeline, level, doc, outputs)
    if alone is not None:
        try:
            done = await run(pipeline.stages[alone])
        except _StageFailed as stage_failed:
            return stage_failed.failure
        outputs[done.name] = done
        level = tuple(name for name in level if name != alone)
    if not level:
        return None
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(run(pipeline.stages[n])) for n in level]
    except ExceptionGroup as group_error:
        return _first_failure(group_error)
    for task in tasks:
        done = task.result()
        outputs[done.name] = done
    return None


def _warmer(
    pipeline: Pipeline, level: tuple[str, ...], doc: Document, outputs: Mapping[str, StageDone]
) -> str | None:
    """The stage to run alone first so its siblings read the document prefix it caches:
    the first of this level whose breakpoint after the document another stage of the
    level shares. None when warming is off or nothing would be cached."""
    if not pipeline.warm_cache:
        return None
    layouts = [pipeline.stages[name].layout for name in level]
    keys = Counter(layout.share_key for layout in layouts if layout.share_key)
    ctx = _context(doc, outputs)
    for name, layout in zip(level, layouts, strict=True):
        key = layout.share_key
        if key is not None and keys[key] > 1 and layout.marks_document(ctx):
            return name
    return None


def _first_failure(group_error: ExceptionGroup[Exception]) -> Failure:
    """A stage failure ends the document; a fatal outcome, a drain that stopped calls or
    a bug propagates as itself."""
    for exc in group_error.exceptions:
        if isinstance(exc, (FatalOutcome, CallsStopped)):
            raise exc
    for exc in group_error.exceptions:
        if not isinstance(exc, _StageFailed):
            raise exc
    first = group_error.exceptions[0]
    assert isinstance(first, _StageFailed)
    return first.failure


async def _run_stage(
    stage: CompiledStage,
    doc: Document,
    outputs: Mapping[str, StageDone],
    caller: Caller,
    stream: bool,
    priority: Priority,
) -> StageDone:
    prompt = stage.layout.render(_context(doc, outputs))
    request = CallRequest(
        model=stage.model,
        system=prompt.system,
        user=prompt.user,
        user_parts=prompt.user_parts,
        system_cache=prompt.system_cache,
        max_tokens=stage.max_tokens,
        temperature=stage.spec.temperature,
        stream=stream,
        document_id=doc.id,
        stage=stage.spec.name,
    )
    record = await _call(caller, stage, request, priority)
    name, text = stage.spec.name, record.final.text
    if stage.validator is None:
        return StageDone(name, text, None, record, record.attempts, record.usage, record.cost)
    value, problem = _validate_json(stage, text)
    if problem is None:
        return StageDone(name, text, value, record, record.attempts, record.usage, record.cost)
    if record.outcome is Outcome.TRUNCATED:
        # Cut off, not wrong: a repair would be cut off again. The fix is max_tokens.
        failure = record.failure(stage.spec.name, Outcome.TRUNCATED)
        message = f"JSON output cut off at max_tokens={stage.max_tokens}; raise max_tokens"
        raise _StageFailed(replace(failure, error_class="max_tokens", message=message))
    # One repair attempt, telling the model what was wrong with its output. The problem
    # can quote that output (derived from the document), so it is delimited like it.
    repair = request.with_user(
        f"{request.user}\n\nYour previous answer was not valid: "
        f"{delimited('validation_error', problem)}\n"
        "Answer again with only a JSON value that satisfies the required schema."
    )
    second = await _call(caller, stage, repair, priority)
    value, problem = _validate_json(stage, second.final.text)
    attempts = record.attempts + second.attempts
    if problem is None:
        usage, cost = record.usage + second.usage, record.cost + second.cost
        return StageDone(name, second.final.text, value, second, attempts, usage, cost)
    failure = second.failure(stage.spec.name, Outcome.INVALID_OUTPUT)
    raise _StageFailed(
        replace(
            failure,
            error_class="invalid_json_output",
            message=_dlq_summary(stage, second.final.text),
            attempts=attempts,
        )
    )


def _context(doc: Document, outputs: Mapping[str, StageDone]) -> TemplateContext:
    return TemplateContext(
        document_id=doc.id,
        text=doc.text,
        metadata=doc.metadata or {},
        stage_outputs={name: done.text for name, done in outputs.items()},
    )


async def _call(
    caller: Caller, stage: CompiledStage, request: CallRequest, priority: Priority
) -> CallRecord:
    record = await caller.call(
        request,
        fallback_model=stage.spec.fallback_model,
        fallback_after=stage.spec.fallback_after,
        priority=priority,
    )
    if record.outcome in (Outcome.SUCCESS, Outcome.TRUNCATED):
        return record
    raise _StageFailed(record.failure(stage.spec.name))


def _validate_json(stage: CompiledStage, text: str) -> tuple[Any | None, str | None]:
    """(value, None), or (None, what is wrong): told to the model, so it may quote the output."""
    value, error = _parse_and_check(stage, text)
    if isinstance(error, str):
        return None, error
    if error is not None:
        path = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return None, f"output does not match the schema at {path}: {error.message}"
    return value, None


def _dlq_summary(stage: CompiledStage, text: str) -> str:
    """What is wrong, for the DLQ: the output is derived from the document, so only names
    from our own schema are shown (the schema path and the rule that failed), never its
    values or keys."""
    _, error = _parse_and_check(stage, text)
    if error is None or isinstance(error, str):
        return error or "output is not valid"
    rule = "/".join(str(p) for p in error.absolute_schema_path) or "(root)"
    return f"output does not match the schema: rule {rule} failed"


def _parse_and_check(
    stage: CompiledStage, text: str
) -> tuple[Any | None, str | jsonschema.ValidationError | None]:
    assert stage.validator is not None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"output is not JSON ({exc.msg} at char {exc.pos})"
    except (ValueError, RecursionError):  # a 4301-digit number, nesting past the parser
        return None, "output is JSON that cannot be decoded (a number too long or too deep)"
    return value, jsonschema.exceptions.best_match(stage.validator.iter_errors(value))
