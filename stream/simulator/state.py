"""The simulator's live state: current limits, buckets, faults, RNG, stats, in-flight count.

One object shared by the endpoints. Limits change in three ways — the config at start,
``POST /admin/limits`` and the schedule — and all three go through ``tune`` so a bucket
is resized the same way whichever changed it. The schedule is applied lazily on the
next request (one float comparison per request), which is exact for everything a client
can observe: limits only matter when a request arrives.
"""

from __future__ import annotations

import math
import random
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from stream.simulator.buckets import RateLimiter
from stream.simulator.cache import PromptCache
from stream.simulator.config import TUNABLES, SimulatorConfig, check_tunable, tunable_name
from stream.simulator.faults import FaultBook
from stream.simulator.stats import Stats

__all__ = ["SimState"]


class SimState:
    """Mutable runtime state of one simulator (one event loop, so no locks)."""

    def __init__(
        self, config: SimulatorConfig, now: Callable[[], float], wall: Callable[[], float]
    ) -> None:
        self.config = config
        self.now = now
        self.tunables: dict[str, Any] = {name: getattr(config, name) for name in TUNABLES}
        self.limiter = RateLimiter(
            config.rpm, config.itpm, config.otpm, now, wall, bucket_s=config.bucket_s
        )
        self.cache = PromptCache(now)
        self.rng = random.Random(config.seed)
        self.faults = FaultBook(self.rng)
        self.started = now()
        self.stats = Stats(self.started)
        self.inflight = 0
        self._steps = config.schedule
        self._step_index = 0
        self.next_change_at = self._next_change()
        self._id_prefix = secrets.token_hex(4)
        self._counter = 0

    def begin(self) -> None:
        """Start the clock the schedule and the timeline count from (the server started)."""
        self.started = self.now()
        self.stats = Stats(self.started)
        self._step_index = 0
        self.next_change_at = self._next_change()

    def _next_change(self) -> float:
        if self._step_index < len(self._steps):
            return self.started + self._steps[self._step_index].at_s
        return math.inf

    def refresh(self, now: float) -> None:
        """Apply every schedule step that is due at ``now``."""
        while now >= self.next_change_at:
            self.tune(dict(self._steps[self._step_index].changes))
            self._step_index += 1
            self.next_change_at = self._next_change()

    def tune(self, changes: Mapping[str, Any]) -> None:
        """Change limits/latency/error rate live; validates everything before applying any."""
        checked = {}
        for name, value in changes.items():
            canonical = tunable_name(name)
            checked[canonical] = check_tunable(canonical, value)
        self.tunables.update(checked)
        buckets = {k: v for k, v in checked.items() if k in ("rpm", "itpm", "otpm")}
        if buckets:
            self.limiter.set_limits(
                **{k: None if v is None else int(v) for k, v in buckets.items()}
            )

    def ids(self) -> tuple[str, str]:
        """A fresh (request id, message id) pair."""
        self._counter += 1
        tail = f"{self._id_prefix}{self._counter:016x}"
        return f"req_sim_{tail}", f"msg_sim_{tail}"

    def latency_s(self, output_tokens: int) -> float:
        """base + per-token x tokens, times (1 ± jitter) from the seeded RNG."""
        t = self.tunables
        latency: float = t["base_latency_s"] + t["per_token_latency_s"] * output_tokens
        if latency > 0 and t["jitter"] > 0:
            latency *= 1.0 + t["jitter"] * (2.0 * self.rng.random() - 1.0)
        return latency

    def reset(self) -> None:
        """Fresh stats, forgotten ``*K`` counts, full buckets, an empty prompt cache;
        limits and faults stay."""
        self.stats = Stats(self.now())
        self.cache.clear()
        self.faults.reset_counts()
        self.limiter.refill_all()

    def snapshot(self) -> dict[str, Any]:
        """Everything ``GET /stats`` reports."""
        out = self.stats.snapshot()
        out["inflight"] = self.inflight
        out["cache_read_input_tokens"] = self.cache.reads
        out["cache_creation_input_tokens"] = self.cache.writes
        out["uptime_s"] = round(self.now() - self.started, 3)
        out["limits"] = {**self.tunables, **self.limiter.limits()}
        out["fault"] = (
            None
            if self.faults.global_mode is None
            else {"mode": self.faults.global_mode, "rate": self.faults.global_rate}
        )
        return out
