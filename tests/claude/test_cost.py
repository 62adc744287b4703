"""cost_usd and estimate_input_tokens with literal numbers."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from stream.claude.cost import Cost, cost_of, cost_usd, estimate_input_tokens, price_for
from stream.config import ClaudeSettings, ModelPrice
from stream.models.result import CacheCreation, Usage

PRICES = {
    "claude-sonnet-4": ModelPrice(input=Decimal(3), output=Decimal(15)),
    "claude-sonnet-4-5": ModelPrice(
        input=Decimal(4), output=Decimal(20), cache_write=Decimal(6), cache_read=Decimal("0.5")
    ),
    "claude-haiku-4": ModelPrice(input=Decimal(1), output=Decimal(5)),
}


def test_cost_usd_input_and_output_at_list_price() -> None:
    """1M input at $3 plus 200k output at $15 is $6."""
    usage = Usage(input_tokens=1_000_000, output_tokens=200_000)
    assert cost_usd("claude-sonnet-4-20250514", usage, PRICES) == pytest.approx(6.0)


def test_cost_usd_longest_prefix_wins() -> None:
    """claude-sonnet-4-5-20250929 is priced by claude-sonnet-4-5, not claude-sonnet-4."""
    assert price_for("claude-sonnet-4-5-20250929", PRICES) is PRICES["claude-sonnet-4-5"]
    usage = Usage(input_tokens=1_000_000)
    assert cost_usd("claude-sonnet-4-5-20250929", usage, PRICES) == pytest.approx(4.0)


def test_cost_usd_cache_defaults_to_1_25x_write_and_0_1x_read() -> None:
    """Without cache prices, a cache write costs 1.25x input and a cache read 0.1x."""
    usage = Usage(cache_creation_input_tokens=1_000_000, cache_read_input_tokens=2_000_000)
    # haiku input $1: 1M writes * $1.25 + 2M reads * $0.10 = $1.45
    assert cost_usd("claude-haiku-4-5", usage, PRICES) == pytest.approx(1.45)


def test_cost_usd_given_cache_prices_are_used() -> None:
    """Explicit cache_write / cache_read prices override the multipliers."""
    usage = Usage(
        input_tokens=500_000,
        output_tokens=100_000,
        cache_creation_input_tokens=1_000_000,
        cache_read_input_tokens=4_000_000,
    )
    # 0.5M*$4 + 0.1M*$20 + 1M*$6 + 4M*$0.5 = 2 + 2 + 6 + 2 = $12
    assert cost_usd("claude-sonnet-4-5", usage, PRICES) == pytest.approx(12.0)


def test_cost_usd_unknown_model_is_zero_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    """An unpriced model costs 0.0 and logs one warning however often it is priced."""
    usage = Usage(input_tokens=1000, output_tokens=1000)
    with caplog.at_level(logging.WARNING, logger="stream.claude.cost"):
        assert cost_usd("gpt-unpriced-model-x", usage, PRICES) == 0.0
        assert cost_usd("gpt-unpriced-model-x", usage, PRICES) == 0.0
    warnings = [r for r in caplog.records if "gpt-unpriced-model-x" in r.getMessage()]
    assert len(warnings) == 1


def test_estimate_input_tokens_is_chars_over_four_rounded_up() -> None:
    """10 + 7 characters is 17 / 4 -> 5 tokens; nothing is 0."""
    assert estimate_input_tokens("0123456789", "abcdefg") == 5
    assert estimate_input_tokens("", "abcd") == 1
    assert estimate_input_tokens("", "") == 0


def test_cost_of_prices_each_token_kind_at_its_own_price() -> None:
    """Sonnet ($3 in): 5m writes at $3.75, 1h writes at $6, reads at $0.30, output $15."""
    usage = Usage(
        input_tokens=1_000_000,
        output_tokens=1_000_000,
        cache_read_input_tokens=1_000_000,
        cache_creation_input_tokens=3_000_000,
        cache_creation=CacheCreation(
            ephemeral_5m_input_tokens=1_000_000, ephemeral_1h_input_tokens=2_000_000
        ),
    )
    cost = cost_of("claude-sonnet-4-6", usage, ClaudeSettings().prices)
    assert cost == Cost(
        input=Decimal(3),
        output=Decimal(15),
        cache_write_5m=Decimal("3.75"),
        cache_write_1h=Decimal(12),
        cache_read=Decimal("0.3"),
    )
    assert cost.total == Decimal("34.05")


def test_cost_of_unsplit_cache_writes_count_as_5_minute_writes() -> None:
    """A usage without the 5m/1h split (older API answers) is priced as 5-minute writes."""
    usage = Usage(cache_creation_input_tokens=1_000_000)
    cost = cost_of("claude-haiku-4-5", usage, ClaudeSettings().prices)
    assert (cost.cache_write_5m, cost.cache_write_1h) == (Decimal("1.25"), Decimal(0))


@pytest.mark.parametrize(
    ("model", "input_usd", "output_usd"),
    [
        ("claude-opus-4-6", "5", "25"),
        ("claude-opus-4-5-20251101", "5", "25"),
        ("claude-opus-4-1-20250805", "15", "75"),
        ("claude-opus-4-20250514", "15", "75"),
        ("claude-sonnet-4-6", "3", "15"),
        ("claude-sonnet-4-5-20250929", "3", "15"),
        ("claude-3-7-sonnet-20250219", "3", "15"),
        ("claude-haiku-4-5-20251001", "1", "5"),
        ("claude-3-5-haiku-20241022", "0.8", "4"),
        ("claude-3-haiku-20240307", "0.25", "1.25"),
    ],
)
def test_default_price_table_has_list_prices_and_cache_multipliers(
    model: str, input_usd: str, output_usd: str
) -> None:
    """Every default entry: list input/output, 5m write 1.25x (Haiku 3: $0.30 as listed),
    1h write 2x, read 0.1x."""
    price = price_for(model, ClaudeSettings().prices)
    assert price is not None
    base = Decimal(input_usd)
    assert (price.input, price.output) == (base, Decimal(output_usd))
    listed_5m = Decimal("0.30") if model.startswith("claude-3-haiku") else base * Decimal("1.25")
    assert price.cache_write == listed_5m
    assert price.cache_write_1h == base * 2
    assert price.cache_read == base * Decimal("0.1")
