"""A deterministic instance of a JSON Schema: the simulator's answer to a JSON stage.

docstream puts a JSON stage's ``json_schema`` into its instructions (``<json_schema>``
block, see ``stream.pipeline``), so the simulator can answer with a value of that shape
and a user can try their own pipeline end to end without Claude. Covered: ``type``
(including lists), ``properties``/``required``, ``items``/``prefixItems``,
``minItems``/``maxItems``, ``enum``, ``const``, ``minimum``/``maximum`` (and the
exclusive forms), ``multipleOf``, ``minLength``/``maxLength``, common ``format`` values,
``allOf``/``anyOf``/``oneOf`` and local ``$ref``s (``#/$defs/...``). Not covered:
``pattern``, ``not``, ``if``/``then``/``else``, dependent schemas: a stage using those
may get an answer that fails its own validation, as a real model's could.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any, Final

__all__ = ["instance"]

_MAX_DEPTH: Final = 12
_FORMATS: Final = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "00:00:00Z",
    "email": "simulated@example.com",
    "uri": "https://example.com/simulated",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "hostname": "simulated.example.com",
    "ipv4": "192.0.2.1",
}

Words = Callable[[random.Random], str]


def instance(schema: Any, seed: int, words: Words) -> Any:
    """A value valid against ``schema`` for the keywords above; the same seed, the same value."""
    return _Builder(schema, random.Random(seed), words).build(schema, 0)


class _Builder:
    def __init__(self, root: Any, rng: random.Random, words: Words) -> None:
        self._root = root
        self._rng = rng
        self._words = words

    def build(self, schema: Any, depth: int) -> Any:
        if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
            return None if schema is False else {}
        schema = self._resolve(schema)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return self._rng.choice(list(schema["enum"]))
        for key in ("allOf", "anyOf", "oneOf"):
            if schema.get(key):
                return self._combined(schema, key, depth)
        kind = _kind(schema)
        return _BUILDERS.get(kind, _Builder._null)(self, schema, depth)

    def _resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = schema.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#"):
            return schema
        node: Any = self._root
        for part in [p for p in ref[1:].split("/") if p]:
            node = (
                node.get(part.replace("~1", "/").replace("~0", "~"), {})
                if isinstance(node, Mapping)
                else {}
            )
        merged = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
        return merged if isinstance(node, Mapping) else schema

    def _combined(self, schema: Mapping[str, Any], key: str, depth: int) -> Any:
        rest = {k: v for k, v in schema.items() if k != key}
        if key != "allOf":  # one branch is enough
            return self.build({**rest, **self._resolve(schema[key][0])}, depth + 1)
        merged: dict[str, Any] = dict(rest)
        for part in schema["allOf"]:
            part = self._resolve(part)
            merged["properties"] = {**merged.get("properties", {}), **part.get("properties", {})}
            merged["required"] = [*merged.get("required", []), *part.get("required", [])]
            merged.update({k: v for k, v in part.items() if k not in ("properties", "required")})
        return self.build(merged, depth + 1)

    def _object(self, schema: Mapping[str, Any], depth: int) -> Any:
        properties = schema.get("properties") or {}
        return {name: self.build(sub, depth + 1) for name, sub in properties.items()}

    def _array(self, schema: Mapping[str, Any], depth: int) -> Any:
        prefix = [self.build(s, depth + 1) for s in schema.get("prefixItems") or []]
        count = max(int(schema.get("minItems", 0)), 2)
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        items = schema.get("items")
        if items is False or not isinstance(items, Mapping):
            return prefix[:count] if prefix else []
        rest = [self.build(items, depth + 1) for _ in range(max(count - len(prefix), 0))]
        return prefix + rest

    def _string(self, schema: Mapping[str, Any], _depth: int) -> Any:
        text = _FORMATS.get(str(schema.get("format")), "") or self._words(self._rng)
        low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
        text = text.ljust(low, "x")
        return text[: int(high)] if high is not None else text

    def _number(self, schema: Mapping[str, Any], _depth: int) -> Any:
        low, high = _bounds(schema, 0)
        value = low + (high - low) * self._rng.uniform(0.25, 0.75)
        step = schema.get("multipleOf")
        if step:
            value = round(value / step) * step
        return round(value, 4)

    def _integer(self, schema: Mapping[str, Any], _depth: int) -> Any:
        low, high = _bounds(schema, 1)
        step = int(schema.get("multipleOf", 1))
        first = -(-int(low) // step) * step
        choices = list(range(first, int(high) + 1, step)) or [first]
        return self._rng.choice(choices)

    def _boolean(self, _schema: Mapping[str, Any], _depth: int) -> Any:
        return self._rng.random() < 0.5

    def _null(self, _schema: Mapping[str, Any], _depth: int) -> Any:
        return None


_BUILDERS: Final[dict[str, Callable[[_Builder, Mapping[str, Any], int], Any]]] = {
    "object": _Builder._object,
    "array": _Builder._array,
    "string": _Builder._string,
    "number": _Builder._number,
    "integer": _Builder._integer,
    "boolean": _Builder._boolean,
    "null": _Builder._null,
}


def _bounds(schema: Mapping[str, Any], gap: int) -> tuple[float, float]:
    """The allowed range; ``gap`` 1 turns exclusive integer bounds into inclusive ones
    (for numbers the caller stays strictly inside). Open ends are 100 wide."""
    low = schema.get("minimum")
    if low is None and "exclusiveMinimum" in schema:
        low = schema["exclusiveMinimum"] + gap
    high = schema.get("maximum")
    if high is None and "exclusiveMaximum" in schema:
        high = schema["exclusiveMaximum"] - gap
    if low is None:
        low = 0 if high is None else high - 100
    if high is None:
        high = low + 100
    return low, high


def _kind(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "object"  # {} accepts anything; an object is the usual expectation
