"""Where a stage's request puts what, and where the cache breakpoints go.

The parts that repeat come first: the system prompt (the pipeline's shared
``instructions``, or the stage's own system text when there are none), then the user
turn up to and including the document, then the rest of the turn, then, with shared
instructions, the stage's own instruction. Stages of one document whose system, model
and user turn up to the document are the same then send the same prefix, and a
breakpoint after the document lets all but the first read it from the cache. The
document stays in the user turn, inside its delimiters.

A breakpoint is placed only where it can pay back (``stream.caching.rules``): on a
prefix that reaches the model's minimum cacheable length, and, after the document,
only when enough of the pipeline's stages share that prefix for one write plus reads to
cost less than plain input every time. The system prompt is shared by every document,
so a long enough one always gets a breakpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

from stream.caching.rules import Ttl, min_cacheable_tokens, pays_back
from stream.claude.cost import estimate_input_tokens
from stream.claude.types import PromptPart
from stream.templates import Template, TemplateContext

__all__ = ["RenderedPrompt", "StageLayout", "split_at_document"]


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    system: str
    system_cache: Ttl | None
    user: str
    user_parts: tuple[PromptPart, ...]


@dataclass(frozen=True, slots=True)
class StageLayout:
    """One stage's request shape; ``sharing`` counts the pipeline's stages (this one
    included) with the same ``share_key``, i.e. the same prefix through the document."""

    model: str
    system: str
    head: Template | None  # the user turn up to and including {{ document }}
    tail: Template
    instruction: str  # the stage's own system text, after the document (shared instructions)
    ttl: Ttl | None
    sharing: int = 1

    @property
    def share_key(self) -> tuple[object, ...] | None:
        if self.head is None:
            return None
        return (self.model, self.system, self.head.parts)

    def marks_document(self, ctx: TemplateContext) -> bool:
        """Whether this document gets a breakpoint after it (see the module docstring)."""
        return self.head is not None and self._marks(self.head.render(ctx))

    def _marks(self, head: str) -> bool:
        if self.ttl is None or not pays_back(self.ttl, self.sharing):
            return False
        return estimate_input_tokens(self.system, head) >= min_cacheable_tokens(self.model)

    def render(self, ctx: TemplateContext) -> RenderedPrompt:
        tail = self.tail.render(ctx)
        if self.instruction:
            tail = f"{tail}\n\n{self.instruction}"
        system_cache = None
        if self.ttl and estimate_input_tokens(self.system, "") >= min_cacheable_tokens(self.model):
            system_cache = self.ttl
        if self.head is None:
            return RenderedPrompt(self.system, system_cache, tail, ())
        head = self.head.render(ctx)
        mark = self.ttl if self._marks(head) else None
        parts = (PromptPart(head, mark), PromptPart(tail))
        return RenderedPrompt(self.system, system_cache, head + tail, parts)


def split_at_document(template: Template) -> tuple[Template | None, Template]:
    """(the parts up to and including the first {{ document }}, the rest); (None, all)
    when the template does not include the document."""
    for index, part in enumerate(template.parts):
        if part == ("document",):
            return Template(template.parts[: index + 1]), Template(template.parts[index + 1 :])
    return None, template
