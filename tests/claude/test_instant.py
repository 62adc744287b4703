"""InstantClaudeClient: deterministic answers and scripted outcomes at the same seam."""

from __future__ import annotations

import json

import pytest

from stream.claude import CallRequest, CallResult, ClaudeClient, InstantClaudeClient
from stream.errors import Outcome


def _request(doc: str = "doc-1", stage: str = "summary", stream: bool = False) -> CallRequest:
    return CallRequest(
        model="claude-haiku-4-5",
        system="Summarise.",
        user="x" * 400,
        max_tokens=64,
        temperature=None,
        stream=stream,
        document_id=doc,
        stage=stage,
    )


async def test_instant_client_default_answer_is_deterministic_json() -> None:
    """The same request gives the same text and usage, and the text parses as JSON."""
    client = InstantClaudeClient()
    assert isinstance(client, ClaudeClient)
    first, second = await client.call(_request()), await client.call(_request())
    assert first.outcome is Outcome.SUCCESS and first.finish_reason == "end_turn"
    assert first.text == second.text and first.usage == second.usage
    assert json.loads(first.text) == {"document_id": "doc-1", "stage": "summary", "chars": 400}
    assert first.usage.input_tokens == (len("Summarise.") + 400 + 3) // 4
    assert first.model == "claude-haiku-4-5"


async def test_instant_client_script_plays_in_order_then_succeeds() -> None:
    """A document's scripted outcomes come back in order; later calls succeed."""
    client = InstantClaudeClient(
        script={"doc-1": [Outcome.RATE_LIMITED, Outcome.OVERLOADED]}, retry_after_s=2.5
    )
    results = [await client.call(_request()) for _ in range(3)]
    assert [r.outcome for r in results] == [
        Outcome.RATE_LIMITED,
        Outcome.OVERLOADED,
        Outcome.SUCCESS,
    ]
    assert (results[0].http_status, results[0].retry_after_s) == (429, 2.5)
    assert results[0].text == "" and results[1].http_status == 529
    assert (await client.call(_request("doc-2"))).outcome is Outcome.SUCCESS


async def test_instant_client_stage_key_wins_over_document_key() -> None:
    """A doc/stage key scripts one stage; the other stages use the document key."""
    client = InstantClaudeClient(
        script={"doc-1/title": [Outcome.REFUSED], "doc-1": [Outcome.BAD_REQUEST]}
    )
    assert (await client.call(_request(stage="title"))).outcome is Outcome.REFUSED
    assert (await client.call(_request(stage="summary"))).outcome is Outcome.BAD_REQUEST


async def test_instant_client_invalid_output_step_answers_non_json() -> None:
    """An INVALID_OUTPUT step succeeds at the API level with text that is not JSON."""
    client = InstantClaudeClient(script={"doc-1": [Outcome.INVALID_OUTPUT]})
    result = await client.call(_request())
    assert result.outcome is Outcome.SUCCESS
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.text)


async def test_instant_client_full_call_result_step_is_returned_as_is() -> None:
    """A CallResult in a script is returned unchanged."""
    canned = CallResult(outcome=Outcome.TRANSIENT, error_class="timeout", http_status=None)
    client = InstantClaudeClient(script={"doc-1": [canned]}, record_calls=True)
    assert await client.call(_request()) is canned
    assert client.call_count == 1 and len(client.calls) == 1


def test_instant_client_rejects_outcomes_a_call_cannot_have() -> None:
    """bad_input and retries_exhausted are not call outcomes: a script with them is a typo."""
    with pytest.raises(ValueError, match="bad_input"):
        InstantClaudeClient(script={"doc-1": [Outcome.BAD_INPUT]})


async def test_instant_client_streaming_reports_ttft_and_closes() -> None:
    """A streamed success has a ttft; after aclose the client refuses calls."""
    client = InstantClaudeClient()
    assert (await client.call(_request(stream=True))).ttft_s == 0.0
    assert await client.count_tokens(_request()) == (len("Summarise.") + 400 + 3) // 4
    await client.aclose()
    with pytest.raises(RuntimeError):
        await client.call(_request())


async def test_markers_in_the_document_script_outcomes_per_document_and_stage() -> None:
    """``<<outcome>>`` every time, ``<<outcome*K>>`` the first K calls of that stage."""
    client = InstantClaudeClient(markers=True, fail_first=1)

    def ask(text: str, stage: str = "s") -> CallRequest:
        return CallRequest(
            model="m", system="", user=text, max_tokens=10, document_id="d", stage=stage
        )

    outage = await client.call(ask("fine"))
    twice = [(await client.call(ask("x <<overloaded*2>>"))).outcome for _ in range(3)]
    other_stage = await client.call(ask("x <<overloaded*2>>", stage="t"))
    always = [(await client.call(ask("<<refused>>"))).outcome for _ in range(2)]

    assert outage.outcome is Outcome.TRANSIENT
    assert twice == [Outcome.OVERLOADED, Outcome.OVERLOADED, Outcome.SUCCESS]
    assert other_stage.outcome is Outcome.OVERLOADED
    assert always == [Outcome.REFUSED, Outcome.REFUSED]
