"""The simulated answer: deterministic, marked, sized from the prompt, cut at max_tokens."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.simulator.text import MARK, PromptError, complete, read_prompt


def _body(text: str, system: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"messages": [{"role": "user", "content": text}]}
    if system is not None:
        body["system"] = system
    return body


@given(st.text(min_size=1, max_size=300), st.integers(1, 50), st.integers(0, 300))
def test_completion_is_deterministic_marked_and_within_bounds(
    text: str, out_min: int, extra: int
) -> None:
    """Same prompt, same answer; it starts with the marker; tokens in [out_min, out_max]."""
    out_max = out_min + extra
    prompt = read_prompt(_body(text))
    first = complete(prompt, out_min, out_max, max_tokens=10_000)
    again = complete(read_prompt(_body(text)), out_min, out_max, max_tokens=10_000)
    assert first == again
    assert first.text.startswith(MARK)
    assert first.stop_reason == "end_turn"
    assert max(out_min, 2) <= first.output_tokens <= max(out_max, 2)


@given(st.text(max_size=200), st.integers(1, 40))
def test_completion_longer_than_max_tokens_is_cut_with_stop_reason_max_tokens(
    text: str, max_tokens: int
) -> None:
    """A natural length above max_tokens yields exactly max_tokens pieces and max_tokens."""
    prompt = read_prompt(_body(text + "x"))
    natural = complete(prompt, 50, 60, max_tokens=10_000)
    cut = complete(prompt, 50, 60, max_tokens=max_tokens)
    assert cut.output_tokens == max_tokens and cut.stop_reason == "max_tokens"
    assert natural.text.startswith(cut.text)


def test_input_tokens_are_ceil_chars_over_four_of_system_and_all_messages() -> None:
    """System (string or blocks) + every message's text (string or text blocks) count."""
    body = {
        "system": [{"type": "text", "text": "abcde"}],
        "messages": [
            {"role": "user", "content": "123456"},
            {"role": "assistant", "content": [{"type": "text", "text": "xy"}]},
            {
                "role": "user",
                "content": [{"type": "image", "source": {}}, {"type": "text", "text": "z"}],
            },
        ],
    }
    assert read_prompt(body).input_tokens == math.ceil((5 + 6 + 2 + 1) / 4)


def test_json_system_prompt_yields_a_parseable_marked_json_object() -> None:
    """ "JSON" in the system prompt: the text is {"simulated": true, summary, labels, score}."""
    prompt = read_prompt(_body("classify this", system="Answer in JSON only."))
    answer = json.loads(complete(prompt, 20, 200, 1024).text)
    assert answer["simulated"] is True
    assert answer["summary"].startswith(MARK)
    assert isinstance(answer["labels"], list) and answer["labels"]
    assert 0.0 <= answer["score"] < 1.0


def test_badjson_force_never_parses_even_with_json_system() -> None:
    """The badjson fault produces text that json.loads rejects."""
    prompt = read_prompt(_body("classify", system="JSON please"))
    with pytest.raises(json.JSONDecodeError):
        json.loads(complete(prompt, 20, 200, 1024, force="badjson").text)


def test_oversized_force_is_about_two_megabytes_regardless_of_max_tokens() -> None:
    """The oversized fault ignores max_tokens and returns ~2 MB of text."""
    answer = complete(read_prompt(_body("big")), 20, 200, 16, force="oversized")
    assert 1_900_000 <= len(answer.text.encode()) <= 2_600_000
    assert answer.stop_reason == "end_turn"


def test_max_tokens_and_refusal_forces_set_their_stop_reasons() -> None:
    """max_tokens always truncates at max_tokens; refusal is short with stop_reason refusal."""
    prompt = read_prompt(_body("hi"))
    cut = complete(prompt, 20, 30, 500, force="max_tokens")
    assert (cut.output_tokens, cut.stop_reason) == (500, "max_tokens")
    refused = complete(prompt, 20, 30, 500, force="refusal")
    assert refused.stop_reason == "refusal" and 0 < refused.output_tokens <= 8


def test_chunks_rejoin_to_the_full_text() -> None:
    """Streaming deltas are the text split on piece boundaries."""
    answer = complete(read_prompt(_body("stream me")), 100, 100, 1000)
    assert "".join(answer.chunks(7)) == answer.text
    assert len(answer.chunks(7)) == math.ceil(answer.output_tokens / 7)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"messages": []},
        {"messages": [{"role": "system", "content": "x"}]},
        {"messages": [{"role": "user", "content": 5}]},
        {"messages": [{"role": "user", "content": [{"text": "no type"}]}]},
    ],
)
def test_read_prompt_rejects_malformed_messages(body: dict[str, Any]) -> None:
    """Bodies the API would reject raise PromptError (answered as a 400)."""
    with pytest.raises(PromptError):
        read_prompt(body)
