"""The Claude boundary: the only package that imports ``anthropic``.

Everything else depends on ``ClaudeClient`` and the frozen values ``CallRequest`` /
``CallResult``; failures arrive already classified into ``stream.errors.Outcome`` by
``stream.claude.classify``. Importing this package does not import the SDK:
``make_client`` loads ``stream.claude.client`` only when a real client is built.
"""

from __future__ import annotations

from stream.claude.cost import cost_usd, estimate_input_tokens, price_for
from stream.claude.factory import make_client, make_client_warming
from stream.claude.instant import InstantClaudeClient
from stream.claude.types import CallFailed, CallRequest, CallResult, ClaudeClient

__all__ = [
    "CallFailed",
    "CallRequest",
    "CallResult",
    "ClaudeClient",
    "InstantClaudeClient",
    "cost_usd",
    "estimate_input_tokens",
    "make_client",
    "make_client_warming",
    "price_for",
]
