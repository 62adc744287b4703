"""Which models are deprecated, and when they reach end-of-life: our own table.

The SDK keeps a list like this in a private module and warns with ``DeprecationWarning``
on every call; we neither import its internals nor rely on its warning (invisible in
production, an exception under ``-W error``). The operator is told once per model, in
the log. Review the table when the lock is refreshed (``make lock-upgrade``) against
Anthropic's model-deprecations page; a name matches itself and its dated snapshots.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["DEPRECATED_MODELS", "SDK_DEPRECATION_MESSAGE", "end_of_life"]

DEPRECATED_MODELS: Mapping[str, str] = MappingProxyType(
    {
        "claude-mythos-preview": "2026-06-30",
        "claude-opus-4-5": "2027-01-22",
        "claude-3-7-sonnet": "2026-02-19",
        "claude-3-5-haiku": "2026-02-19",
        "claude-3-haiku": "2026-04-20",
        "claude-opus-4-0": "2026-06-15",
        "claude-opus-4-1": "2026-08-20",
    }
)

# The text of the SDK's own per-call warning, filtered so -W error cannot fail a call.
SDK_DEPRECATION_MESSAGE = r"The model '.*' is deprecated and will reach end-of-life"


def end_of_life(model: str) -> str | None:
    """The end-of-life date of ``model`` (or of the alias its snapshot name extends)."""
    for name, date in DEPRECATED_MODELS.items():
        if model == name or model.startswith(name + "-"):
            return date
    return None
