"""``docstream pipeline validate FILE`` and ``docstream pipeline try FILE --doc TEXT``."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click

from stream.cli.common import CliState, build_settings, fail, fail_with, pass_state
from stream.config import Settings
from stream.errors import DocstreamError

__all__ = ["pipeline"]

_SIMULATOR_HELP = (
    "Answer with the built-in Messages API simulator (default: when neither claude.base_url "
    "nor an API key is set); --no-simulate uses the configured endpoint."
)


@click.group("pipeline")
def pipeline() -> None:
    """Check a pipeline file and try it on one document."""


@pipeline.command("validate")
@click.argument("file", type=click.Path(dir_okay=False))
@pass_state
def validate(state: CliState, file: str) -> None:
    """Load FILE as `run --pipeline FILE` would and say what it will do (exit 2 if invalid)."""
    from stream.pipeline_try import describe_pipeline, load

    settings = build_settings(state)
    _require_file(file)
    try:
        loaded = load(settings, file)
    except DocstreamError as exc:
        fail_with(exc)
    for line in describe_pipeline(loaded):
        click.echo(line)
    click.echo("ok")


@pipeline.command("try")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--doc", "text", required=True, help="The document text; - reads stdin, @PATH a file."
)
@click.option("--id", "doc_id", default="try-1", show_default=True, help="The document id.")
@click.option("--metadata", multiple=True, metavar="KEY=VALUE", help="Metadata (repeatable).")
@click.option("--simulate/--no-simulate", default=None, help=_SIMULATOR_HELP)
@pass_state
def try_cmd(
    state: CliState,
    file: str,
    text: str,
    doc_id: str,
    metadata: tuple[str, ...],
    simulate: bool | None,
) -> None:
    """Run one document through FILE, printing each stage's request and answer.

    Exit 0 with a result, 1 when the document would be dead-lettered, 2 for a bad file."""
    settings = build_settings(state)
    _require_file(file)
    document = {"id": doc_id, "text": _read_text(text), "metadata": _metadata(metadata)}
    if simulate is None:
        simulate = settings.claude.base_url is None and settings.api_key() is None
    try:
        outcome = asyncio.run(_try(settings, file, document, simulate))
    except DocstreamError as exc:
        fail_with(exc)
    sys.exit(_print_outcome(outcome))


async def _try(settings: Settings, file: str, document: dict[str, Any], simulate: bool) -> Any:
    from stream.pipeline_try import Exchange, try_pipeline

    attempts: Counter[str] = Counter()

    def show(exchange: Exchange) -> None:
        attempts[exchange.request.stage] += 1
        _print_exchange(exchange, attempts[exchange.request.stage])

    if not simulate:
        endpoint = settings.claude.base_url or "api.anthropic.com"
        click.echo(f"Claude at {endpoint}", err=True)
        return await try_pipeline(settings, file, document, show)
    from stream.simulator import SimulatorServer

    async with SimulatorServer() as simulator:
        click.echo(f"built-in simulator at {simulator.base_url}", err=True)
        simulated = settings.model_copy(
            update={"claude": settings.claude.model_copy(update={"base_url": simulator.base_url})}
        )
        return await try_pipeline(simulated, file, document, show)


def _print_exchange(exchange: Any, attempt: int) -> None:
    request, result = exchange.request, exchange.result
    usage = result.usage
    status = result.outcome.value + (f" ({result.finish_reason})" if result.finish_reason else "")
    click.echo(
        f"── stage {request.stage} · attempt {attempt} · {request.model} · {status} · "
        f"{usage.input_tokens} in / {usage.output_tokens} out ──"
    )
    click.echo(_block("system", request.system or "(none)"))
    click.echo(_block("user", request.user))
    answer = result.text if result.ok else f"{result.error_class}: {result.error_message}"
    click.echo(_block("answer", answer))


def _block(title: str, body: str) -> str:
    lines = body.splitlines() or [""]
    return f"{title}:\n" + "\n".join(f"  {line}" for line in lines)


def _print_outcome(outcome: Any) -> int:
    from stream.models import DeadLetter

    if isinstance(outcome, DeadLetter):
        where = f" at stage {outcome.stage}" if outcome.stage else ""
        reason = f"{outcome.outcome}/{outcome.error_class}: {outcome.error_message}"
        click.echo(f"dead-lettered{where}: {reason}")
        return 1
    outputs = {
        name: out.json_output if out.json_output is not None else out.text
        for name, out in outcome.outputs.items()
    }
    click.echo("result: " + json.dumps(outputs, indent=2, ensure_ascii=False))
    usage = outcome.usage
    click.echo(
        f"{outcome.attempts} attempts · {usage.input_tokens} in / {usage.output_tokens} out "
        f"tokens · ${outcome.cost_usd:.5f}"
    )
    return 0


def _require_file(file: str) -> None:
    if not Path(file).is_file():
        fail(f"pipeline {file}: no such file")


def _read_text(text: str) -> str:
    if text == "-":
        return sys.stdin.read()
    if text.startswith("@"):
        try:
            return Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"--doc {text}: {exc.strerror}")
    return text


def _metadata(pairs: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--metadata {pair!r}: expected KEY=VALUE")
        found[key] = value
    return found
