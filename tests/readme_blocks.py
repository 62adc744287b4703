"""Code blocks of README.md, found by their first line, so tests run them as written."""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_block(first_line: str) -> str:
    """The fenced block whose first line starts with ``first_line``."""
    lines = README.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if line.startswith(first_line) and lines[i - 1].startswith("```"):
            end = lines.index("```", i)
            return "\n".join(lines[i:end]) + "\n"
    raise LookupError(f"README.md has no code block starting with {first_line!r}")
