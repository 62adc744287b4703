"""The live progress panel: throughput, lag, in-flight vs limit, 429s, tokens and spend.

Three pieces, each testable without a terminal:

- ``ProgressTracker`` turns monotonically increasing counters into rates over a sliding
  window, with an injected clock (so tests need no sleeping).
- ``build_snapshot`` makes a ``ProgressSnapshot`` from ``Metrics.totals()`` plus the
  worker's live figures (in flight, limit, lag) and its state (``stream.worker_state``:
  joining, running, waiting for budget and which, paused and why, draining, done).
- ``render(snapshot)`` draws it; ``LiveProgress`` keeps it on screen with ``rich.live``.

Rates are estimates over the tracker's window: until it holds ``MIN_RATE_WINDOW_S`` of
samples the panel says "measuring" instead of extrapolating a few seconds to a minute
or an ETA, and afterwards it marks them as estimates (≈, "est.") with their window.

``LiveProgress`` can run two ways. ``with LiveProgress(source):`` refreshes on rich's own
thread, so ``source`` must be safe to call from another thread (reading counters is).
``async with LiveProgress(source):`` refreshes from a task on the running event loop, so
``source`` may read loop-owned state freely; prefer it inside the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType

from rich.console import Console, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from stream.telemetry.metrics import MetricTotals
from stream.worker_state import RUNNING, Phase, WorkerState

__all__ = [
    "MIN_RATE_WINDOW_S",
    "LiveProgress",
    "ProgressSnapshot",
    "ProgressTracker",
    "build_snapshot",
    "format_compact",
    "format_duration",
    "format_usd",
    "render",
]


@dataclass(frozen=True, slots=True)
class ProgressSnapshot:
    elapsed_s: float
    processed: int
    results: int
    dead_lettered: int
    inflight: int
    limit: int
    lag: int | None
    rate_per_s: float
    rate_limited: int
    overloaded: int
    tokens_per_min: float
    cost_per_min_usd: float
    cost_total_usd: float
    eta_s: float | None
    state: WorkerState = RUNNING
    rate_window_s: float = 0.0  # seconds of samples behind the rates
    budgets: tuple[tuple[str, float, float], ...] = ()  # (window, USD left now, budget)


# Shorter than this, a rate is a guess: the panel says "measuring" rather than showing it.
MIN_RATE_WINDOW_S = 10.0


class ProgressTracker:
    """Rates of counters over the last ``window_s`` seconds.

    ``sample({"processed": n, ...})`` records the counters at ``clock()``. ``rate(name)``
    is the increase per second between the oldest sample still describing the window
    (the newest one at or before its start) and the newest sample. A counter that went
    down (a restart) starts a fresh window, so rates are never negative.
    """

    def __init__(self, window_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        self._window_s = window_s
        self._clock = clock
        self._samples: deque[tuple[float, dict[str, float]]] = deque()

    def sample(self, counters: Mapping[str, float]) -> None:
        now = self._clock()
        values = dict(counters)
        if self._samples and any(
            values.get(name, value) < value for name, value in self._samples[-1][1].items()
        ):
            self._samples.clear()
        self._samples.append((now, values))
        start = now - self._window_s
        while len(self._samples) >= 2 and self._samples[1][0] <= start:
            self._samples.popleft()

    def rate(self, name: str) -> float | None:
        """Increase of ``name`` per second over the window; None until two samples."""
        if len(self._samples) < 2:
            return None
        (t0, first), (t1, last) = self._samples[0], self._samples[-1]
        if t1 <= t0 or name not in first or name not in last:
            return None
        return (last[name] - first[name]) / (t1 - t0)

    @property
    def span_s(self) -> float:
        """Seconds between the oldest and the newest sample the rates use."""
        if len(self._samples) < 2:
            return 0.0
        return self._samples[-1][0] - self._samples[0][0]

    def per_minute(self, name: str) -> float | None:
        rate = self.rate(name)
        return None if rate is None else rate * 60.0

    def eta_s(self, remaining: int | None, name: str = "processed") -> float | None:
        """Seconds to work off ``remaining`` (e.g. the lag) at the current rate."""
        if remaining is None:
            return None
        if remaining <= 0:
            return 0.0
        rate = self.rate(name)
        return remaining / rate if rate else None


def build_snapshot(
    totals: MetricTotals,
    tracker: ProgressTracker,
    *,
    elapsed_s: float,
    inflight: int,
    limit: int,
    lag: int | None,
    state: WorkerState | None = None,
    budgets: Mapping[str, tuple[float, float]] | None = None,
) -> ProgressSnapshot:
    """Sample ``totals`` into ``tracker`` and assemble the panel's figures."""
    tracker.sample(
        {"processed": totals.processed, "tokens": totals.tokens, "cost": totals.cost_usd}
    )
    return ProgressSnapshot(
        elapsed_s=elapsed_s,
        processed=totals.processed,
        results=totals.results,
        dead_lettered=totals.dead_lettered,
        inflight=inflight,
        limit=limit,
        lag=lag,
        rate_per_s=tracker.rate("processed") or 0.0,
        rate_limited=totals.rate_limited,
        overloaded=totals.overloaded,
        tokens_per_min=tracker.per_minute("tokens") or 0.0,
        cost_per_min_usd=tracker.per_minute("cost") or 0.0,
        cost_total_usd=totals.cost_usd,
        eta_s=tracker.eta_s(lag),
        state=state or RUNNING,
        rate_window_s=tracker.span_s,
        budgets=tuple((w, left, total) for w, (left, total) in (budgets or {}).items()),
    )


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def format_compact(value: float) -> str:
    """12 -> "12", 45_600 -> "45.6k", 3_200_000 -> "3.2M"."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:.0f}"


def format_usd(value: float) -> str:
    return f"${value:,.2f}" if abs(value) >= 1 else f"${value:.4f}"


# Title colour per phase: red only for a pause that needs a person.
_PHASE_STYLE = {
    Phase.JOINING: "yellow",
    Phase.RUNNING: "cyan",
    Phase.WAITING: "yellow",
    Phase.PAUSED: "red",
    Phase.DRAINING: "yellow",
    Phase.DONE: "green",
}


def render(snapshot: ProgressSnapshot) -> RenderableType:
    """The panel for one snapshot (a rich renderable; print it to any Console)."""
    s = snapshot
    estimated = s.rate_window_s >= MIN_RATE_WINDOW_S
    window = f"(est., last {format_duration(s.rate_window_s)})"
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row(
        "processed",
        f"{s.processed:,}  (results {s.results:,} · DLQ {s.dead_lettered:,})",
    )
    grid.add_row(
        "throughput", f"≈ {s.rate_per_s:,.1f} docs/s {window}" if estimated else "measuring…"
    )
    lag = "—" if s.lag is None else f"{s.lag:,}"
    eta = f"ETA ≈ {format_duration(s.eta_s)} (est.)" if estimated else "ETA —"
    grid.add_row("lag", f"{lag}  {eta}")
    grid.add_row("in flight", f"{s.inflight:,} / limit {s.limit:,}")
    grid.add_row("429 / 529", f"{s.rate_limited:,} / {s.overloaded:,}")
    grid.add_row(
        "tokens/min", f"≈ {format_compact(s.tokens_per_min)}" if estimated else "measuring…"
    )
    per_minute = f"≈ {format_usd(s.cost_per_min_usd)}/min  ·  " if estimated else ""
    grid.add_row("cost", f"{per_minute}{format_usd(s.cost_total_usd)} total")
    for window, left, total in s.budgets:
        grid.add_row(
            f"budget/{window}",
            f"{format_usd(max(left, 0.0))} left of {format_usd(total)} "
            f"({max(left, 0.0) / total:.0%}; calls wait at 0)",
        )
    grid.add_row("elapsed", format_duration(s.elapsed_s))
    style = _PHASE_STYLE[s.state.phase]
    title = Text(f"docstream — {s.state.title}", style=f"bold {style}")
    return Panel(grid, title=title, border_style=style, expand=False)


def _render_or_explain(source: Callable[[], ProgressSnapshot]) -> RenderableType:
    """A failing source must not kill the refresh loop or the worker."""
    try:
        return render(source())
    except Exception as exc:
        return Text(f"progress unavailable ({type(exc).__name__})", style="yellow")


class LiveProgress:
    """Keeps ``render(source())`` on the terminal, refreshed every ``refresh_s``."""

    def __init__(
        self,
        source: Callable[[], ProgressSnapshot],
        *,
        refresh_s: float = 0.5,
        console: Console | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._source = source
        self._refresh_s = refresh_s
        self._console = console if console is not None else Console(stderr=True)
        self._sleep = sleep
        self._live: Live | None = None
        self._task: asyncio.Task[None] | None = None

    def refresh(self) -> None:
        """Draw one frame now (the async mode calls this every ``refresh_s``)."""
        if self._live is not None:
            self._live.update(_render_or_explain(self._source), refresh=True)

    def __enter__(self) -> LiveProgress:
        self._live = Live(
            console=self._console,
            refresh_per_second=1.0 / self._refresh_s,
            get_renderable=lambda: _render_or_explain(self._source),
        )
        self._live.start(refresh=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    async def __aenter__(self) -> LiveProgress:
        self._live = Live(console=self._console, auto_refresh=False)
        self._live.start(refresh=False)
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.refresh()  # the final figures stay on screen
        self._stop()

    async def _run(self) -> None:
        while True:
            self.refresh()
            await self._sleep(self._refresh_s)

    def _stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
