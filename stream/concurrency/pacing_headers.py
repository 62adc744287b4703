"""Reading the ``anthropic-ratelimit-*`` headers (split from ``pacing``: one job each)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime

__all__ = ["bucket_header", "parse_rfc3339"]


def bucket_header(lower: Mapping[str, str], kind: str) -> tuple[int | None, int | None, str | None]:
    """(limit, remaining, reset) of one bucket ``kind`` from lower-cased header names."""
    prefix = f"anthropic-ratelimit-{kind}-"
    return (
        _parse_int(lower.get(prefix + "limit")),
        _parse_int(lower.get(prefix + "remaining")),
        lower.get(prefix + "reset"),
    )


def _parse_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return int(number) if math.isfinite(number) else None


def parse_rfc3339(value: str | None) -> float | None:
    """Seconds since the epoch of an RFC 3339 time (naive times are taken as UTC)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
