"""``docstream bench sanitize``: what an API error reply costs the event loop on a big prompt.

The API's own error message is checked against the whole user turn (no 8-character run
of it may survive), which scans the prompt. ``classify_status`` defers that check to the
first read of ``error_message`` (a DLQ record, a fatal pause, the CLI). Per reply this
prints both costs: classify only (a retried 429 of a storm) and classify plus that first
read (a reply that is stored; what every reply cost before the check was deferred).
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass

import click

from stream.claude.classify import classify_status

__all__ = ["SanitizeCase", "command", "format_sanitize", "measure", "prompt_of"]

_WORDS = ["ledger", "invoice", "shipment", "delay", "customer", "account", "balance", "audit"]
_WORDS += ["report", "region", "revenue", "margin", "contract", "clause", "the", "and", "of"]
_WORDS += ["rate", "limit", "tokens", "request", "please", "incident", "service", "review"]
_RATE_LIMIT = (
    "Number of request tokens has exceeded your per-minute rate limit "
    "(https://docs.claude.com/en/api/rate-limits); see the response headers for current "
    "usage. Please reduce the prompt length or the maximum tokens requested, or try again "
    "later. You may also contact sales at https://www.anthropic.com/contact-sales to "
    "discuss your options for a rate limit increase."
)


@dataclass(frozen=True, slots=True)
class SanitizeCase:
    name: str
    classify_ms: tuple[float, ...]  # per reply: classify_status alone
    read_ms: tuple[float, ...]  # per reply: classify_status and the first read
    message: str  # the message as read


def prompt_of(chars: int) -> str:
    """A deterministic user turn of about ``chars`` characters of words."""
    words = " ".join(random.Random(1).choices(_WORDS, k=chars // 5 + 1))[:chars]
    return f"<document>\n{words}\n</document>"


def measure(prompt: str, replies: int) -> list[SanitizeCase]:
    middle = len(prompt) // 4
    echo = f"messages.0.content: unexpected value {prompt[middle : middle + 200]} here"
    cases = {
        "429 rate_limit_error": (429, "rate_limit_error", _RATE_LIMIT),
        "400 echoing 200 prompt chars": (400, "invalid_request_error", echo),
    }
    return [_case(name, *spec, prompt, replies) for name, spec in cases.items()]


def _case(name: str, status: int, kind: str, text: str, prompt: str, n: int) -> SanitizeCase:
    body = {"type": "error", "error": {"type": kind, "message": text}}
    classify, read, message = [], [], ""
    for _ in range(n):
        started = time.perf_counter()
        classify_status(status, body, {}, forbidden_text=prompt)
        classify.append((time.perf_counter() - started) * 1e3)
        started = time.perf_counter()
        message = classify_status(status, body, {}, forbidden_text=prompt).error_message or ""
        read.append((time.perf_counter() - started) * 1e3)
    return SanitizeCase(name, tuple(classify), tuple(read), message)


def format_sanitize(prompt_chars: int, cases: list[SanitizeCase]) -> str:
    replies = len(cases[0].read_ms) if cases else 0
    lines = [
        f"bench sanitize: a {prompt_chars:,}-character prompt, {replies} replies per case, "
        "ms per reply (median / max)",
        f"  {'case':<30} {'classify only':>17} {'classify + read':>17} {'ratio':>7}",
    ]
    for case in cases:
        only, read = statistics.median(case.classify_ms), statistics.median(case.read_ms)
        lines.append(
            f"  {case.name:<30} {only:>8.3f} / {max(case.classify_ms):>6.3f} "
            f"{read:>8.3f} / {max(case.read_ms):>6.3f} {only / read if read else 0.0:>7.4f}"
        )
    lines.append(
        "  (ratio: a retried reply's cost over a stored one's, medians; the ideal is 0: "
        "no scan of the prompt for a message nobody reads)"
    )
    return "\n".join(lines)


@click.command("sanitize")
@click.option("--prompt-chars", default=200_000, show_default=True, type=click.IntRange(min=100))
@click.option("--replies", default=30, show_default=True, type=click.IntRange(min=1))
def command(prompt_chars: int, replies: int) -> None:
    """Per API error reply on a big prompt: classify only vs. classify and read the message."""
    prompt = prompt_of(prompt_chars)
    click.echo(format_sanitize(len(prompt), measure(prompt, replies)))
