"""Build a value of a JSON schema: the one schema walker behind the fake model's defaults and the mock server.

:class:`SchemaInstanceBuilder` walks a schema (``$ref`` into ``$defs``/``definitions``, ``const``, ``enum``,
``anyOf``/``oneOf``, ``allOf``, ``type``) and leaves each choice (which enum value or union branch, how many array
items, which string or number) to a subclass. :class:`MinimalInstance` makes the smallest plausible value
(``FakeChatModel``'s default structured answer); ``escgraph.testing.instance_for_schema`` makes a varied one,
chosen by a seed (the mock OpenAI server's answers). :func:`resolve_ref` is the one ``$ref`` resolver.

>>> minimal_instance({"type": "object", "required": ["n"], "properties": {"n": {"type": "integer", "minimum": 2}}})
{'n': 2}
"""

from __future__ import annotations

import copy
import re
from typing import Any

from ._errors import StructuredOutputError

__all__ = ["SchemaInstanceBuilder", "MinimalInstance", "minimal_instance", "resolve_ref"]


def resolve_ref(ref: str, root: dict[str, Any]) -> Any:
    """The node a local ``$ref`` (``#`` or a JSON pointer such as ``#/$defs/Item``) points to inside ``root``."""
    if ref != "#" and not ref.startswith("#/"):
        raise StructuredOutputError(f"Only local $refs are supported in output schemas, got {ref!r}")
    node: Any = root
    for part in ref[2:].split("/"):
        if part:
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


class SchemaInstanceBuilder:
    """Walks a JSON schema and builds one value of it; subclasses decide every choice the schema leaves open.

    ``path`` names the place in the value being built (``$``, ``$.field``, ``$.items[0]``); a subclass may use it
    to vary its choices. A walk deeper than ``max_depth`` (a recursive schema) yields ``None``.
    """

    max_depth = 32
    use_defaults = False  # whether a schema's "default" is the value

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root

    def build(self) -> Any:
        return self.value(self.root, "$")

    def value(self, schema: Any, path: str, depth: int = 0) -> Any:
        if depth > self.max_depth:
            return None
        if not isinstance(schema, dict):  # `true` or another bare schema: any value
            return self.pick(path, 100)
        if "$ref" in schema:
            return self.value(self.follow(schema), path, depth + 1)
        if self.use_defaults and "default" in schema:
            return copy.deepcopy(schema["default"])
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][self.pick(path, len(schema["enum"]))]
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                return self.union(key, schema[key], path, depth)
        if schema.get("allOf"):
            return self.all_of(schema, path, depth)
        make = {"object": self.object, "array": self.array, "integer": self.integer, "number": self.number,
                "boolean": self.boolean, "null": self.null, "string": self.string}.get(self.kind(schema))
        return self.other(schema, path, depth) if make is None else make(schema, path, depth)

    def follow(self, schema: dict[str, Any]) -> dict[str, Any]:
        """The schema a ``$ref`` stands for, with the keys written beside the ``$ref`` laid over it."""
        return {**resolve_ref(schema["$ref"], self.root), **{k: v for k, v in schema.items() if k != "$ref"}}

    # -- choices (the minimal ones; a subclass overrides what it varies) ----------------------------------------
    def pick(self, path: str, n: int) -> int:
        """Which of ``n`` options to take at ``path``."""
        return 0

    def union(self, key: str, options: list[Any], path: str, depth: int) -> Any:
        """The value of one branch of an ``anyOf`` / ``oneOf`` (``key``)."""
        if any(isinstance(option, dict) and option.get("type") == "null" for option in options):
            return None
        return self.value(options[0], path, depth + 1)

    def all_of(self, schema: dict[str, Any], path: str, depth: int) -> Any:
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            merged.update(resolve_ref(part["$ref"], self.root) if "$ref" in part else part)
        return self.value(merged, path, depth + 1)

    def kind(self, schema: dict[str, Any]) -> str | None:
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((t for t in kind if t != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
        return kind

    def object(self, schema: dict[str, Any], path: str, depth: int) -> dict[str, Any]:
        props = schema.get("properties") or {}
        return {name: self.value(sub, f"{path}.{name}", depth + 1) for name, sub in props.items()}

    def array(self, schema: dict[str, Any], path: str, depth: int) -> list[Any]:
        count = int(schema.get("minItems", 0))
        return [self.value(schema.get("items") or {}, f"{path}[{i}]", depth + 1) for i in range(count)]

    def integer(self, schema: dict[str, Any], path: str, depth: int) -> int:
        return int(_minimal_number(schema, step=1))

    def number(self, schema: dict[str, Any], path: str, depth: int) -> float:
        return float(_minimal_number(schema, step=1e-6))

    def boolean(self, schema: dict[str, Any], path: str, depth: int) -> bool:
        return bool(self.pick(path, 2))

    def null(self, schema: dict[str, Any], path: str, depth: int) -> None:
        return None

    def string(self, schema: dict[str, Any], path: str, depth: int) -> str:
        pattern = schema.get("pattern")
        min_length = int(schema.get("minLength", 0))
        text = "x" * min_length
        if pattern and not re.search(pattern, text):
            return "x" * max(min_length, 1)  # best effort; a failing pattern is reported by validation
        return text

    def other(self, schema: dict[str, Any], path: str, depth: int) -> Any:
        """A ``type`` outside JSON schema's seven."""
        return self.string(schema, path, depth)


class MinimalInstance(SchemaInstanceBuilder):
    """The smallest plausible value: a schema's default, the first enum value or branch (``None`` when a union
    admits null), only the required properties, minimal strings, numbers and arrays."""

    max_depth = 12
    use_defaults = True

    def follow(self, schema: dict[str, Any]) -> dict[str, Any]:
        # the definition alone: a default written beside the $ref is not used (nor are other keys beside it)
        return resolve_ref(schema["$ref"], self.root)

    def all_of(self, schema: dict[str, Any], path: str, depth: int) -> Any:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = self.value(part, path, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
        return merged

    def kind(self, schema: dict[str, Any]) -> str | None:
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = "null" if "null" in kind else kind[0]
        return "object" if kind == "object" or ("properties" in schema and kind != "null") else kind

    def object(self, schema: dict[str, Any], path: str, depth: int) -> dict[str, Any]:
        required = schema.get("required", [])
        return {
            name: self.value(prop, f"{path}.{name}", depth + 1)
            for name, prop in schema.get("properties", {}).items()
            if name in required
        }

    def other(self, schema: dict[str, Any], path: str, depth: int) -> Any:
        return {}


def minimal_instance(schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """The smallest plausible value of ``schema`` (see :class:`MinimalInstance`); ``$ref``s resolve in ``root``
    (default: ``schema`` itself)."""
    return MinimalInstance(schema if root is None else root).value(schema, "$")


def _minimal_number(schema: dict[str, Any], *, step: float) -> float:
    value: float = 0
    if "minimum" in schema:
        value = schema["minimum"]
    elif "exclusiveMinimum" in schema:
        value = schema["exclusiveMinimum"] + step
    elif "maximum" in schema and schema["maximum"] < 0:
        value = schema["maximum"]
    return value
