"""Reading the ``anthropic-ratelimit-*`` headers (split from ``pacing``: one job each)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime

__all__ = ["bucket_header", "parse_rfc3339", "short_bucket"]


def bucket_header(lower: Mapping[str, str], kind: str) -> tuple[int | None, int | None, str | None]:
    """(limit, remaining, reset) of one bucket ``kind`` from lower-cased header names."""
    prefix = f"anthropic-ratelimit-{kind}-"
    return (
        _parse_int(lower.get(prefix + "limit")),
        _parse_int(lower.get(prefix + "remaining")),
        lower.get(prefix + "reset"),
    )


def short_bucket(headers: Mapping[str, str], amounts: Mapping[str, float]) -> str | None:
    """The bucket kind whose ``remaining`` in a 429's own headers is below what the call
    asked of it (``amounts`` by kind), or None when every advertised bucket had room:
    then the 429 came from something the headers do not describe (an acceleration
    limit, a limit not advertised)."""
    lower = {name.lower(): value for name, value in headers.items()}
    for kind, amount in amounts.items():
        limit, remaining, _ = bucket_header(lower, kind)
        if limit is not None and remaining is not None and remaining < amount:
            return kind
    return None


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
