"""make_client: real Claude vs simulator selection, and a cheap package import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stream.claude import make_client
from stream.config import ConfigError, load_settings


@pytest.fixture(autouse=True)
def _no_ambient_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("DOCSTREAM_CLAUDE__API_KEY", raising=False)
    monkeypatch.delenv("DOCSTREAM_CLAUDE__BASE_URL", raising=False)


def test_make_client_without_key_or_base_url_is_a_config_error_naming_both() -> None:
    """Neither a key nor a base_url stops the command as bad configuration, saying what to set."""
    with pytest.raises(ConfigError) as caught:
        make_client(load_settings(), pool_size=4)
    assert "ANTHROPIC_API_KEY" in str(caught.value) and "claude.base_url" in str(caught.value)


async def test_make_client_base_url_selects_that_endpoint() -> None:
    """With claude.base_url the client talks to it (the simulator), key or not."""
    client = make_client(
        load_settings(overrides={"claude.base_url": "http://127.0.0.1:9"}), pool_size=3
    )
    try:
        assert getattr(client, "base_url", None) == "http://127.0.0.1:9"
        assert getattr(client, "pool_size", None) == 3
    finally:
        await client.aclose()


async def test_make_client_key_only_selects_the_anthropic_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With only ANTHROPIC_API_KEY the client targets api.anthropic.com; the key is not shown."""
    sentinel = "sk-ant-test-SENTINEL-never-printed-0000"
    monkeypatch.setenv("ANTHROPIC_API_KEY", sentinel)
    client = make_client(load_settings(), pool_size=2)
    try:
        assert getattr(client, "base_url", None) == "https://api.anthropic.com"
        assert sentinel not in repr(client) and sentinel not in str(vars(client))
    finally:
        await client.aclose()


def test_make_client_unreadable_key_file_is_a_config_error(tmp_path: object) -> None:
    """A key file that cannot be read names the file (never a key) and stops the worker."""
    missing = f"{tmp_path}/absent.key"
    settings = load_settings(overrides={"claude.api_key_file": missing})
    with pytest.raises(ConfigError, match=r"absent\.key"):
        make_client(settings, pool_size=1)


def test_import_stream_claude_does_not_import_the_sdk() -> None:
    """`import stream.claude` stays cheap: neither anthropic nor httpx2 is loaded."""
    code = (
        "import sys, stream.claude; "
        "assert 'anthropic' not in sys.modules and 'httpx2' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
