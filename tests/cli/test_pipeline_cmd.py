"""The pipeline dev loop: `docstream pipeline validate FILE` and `pipeline try FILE --doc`
against the built-in simulator (issue 13, item 15)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import yaml
from click.testing import CliRunner

from stream.cli.main import cli

SCHEMA = {
    "type": "object",
    "required": ["people", "year", "urgent"],
    "properties": {
        "people": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "age"],
                "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            },
        },
        "year": {"type": "integer", "minimum": 1900, "maximum": 2100},
        "urgent": {"type": "boolean"},
    },
}


def _pipeline(tmp_path: Path) -> Path:
    spec = {
        "name": "mine",
        "stages": [
            {
                "name": "facts",
                "system": "Extract the facts.",
                "user": "{{ document }}",
                "output": "json",
                "json_schema": SCHEMA,
            },
            {"name": "note", "depends_on": ["facts"], "user": "A note on {{ stages.facts }}"},
        ],
    }
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_validate_describes_a_good_pipeline_and_exits_0(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["pipeline", "validate", str(_pipeline(tmp_path))], env={})
    assert result.exit_code == 0, result.output
    assert "pipeline mine: 2 stages in 2 levels" in result.output
    assert "level 2: note" in result.output and "after facts" in result.output


def test_validate_rejects_a_bad_pipeline_with_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nstages:\n  - name: a\n    user: '{{ stages.nosuch }}'\n")
    result = CliRunner().invoke(cli, ["pipeline", "validate", str(path)], env={})
    assert result.exit_code == 2
    assert result.output.startswith("docstream: pipeline bad") and "nosuch" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_try_runs_a_custom_json_schema_end_to_end_on_the_simulator(tmp_path: Path) -> None:
    """Every stage's request and answer are printed; the JSON stage's answer is an instance
    of the user's own schema (it used to fail as invalid_output every time)."""
    result = CliRunner().invoke(
        cli,
        ["pipeline", "try", str(_pipeline(tmp_path)), "--doc", "Ada met Bob in 1999."],
        env={},
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert re.search(r"── stage facts · attempt 1 · \S+ · success", out)
    assert re.search(r"── stage note · attempt 1 · \S+ · success", out)
    assert "Ada met Bob in 1999." in out  # the user turn as sent
    assert "<json_schema>" in out  # the instructions as sent
    outputs = json.loads(out[out.index("result: ") + len("result: ") : out.rindex("}") + 1])
    jsonschema.validate(outputs["facts"], SCHEMA)
    assert outputs["note"].startswith("[simulated]")


def test_try_exits_1_when_the_document_would_be_dead_lettered(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["pipeline", "try", str(_pipeline(tmp_path)), "--doc", "please [[sim:refusal]]"],
        env={},
    )
    assert result.exit_code == 1, result.output
    assert "dead-lettered at stage facts: refused/" in result.output
