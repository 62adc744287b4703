"""``docstream bench steady|tight|shift|...``: the adaptive controller vs a fixed limit.

Each scenario runs the real worker (in its own process, the real SDK client) against the
simulator (in its own process) with some server-side limit, once per *variant*: the
adaptive controller (``--algorithm aimd``, ``token_latency`` or ``both``) and a fixed
concurrency baseline (``--baseline-concurrency``, 0 to skip). For each it prints the
documents/s in the measured window, the ideal of design.md section 8 and the ratio, the
429s and 529s the simulator sent (in total and inside the window), the mean limit and
in-flight count, and the books: every published offset is joined to its result or DLQ
record by reading both topics back, and an offset below the committed position with
neither is *lost*. A PNG chart per scenario (``scenario_chart``) and the raw samples go
to ``--out``.

| scenario      | simulator                                              | workers |
|---------------|--------------------------------------------------------|---------|
| steady        | 3000 RPM, 1 s latency                                  | 1       |
| tight         | 600 RPM, 1 s latency                                   | 1       |
| shift         | 3000 -> 1200 RPM at 1/3 of the run -> 3000 RPM at 2/3  | 1       |
| overload      | no RPM limit, 529 beyond 64 in flight, 1 s latency     | 1       |
| flaky         | 3000 RPM, 1 s latency, 5 % random 500s                 | 1       |
| multi-worker  | 3000 RPM, 1 s latency, one limit shared                | 3       |

Targets (design.md section 8) are checked for the adaptive runs and printed as PASS or
MISS; they are benchmarks, not tests. The command exits 1 only if a document was lost.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from stream.bench.scenario_chart import draw_scenario
from stream.bench.scenario_report import RunFigures, figures
from stream.bench.scenario_runner import RunResult, Scenario, Variant, run_variant
from stream.bench.scenario_text import format_table
from stream.cli.common import CliState, build_settings, fail, pass_state
from stream.concurrency import LIMIT_ALGORITHMS
from stream.config import Settings
from stream.embedded import EmbeddedBroker
from stream.errors import DocstreamError

__all__ = [
    "SCENARIOS",
    "ScenarioOutcome",
    "flaky",
    "multi_worker",
    "overload",
    "run_scenario",
    "shift",
    "steady",
    "tight",
    "variants_for",
]

_F = TypeVar("_F", bound=Callable[..., Any])

_ADAPTIVE = [name for name, algorithm in LIMIT_ALGORITHMS.items() if algorithm.adaptive]

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("steady", "3000 RPM, 1 s latency", rpm=3000),
        Scenario("tight", "600 RPM, 1 s latency", rpm=600),
        Scenario(
            "shift",
            "3000 -> 1200 -> 3000 RPM, 1 s latency",
            rpm=3000,
            changes=((1 / 3, 1200), (2 / 3, 3000)),
        ),
        Scenario("overload", "no RPM limit, 529 beyond 64 in flight", rpm=None, max_concurrency=64),
        Scenario("flaky", "3000 RPM, 1 s latency, 5% random 500s", rpm=3000, error_rate=0.05),
        Scenario("multi-worker", "three workers on one 3000 RPM limit", rpm=3000, workers=3),
    )
}


@dataclass(slots=True)
class ScenarioOutcome:
    """The runs of one scenario, their figures and where the chart went."""

    scenario: Scenario
    runs: list[RunResult]
    figures: list[RunFigures]
    chart: Path | None

    @property
    def lost(self) -> int:
        return sum(f.lost for f in self.figures)

    def title(self) -> str:
        f = self.figures[0] if self.figures else None
        window = f"; window {f.warmup_s:g}-{f.duration_s:g} s" if f else ""
        workers = f"{self.scenario.workers} worker" + ("s" if self.scenario.workers > 1 else "")
        return f"{self.scenario.name}: {self.scenario.title}; {workers}{window}"


def variants_for(algorithm: str, baseline: int) -> list[Variant]:
    """The adaptive variant(s), then the fixed baseline (``baseline`` 0 = none)."""
    algorithms = _ADAPTIVE if algorithm == "both" else [algorithm]
    out = [Variant(a) for a in algorithms]
    if baseline > 0:
        out.append(Variant("fixed", baseline))
    return out


async def run_scenario(
    base: Settings,
    scenario: Scenario,
    variants: Sequence[Variant],
    *,
    duration_s: float,
    warmup_s: float,
    out_dir: Path,
    finish: bool = True,
    chart: bool = True,
) -> ScenarioOutcome:
    """Run every variant one after the other, then compute, chart and save the figures."""
    runs = []
    for variant in variants:
        runs.append(
            await run_variant(
                base,
                scenario,
                variant,
                duration_s=duration_s,
                warmup_s=min(warmup_s, duration_s / 2),
                out_dir=out_dir / scenario.name / variant.label,
                finish=finish,
            )
        )
    outcome = ScenarioOutcome(scenario, runs, [figures(r) for r in runs], None)
    if chart:
        outcome.chart = draw_scenario(runs, out_dir / f"{scenario.name}.png", outcome.title())
    report = {"title": outcome.title(), "runs": [f.as_json() for f in outcome.figures]}
    (out_dir / f"{scenario.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    return outcome


def _options(func: _F) -> _F:
    decorators: list[Callable[[Any], Any]] = [
        click.option(
            "--duration",
            default=60.0,
            show_default=True,
            type=click.FloatRange(min=2.0),
            help="Seconds per run, from the first dispatched record.",
        ),
        click.option(
            "--warmup",
            default=10.0,
            show_default=True,
            type=click.FloatRange(min=0.0),
            help="Seconds left out of the measured window (at most half the duration).",
        ),
        click.option(
            "--algorithm",
            type=click.Choice([*_ADAPTIVE, "both"]),
            default="aimd",
            show_default=True,
            help="Adaptive limit algorithm(s) to run.",
        ),
        click.option(
            "--baseline-concurrency",
            default=32,
            show_default=True,
            type=click.IntRange(min=0),
            help="Fixed concurrency of the baseline run, per worker (0 = no baseline).",
        ),
        click.option(
            "--out",
            "out_dir",
            default=Path("bench-out"),
            show_default=True,
            type=click.Path(path_type=Path, file_okay=False),
            help="Directory for the PNG chart, the JSON figures and the raw samples.",
        ),
        click.option(
            "--finish/--no-finish",
            default=True,
            show_default=True,
            help="After the duration, let the workers drain the backlog so that every "
            "published offset must have a result or DLQ record.",
        ),
        click.option("--partitions", default=6, show_default=True, type=click.IntRange(min=1)),
        click.option("--bootstrap", default=None, help="Use this Kafka cluster, not the embedded."),
        click.option("--no-chart", is_flag=True, help="Skip the PNG chart (no matplotlib needed)."),
        click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON."),
        pass_state,
    ]
    wrapped: Any = func
    for decorator in reversed(decorators):
        wrapped = decorator(wrapped)
    return wrapped  # type: ignore[no-any-return]


def _bench_overrides(bootstrap: str, embedded: bool, partitions: int) -> dict[str, Any]:
    values: dict[str, Any] = {
        "kafka.bootstrap_servers": bootstrap,
        "kafka.topics.partitions": partitions,
    }
    if embedded:  # Tansu's group join waits half the session timeout
        values.update(
            {
                "kafka.profile": "embedded",
                "kafka.session_timeout_ms": 2000,
                "kafka.heartbeat_interval_ms": 500,
            }
        )
    return values


def _run_command(state: CliState, name: str, **opts: Any) -> None:
    scenario = SCENARIOS[name]
    broker = EmbeddedBroker() if opts["bootstrap"] is None else None
    try:
        address = broker.start() if broker is not None else str(opts["bootstrap"])
        base = build_settings(
            state, _bench_overrides(address, broker is not None, opts["partitions"])
        )
        outcome = asyncio.run(
            run_scenario(
                base,
                scenario,
                variants_for(opts["algorithm"], opts["baseline_concurrency"]),
                duration_s=opts["duration"],
                warmup_s=opts["warmup"],
                out_dir=opts["out_dir"],
                finish=opts["finish"],
                chart=not opts["no_chart"],
            )
        )
    except DocstreamError as exc:
        fail(str(exc), code=1)
    finally:
        if broker is not None:
            broker.stop()
    if opts["as_json"]:
        runs = [f.as_json() for f in outcome.figures]
        click.echo(json.dumps({"title": outcome.title(), "runs": runs}, indent=2))
    else:
        click.echo(format_table(outcome.title(), outcome.figures))
        if outcome.chart is not None:
            click.echo(f"chart: {outcome.chart}")
    if outcome.lost:
        raise SystemExit(1)


@click.command()
@_options
def steady(state: CliState, **opts: Any) -> None:
    """3000 RPM, 1 s latency: >= 95% of ideal, 429s <= 1% after the warm-up."""
    _run_command(state, "steady", **opts)


@click.command()
@_options
def tight(state: CliState, **opts: Any) -> None:
    """600 RPM, 1 s latency: a limit far below what the worker could do."""
    _run_command(state, "tight", **opts)


@click.command()
@_options
def shift(state: CliState, **opts: Any) -> None:
    """3000 -> 1200 -> 3000 RPM: back within 5% of the new ideal within 10 s each way."""
    _run_command(state, "shift", **opts)


@click.command()
@_options
def overload(state: CliState, **opts: Any) -> None:
    """No RPM limit, 529 beyond 64 in flight: >= 90% of ideal, 529s <= 2%."""
    _run_command(state, "overload", **opts)


@click.command()
@_options
def flaky(state: CliState, **opts: Any) -> None:
    """3000 RPM with 5% random 500s: retries, no document lost."""
    _run_command(state, "flaky", **opts)


@click.command("multi-worker")
@_options
def multi_worker(state: CliState, **opts: Any) -> None:
    """Three worker processes on one 3000 RPM limit: >= 90% aggregate, nobody starved."""
    _run_command(state, "multi-worker", **opts)
