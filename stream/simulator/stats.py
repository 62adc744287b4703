"""What the simulator saw: totals per status and a per-second timeline.

Benchmarks read this to check the server's side of the story (how many 429s it really
sent, how many requests were in flight at once) instead of trusting the client. A
request is counted under ``requests`` when it arrives and under its status when its
answer is complete, so with 1 s latency the two columns are a second apart.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Final

__all__ = ["Stats"]

_FIELDS: Final = (
    "requests",
    "ok",
    "429",
    "529",
    "5xx",
    "4xx",
    "dropped",
    "stream_errors",
    "inflight_max",
    "output_tokens",
)
_REQUESTS, _OK, _R429, _R529, _R5XX, _R4XX, _DROPPED, _STREAM_ERR, _INFLIGHT, _OUT = range(10)
_MAX_SECONDS: Final = 24 * 3600


class Stats:
    """Counters; ``now`` values are seconds on the server's clock."""

    def __init__(self, now: float) -> None:
        self.started = now
        self.statuses: Counter[int] = Counter()
        self.requests = 0
        self.dropped = 0
        self.stream_errors = 0
        self.output_tokens = 0
        self.highest_inflight = 0
        self.first_request_s: float | None = None  # after ``started``, to the microsecond
        self._seconds: dict[int, list[int]] = {}
        self._second = -1
        self._row: list[int] = []

    def _at(self, now: float) -> list[int]:
        second = int(now - self.started)
        if second != self._second:
            if second not in self._seconds and len(self._seconds) >= _MAX_SECONDS:
                del self._seconds[min(self._seconds)]
            self._row = self._seconds.setdefault(second, [0] * len(_FIELDS))
            self._second = second
        return self._row

    def arrived(self, now: float) -> None:
        """A Messages request arrived."""
        self.requests += 1
        if self.first_request_s is None:
            self.first_request_s = now - self.started
        self._at(now)[_REQUESTS] += 1

    def answered(self, now: float, status: int, output_tokens: int = 0) -> None:
        """A response with ``status`` was completely sent."""
        self.statuses[status] += 1
        row = self._at(now)
        if status == 200:
            row[_OK] += 1
            row[_OUT] += output_tokens
            self.output_tokens += output_tokens
        elif status == 429:
            row[_R429] += 1
        elif status == 529:
            row[_R529] += 1
        elif status >= 500:
            row[_R5XX] += 1
        elif status >= 400:
            row[_R4XX] += 1

    def admitted(self, now: float, inflight: int) -> None:
        """Track the highest concurrency seen (called when a request is admitted)."""
        row = self._at(now)
        if inflight > row[_INFLIGHT]:
            row[_INFLIGHT] = inflight
        if inflight > self.highest_inflight:
            self.highest_inflight = inflight

    def stream_error(self, now: float) -> None:
        """An ``event: error`` was sent inside a 200 stream."""
        self.stream_errors += 1
        self._at(now)[_STREAM_ERR] += 1

    def dropped_connection(self, now: float) -> None:
        """No complete answer: the client left, or a ``reset``/``hang`` fault fired."""
        self.dropped += 1
        self._at(now)[_DROPPED] += 1

    def snapshot(self) -> dict[str, Any]:
        """Totals and the per-second timeline (seconds with no traffic filled with zeros)."""
        timeline: list[dict[str, int]] = []
        if self._seconds:
            first, last = min(self._seconds), max(self._seconds)
            empty = [0] * len(_FIELDS)
            for second in range(first, last + 1):
                row = self._seconds.get(second, empty)
                timeline.append({"t": second, **dict(zip(_FIELDS, row, strict=True))})
        return {
            "requests_total": self.requests,
            "status_counts": {str(code): n for code, n in sorted(self.statuses.items())},
            "dropped": self.dropped,
            "stream_errors": self.stream_errors,
            "output_tokens": self.output_tokens,
            "highest_concurrency": self.highest_inflight,
            "first_request_s": self.first_request_s,
            "timeline": timeline,
        }
