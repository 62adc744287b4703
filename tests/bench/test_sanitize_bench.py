"""docstream bench sanitize on a small prompt: both costs per case, the read text is safe."""

from __future__ import annotations

from click.testing import CliRunner

from stream.bench.sanitize import format_sanitize, measure, prompt_of
from stream.cli.main import cli


def test_each_case_reports_classify_only_and_read_and_reads_a_safe_message() -> None:
    """The echoing case's read message has the prompt piece cut; the 429 keeps its words."""
    prompt = prompt_of(5_000)
    cases = measure(prompt, replies=2)
    assert [c.name for c in cases] == ["429 rate_limit_error", "400 echoing 200 prompt chars"]
    assert all(len(c.classify_ms) == len(c.read_ms) == 2 for c in cases)
    rate, echo = cases
    assert rate.message.startswith("HTTP 429 rate_limit_error: ")
    middle = len(prompt) // 4
    assert echo.message.startswith("HTTP 400 invalid_request_error: messages.0.content")
    assert prompt[middle + 20 : middle + 40] not in echo.message
    report = format_sanitize(len(prompt), cases)
    assert "classify only" in report and "classify + read" in report


def test_cli_bench_sanitize_prints_the_table() -> None:
    result = CliRunner().invoke(
        cli, ["bench", "sanitize", "--prompt-chars", "2000", "--replies", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "429 rate_limit_error" in result.output
