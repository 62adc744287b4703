"""A deliberately tiny template language for stage prompts.

Placeholders are ``{{ document }}``, ``{{ id }}``, ``{{ metadata.KEY }}`` and
``{{ stages.NAME }}``. Nothing is evaluated: the template is split into literal parts and
lookups once, when the pipeline file is loaded, so every error surfaces at load time.
Every document-derived value - the text, the id, metadata values and stage outputs
(derived from the document, so just as untrusted) - is always wrapped in delimiters, and
any delimiter-like text inside it is neutralised, so a document cannot close its own
block and pose as instructions:

    {{ document }}        <document>...</document>
    {{ id }}              <document_id>...</document_id>
    {{ metadata.KEY }}    <metadata key="KEY">...</metadata>   (JSON for non-strings)
    {{ stages.NAME }}     <stage name="NAME">...</stage>
    (JSON repair)         <validation_error>...</validation_error>   (quotes the output)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stream.errors import PipelineError

__all__ = ["Template", "TemplateContext", "compile_template", "delimited"]

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_PATH = re.compile(r"^(document|id|metadata\.[A-Za-z0-9_\-]+|stages\.[A-Za-z_][A-Za-z0-9_]*)$")
# Every delimiter this module writes; "document_id" first, as "document" then fails \b.
_TAG = re.compile(r"</?\s*(document_id|document|metadata|stage|validation_error)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class TemplateContext:
    document_id: str
    text: str
    metadata: Mapping[str, Any]
    stage_outputs: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Template:
    parts: tuple[str | tuple[str, ...], ...]  # literal text, or a lookup path

    @property
    def stage_refs(self) -> frozenset[str]:
        return frozenset(p[1] for p in self.parts if isinstance(p, tuple) and p[0] == "stages")

    @property
    def references_document(self) -> bool:
        return any(isinstance(p, tuple) and p[0] != "id" for p in self.parts)

    def render(self, ctx: TemplateContext) -> str:
        return "".join(p if isinstance(p, str) else _lookup(p, ctx) for p in self.parts)


def compile_template(source: str, *, where: str) -> Template:
    """Parse once; raise PipelineError naming ``where`` for any malformed placeholder."""
    parts: list[str | tuple[str, ...]] = []
    pos = 0
    for match in _PLACEHOLDER.finditer(source):
        parts.append(source[pos : match.start()])
        path = match.group(1)
        if not _PATH.match(path):
            raise PipelineError(
                f"{where}: unknown placeholder {{{{ {path} }}}} (use document, id, "
                "metadata.KEY or stages.NAME)"
            )
        parts.append(tuple(path.split(".", 1)))
        pos = match.end()
    rest = source[pos:]
    if "{{" in rest or "}}" in rest:
        raise PipelineError(f"{where}: unbalanced '{{{{' or '}}}}' in template")
    parts.append(rest)
    return Template(tuple(p for p in parts if p != ""))


def _lookup(path: tuple[str, ...], ctx: TemplateContext) -> str:
    root = path[0]
    if root == "id":
        return f"<document_id>{_neutralise(ctx.document_id)}</document_id>"
    if root == "document":
        return f"<document>\n{_neutralise(ctx.text)}\n</document>"
    if root == "metadata":
        value = ctx.metadata.get(path[1], "")
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        # The key passed _PATH at load time (letters, digits, _ and -): safe in quotes.
        return f'<metadata key="{path[1]}">{_neutralise(text)}</metadata>'
    name = path[1]
    return f'<stage name="{name}">\n{_neutralise(ctx.stage_outputs[name])}\n</stage>'


def delimited(tag: str, text: str) -> str:
    """``text`` (document-derived, e.g. a validation error quoting the model's output)
    inside ``<tag>`` delimiters, neutralised like every templated value."""
    return f"<{tag}>{_neutralise(text)}</{tag}>"


def _neutralise(text: str) -> str:
    # "</document>" inside the text would end the block early; break the tag up.
    return _TAG.sub(lambda m: m.group(0).replace("<", "&lt;"), text)
