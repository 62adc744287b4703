"""``make_client``: choose real Claude or the simulator from Settings, without importing
the SDK until a client is really built (so ``import stream.claude`` stays cheap).

Selection: ``claude.base_url`` set -> that endpoint (the local simulator, or a proxy),
with the API key if there is one; else an API key -> ``https://api.anthropic.com``;
neither -> ``ConfigError`` naming what to set (the command stops with exit code 2).
``ANTHROPIC_BASE_URL`` is not consulted: the endpoint is always the one the settings show.
"""

from __future__ import annotations

from stream.claude.types import ClaudeClient
from stream.config import ConfigError, Settings

__all__ = ["ANTHROPIC_API_URL", "make_client", "make_client_warming"]

ANTHROPIC_API_URL = "https://api.anthropic.com"
# The simulator ignores credentials, but the SDK refuses to send a request without one.
_SIMULATOR_KEY = "docstream-simulator-no-key"

_NO_ENDPOINT = (
    "no ANTHROPIC_API_KEY and no claude.base_url: set ANTHROPIC_API_KEY (or "
    "DOCSTREAM_CLAUDE__API_KEY, or claude.api_key_file) to call api.anthropic.com, or set "
    "claude.base_url (DOCSTREAM_CLAUDE__BASE_URL, e.g. the simulator's http://127.0.0.1:PORT)"
)


def make_client(settings: Settings, *, pool_size: int) -> ClaudeClient:
    """A ready client for these settings; ``pool_size`` = the worker's max concurrency."""
    from stream.claude.classify import output_cap_for
    from stream.claude.client import AnthropicClaudeClient

    key, base_url = _endpoint(settings)
    return AnthropicClaudeClient(
        api_key=key if key is not None else _SIMULATOR_KEY,
        base_url=base_url if base_url is not None else ANTHROPIC_API_URL,
        pool_size=pool_size,
        timeout_s=settings.claude.timeout_s,
        connect_timeout_s=settings.claude.connect_timeout_s,
        max_output_bytes=output_cap_for(settings.kafka.max_request_size),
    )


def make_client_warming(settings: Settings, *, pool_size: int) -> ClaudeClient:
    """``make_client``, built in a background thread (``WarmingClaudeClient``); bad
    settings still raise ``ConfigError`` here, at once."""
    from stream.claude.warming import WarmingClaudeClient

    _endpoint(settings)
    return WarmingClaudeClient(lambda: make_client(settings, pool_size=pool_size))


def _endpoint(settings: Settings) -> tuple[str | None, str | None]:
    key = settings.api_key()
    base_url = settings.claude.base_url
    if base_url is None and key is None:
        raise ConfigError(_NO_ENDPOINT)
    return key, base_url
