"""What the simulated model "says": deterministic, prompt-derived, clearly marked.

The same prompt always yields the same answer and the same token counts, so tests can
assert exact figures and benchmarks are repeatable. Input tokens are ``ceil(chars / 4)``
over the system prompt, every message's text and the tool definitions (the same number
``count_tokens`` reports). The answer is a sequence of *pieces*, one per output token:
it starts with ``"[simulated] "``, or — when the system prompt contains ``JSON`` — it is
a JSON object ``{"simulated": true, "summary": ..., "labels": [...], "score": 0.xx}``, or,
when the instructions carry a ``<json_schema>`` block (docstream's JSON stages do), an
instance of that schema (``stream.simulator.schema_instance``).
Cutting at ``max_tokens`` cuts the pieces, exactly as a real truncation would.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from stream.caching.rules import Ttl
from stream.simulator.schema_instance import instance

__all__ = [
    "MARK",
    "Breakpoint",
    "Completion",
    "Prompt",
    "PromptError",
    "complete",
    "read_prompt",
]

MARK: Final = "[simulated] "
_WORDS: Final = """
stream partition offset record broker topic consumer producer batch commit latency token
budget limit retry backoff window signal queue replay trace span metric document summary
label score result stage model answer context outline detail quality careful brief clear
useful robust steady measured exact river mountain harbor lantern meadow orbit compass
anchor beacon ledger
"""
_VOCABULARY: Final = _WORDS.split()
_LABELS: Final = ("news", "finance", "science", "support", "legal", "sports", "health", "tech")
_SEQUENCE: Final = random.Random(0x5EED).choices([w + " " for w in _VOCABULARY], k=8192)
_DOUBLED: Final = _SEQUENCE + _SEQUENCE
_OVERSIZED_CHARS: Final = 2 * 1024 * 1024
_JSON_OVERHEAD: Final = 9  # pieces around the summary words in the JSON form
_SCHEMA_BLOCK: Final = re.compile(r"<json_schema>\n(.*?)\n</json_schema>", re.S)
_CHARS_PER_PIECE: Final = 4


class PromptError(ValueError):
    """The request body is not a valid Messages request (answered with a 400)."""


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """A ``cache_control`` mark: the prompt up to the end of its block may be cached.

    ``key`` digests the exact content before the mark (tools, system, then messages,
    in that order, as the API builds its cache prefix); ``tokens`` is that prefix's
    length with the same ``chars / 4`` count as ``input_tokens``.
    """

    tokens: int
    ttl: Ttl
    key: bytes


@dataclass(frozen=True, slots=True)
class Prompt:
    """The text of one request, its input token count and a 64-bit digest of it."""

    system: str
    texts: tuple[str, ...]
    input_tokens: int
    digest: int
    breakpoints: tuple[Breakpoint, ...] = ()

    @property
    def wants_json(self) -> bool:
        """``JSON`` in the system prompt, or in the last line of the last message (where
        a stage instruction goes when the system prompt is shared by several stages)."""
        if "JSON" in self.system:
            return True
        return bool(self.texts) and "JSON" in self.texts[-1].rsplit("\n", 1)[-1]

    @property
    def json_schema(self) -> Any | None:
        """The last ``<json_schema>`` block of the instructions (system prompt, else the
        last message, where a stage's instruction follows the document), parsed; None if
        there is none or it is not JSON."""
        for text in (self.system, self.texts[-1] if self.texts else ""):
            found = _SCHEMA_BLOCK.findall(text)
            if found:
                try:
                    return json.loads(found[-1])
                except ValueError:
                    return None
        return None


_MAX_BREAKPOINTS: Final = 4
_TTLS: Final = ("5m", "1h")
# One segment of the prompt in cache-prefix order: (role, text, ttl or None).
_Segment = tuple[str, str, Ttl | None]


def read_prompt(body: Mapping[str, Any]) -> Prompt:
    """Extract system + message text from a parsed request; raise PromptError if malformed."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise PromptError("messages: Field required (a non-empty list)")
    segments: list[_Segment] = []
    tools = body.get("tools")
    if tools:
        segments.append(("tools", json.dumps(tools, separators=(",", ":")), None))
    if body.get("system") is not None:
        _collect(body["system"], segments, "system", "system")
    system = "".join(text for role, text, _ in segments if role == "system")
    texts: list[str] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise PromptError(f"messages.{i}: needs role 'user' or 'assistant' and content")
        start = len(segments)
        _collect(message.get("content"), segments, f"messages.{i}.content", message["role"])
        # One text per message: how a turn is cut into blocks (to place a cache
        # breakpoint) does not change what the model is asked, so not the answer either.
        texts.append("".join(text for _, text, _ in segments[start:]))
    chars = sum(len(text) for _, text, _ in segments)
    material = "\x1e".join((system, *texts)).encode("utf-8", "surrogatepass")
    digest = int.from_bytes(hashlib.blake2b(material, digest_size=8).digest(), "big")
    return Prompt(system, tuple(texts), math.ceil(chars / 4), digest, _breakpoints(segments))


def _collect(content: object, out: list[_Segment], where: str, role: str) -> None:
    if isinstance(content, str):
        out.append((role, content, None))
        return
    if not isinstance(content, list):
        raise PromptError(f"{where}: Input should be a string or a list of content blocks")
    for block in content:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise PromptError(f"{where}: each content block needs a 'type'")
        ttl = _ttl(block.get("cache_control"), where)
        if isinstance(block.get("text"), str):
            out.append((role, block["text"], ttl))
        elif block["type"] == "tool_result" and block.get("content") is not None:
            _collect(block["content"], out, where, role)
        elif block["type"] == "tool_use":
            out.append((role, json.dumps(block.get("input", {}), separators=(",", ":")), ttl))


def _ttl(control: object, where: str) -> Ttl | None:
    if control is None:
        return None
    if not isinstance(control, dict) or control.get("type") != "ephemeral":
        raise PromptError(f"{where}: cache_control: type must be 'ephemeral'")
    ttl = control.get("ttl", "5m")
    if ttl not in _TTLS:
        raise PromptError(f"{where}: cache_control.ttl: Input should be '5m' or '1h'")
    return "1h" if ttl == "1h" else "5m"


def _breakpoints(segments: list[_Segment]) -> tuple[Breakpoint, ...]:
    """The cache_control marks with the digest of everything up to each (none: free)."""
    marked = sum(1 for _, _, ttl in segments if ttl is not None)
    if not marked:
        return ()
    if marked > _MAX_BREAKPOINTS:
        raise PromptError(
            f"A maximum of {_MAX_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {marked}."
        )
    running = hashlib.blake2b(digest_size=16)
    chars = 0
    found: list[Breakpoint] = []
    for role, text, ttl in segments:
        running.update(role.encode() + b"\x1f" + text.encode("utf-8", "surrogatepass") + b"\x1e")
        chars += len(text)
        if ttl is not None:
            found.append(Breakpoint(math.ceil(chars / 4), ttl, running.digest()))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Completion:
    """The answer: its pieces (one per output token) and why it stopped."""

    pieces: Sequence[str]
    stop_reason: str

    @property
    def output_tokens(self) -> int:
        return len(self.pieces)

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def chunks(self, tokens_per_chunk: int) -> list[str]:
        """The text in deltas of ``tokens_per_chunk`` pieces (for streaming)."""
        p, k = self.pieces, max(1, tokens_per_chunk)
        return ["".join(p[i : i + k]) for i in range(0, len(p), k)]


def complete(
    prompt: Prompt, out_min: int, out_max: int, max_tokens: int, force: str | None = None
) -> Completion:
    """The deterministic answer to ``prompt``.

    ``force`` bends it for a fault mode: ``max_tokens`` (always longer than max_tokens,
    so it is cut), ``refusal`` (a short answer with stop_reason refusal), ``oversized``
    (~2 MB, not capped by max_tokens), ``badjson`` (a JSON object that does not parse).
    """
    h = prompt.digest
    natural = out_min + h % (out_max - out_min + 1)
    if force == "max_tokens":
        natural = max(natural, max_tokens + 1)
    elif force == "oversized":
        natural = _OVERSIZED_CHARS // 7  # ~7 characters per piece
    as_json = prompt.wants_json or force == "badjson"
    # A forced length (max_tokens, oversized) keeps the sized default: it is cut anyway.
    sized = force in ("max_tokens", "oversized")
    schema = prompt.json_schema if as_json and not sized else None
    if schema is not None:
        pieces = _schema_pieces(schema, h)
    elif as_json:
        pieces = _json_pieces(h, natural)
    else:
        pieces = [MARK, *_words(h, natural - 1)]
    if force == "badjson":
        pieces[-1] = ","  # '..."score": 0.42,' — a truncated object, never valid JSON
    if force == "oversized":
        return Completion(pieces, "end_turn")
    if force == "refusal":
        return Completion(pieces[: min(len(pieces), max_tokens, 8)], "refusal")
    if len(pieces) > max_tokens:
        return Completion(pieces[:max_tokens], "max_tokens")
    return Completion(pieces, "end_turn")


def _words(h: int, count: int) -> list[str]:
    count = max(1, count)
    start = (h >> 16) % len(_SEQUENCE)
    if count <= len(_SEQUENCE):
        words = _DOUBLED[start : start + count]
    else:
        words = list(itertools.islice(itertools.cycle(_SEQUENCE), start, start + count))
    words[-1] = words[-1][:-1]  # no trailing space
    return words


def _schema_pieces(schema: Any, h: int) -> list[str]:
    """An instance of ``schema`` as JSON text, in pieces of a few characters (a token's
    worth), so max_tokens cuts it like any answer; string values are simulator words."""

    def words(rng: random.Random) -> str:
        return MARK + "".join(_words(rng.getrandbits(48) << 16, 3 + rng.randrange(4)))

    text = json.dumps(instance(schema, h, words), ensure_ascii=False)
    return [text[i : i + _CHARS_PER_PIECE] for i in range(0, len(text), _CHARS_PER_PIECE)]


def _json_pieces(h: int, natural: int) -> list[str]:
    first = _LABELS[(h >> 32) % len(_LABELS)]
    second = _LABELS[((h >> 32) + 1 + (h >> 35) % (len(_LABELS) - 1)) % len(_LABELS)]
    score = f"0.{(h >> 48) % 100:02d}"
    return [
        '{"simulated": true, "summary": "',
        MARK,
        *_words(h, natural - _JSON_OVERHEAD),
        '", "labels": ["',
        first,
        '", "',
        second,
        '"], "score": ',
        score,
        "}",
    ]
