"""Limit algorithms are found by name in one registry; settings and the CLI derive from it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from stream.calls import make_limit
from stream.cli.main import cli
from stream.concurrency import LIMIT_ALGORITHMS, Limit, LimitBounds, build_limit
from stream.config import ConfigError, load_settings


@pytest.mark.parametrize("name", list(LIMIT_ALGORITHMS))
def test_every_registered_algorithm_is_a_valid_setting_and_builds_its_limit(name: str) -> None:
    settings = load_settings(
        None,
        {
            "limits.algorithm": name,
            "limits.initial_concurrency": 4,
            "limits.min_concurrency": 2,
            "limits.max_concurrency": 8,
        },
    )
    limit = make_limit(settings.limits)
    assert isinstance(limit, Limit)
    assert limit.limit == 4
    # A fixed limit is always at its floor; an adaptive one can cut down to min_concurrency.
    assert limit.floor == (2 if LIMIT_ALGORITHMS[name].adaptive else 4)


def test_an_unknown_algorithm_is_a_config_error_naming_the_registered_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {"limits.algorithm": "vegas"})
    for name in LIMIT_ALGORITHMS:
        assert name in str(caught.value)
    with pytest.raises(ValueError, match="vegas"):
        build_limit("vegas", LimitBounds(1, 1, 1))


def test_the_run_command_offers_exactly_the_registered_algorithms() -> None:
    result = CliRunner().invoke(cli, ["run", "--help"], terminal_width=200)
    assert result.exit_code == 0
    offered = result.output.split("--limit-algorithm")[1].split("]")[0]
    assert offered.strip(" [").split("|") == list(LIMIT_ALGORITHMS)
