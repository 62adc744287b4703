"""The simulator answers a JSON stage with an instance of its schema (issue 13, item 15)."""

from __future__ import annotations

import json
import random
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.pipeline import with_schema
from stream.simulator.schema_instance import instance
from stream.simulator.text import Prompt, complete

SCHEMAS: list[dict[str, Any]] = [
    {
        "type": "object",
        "required": ["summary", "labels", "score"],
        "properties": {
            "summary": {"type": "string"},
            "labels": {"type": "array", "items": {"type": "string"}},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
        },
    },
    {
        "type": "object",
        "required": ["people", "year", "tags", "urgent"],
        "properties": {
            "people": {"type": "array", "minItems": 3, "items": {"$ref": "#/$defs/person"}},
            "year": {"type": "integer", "minimum": 1900, "maximum": 2100, "multipleOf": 5},
            "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "maxItems": 1},
            "urgent": {"type": "boolean"},
            "when": {"type": "string", "format": "date-time"},
            "code": {"type": "string", "minLength": 40, "maxLength": 40},
            "short": {"type": "string", "maxLength": 3},
        },
        "$defs": {
            "person": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "age": {"type": ["integer", "null"], "exclusiveMinimum": 17},
                },
            }
        },
    },
    {"type": "array", "prefixItems": [{"const": "head"}, {"type": "number"}], "minItems": 2},
    {"anyOf": [{"type": "string", "enum": ["yes", "no"]}, {"type": "integer"}]},
    {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "number", "exclusiveMaximum": 0}}, "required": ["b"]},
        ]
    },
    {"oneOf": [{"type": "object", "properties": {"kind": {"const": "x"}}, "required": ["kind"]}]},
    {"type": "object"},
    {},
]


def _words(rng: random.Random) -> str:
    return "[simulated] " + " ".join(rng.choice(["alpha", "beta", "gamma"]) for _ in range(3))


@pytest.mark.parametrize("schema", SCHEMAS, ids=range(len(SCHEMAS)))
@given(seed=st.integers(min_value=0, max_value=2**64 - 1))
def test_instance_is_valid_and_the_same_for_the_same_seed(
    schema: dict[str, Any], seed: int
) -> None:
    value = instance(schema, seed, _words)
    jsonschema.validators.validator_for(schema)(schema).validate(value)
    assert instance(schema, seed, _words) == value


def _prompt(system: str) -> Prompt:
    return Prompt(system=system, texts=("<document>\nhi\n</document>",), input_tokens=10, digest=7)


def test_a_json_stage_with_a_schema_block_gets_an_instance_of_it() -> None:
    schema = SCHEMAS[1]
    answer = complete(_prompt(with_schema("Extract.", schema)), 20, 200, 4096)
    assert answer.stop_reason == "end_turn"
    jsonschema.validate(json.loads(answer.text), schema)


def test_the_schema_block_also_works_as_the_instruction_after_the_document() -> None:
    """With shared pipeline instructions the stage's instruction ends the user turn."""
    schema = SCHEMAS[0]
    prompt = Prompt(
        "shared", ("<document>\nhi\n</document>\n\n" + with_schema("Review.", schema),), 10, 9
    )
    jsonschema.validate(json.loads(complete(prompt, 20, 200, 4096).text), schema)


def test_fault_markers_still_break_a_schema_answer() -> None:
    prompt = _prompt(with_schema("Extract.", SCHEMAS[0]))
    with pytest.raises(ValueError):
        json.loads(complete(prompt, 20, 200, 4096, force="badjson").text)
    cut = complete(prompt, 20, 200, 50, force="max_tokens")
    assert cut.stop_reason == "max_tokens" and len(cut.pieces) == 50
