"""Output schemas for structured output: normalise, validate, bound for grammars, and build defaults.

A *schema* is what callers hand to ``with_structured_output``: a pydantic model class, a TypedDict class, or a
JSON-schema dict. :class:`OutputSchema` turns any of them into one JSON schema plus a validator, so the embedded
model and the fake model share the same parsing rules.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any, Callable

from langchain_core.utils.function_calling import convert_to_json_schema
from pydantic import BaseModel, TypeAdapter
from typing_extensions import is_typeddict

from ._errors import StructuredOutputError
from .schema_instance import minimal_instance, resolve_ref

__all__ = [
    "OutputSchema",
    "bounded_grammar_schema",
    "worst_case_length",
]

# Integer ranges up to this size become enums in the grammar, so the decoder cannot leave the range.
_MAX_INT_RANGE_AS_ENUM = 100
# Guard against recursive $refs when walking a schema.
_MAX_DEPTH = 12


@dataclass(frozen=True)
class OutputSchema:
    """One caller-supplied schema, seen as a JSON schema plus a parse-and-validate function."""

    source: Any
    json_schema: dict[str, Any]
    name: str
    _validate: Callable[[Any], Any]

    @classmethod
    def of(cls, schema: Any) -> "OutputSchema":
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            return cls(schema, schema.model_json_schema(), schema.__name__, schema.model_validate)
        if is_typeddict(schema):
            return cls(schema, convert_to_json_schema(schema), schema.__name__, _typeddict_validator(schema))
        if isinstance(schema, dict):
            json_schema = schema if _looks_like_json_schema(schema) else convert_to_json_schema(schema)
            name = str(json_schema.get("title") or schema.get("name") or "output")
            return cls(schema, json_schema, name, lambda value: _check_dict(value, json_schema))
        raise TypeError(
            f"Unsupported structured-output schema {schema!r}: pass a pydantic model class, a TypedDict class "
            "or a JSON-schema dict."
        )

    @property
    def returns_model(self) -> bool:
        return isinstance(self.source, type) and issubclass(self.source, BaseModel)

    def validate(self, value: Any) -> Any:
        """Validate a decoded value; pydantic schemas return an instance, the others a plain dict."""
        if isinstance(value, BaseModel):
            if self.returns_model and isinstance(value, self.source):
                return value
            value = value.model_dump(mode="json")
        return self._validate(value)

    def parse(self, text: str) -> Any:
        """Parse model text as JSON and validate it; raises ``ValueError`` subclasses on failure."""
        # strict=False: the grammar's string rule admits raw newlines, which strict JSON would reject.
        return self.validate(json.loads(text, strict=False))

    def default(self) -> Any:
        """A valid value built only from the schema (first enum value, minimal strings, defaults)."""
        value = minimal_instance(self.json_schema)
        try:
            return self.validate(value)
        except ValueError as exc:
            raise StructuredOutputError(
                f"Cannot build a default {self.name} from its schema ({exc}); script a value for it instead."
            ) from exc


def _looks_like_json_schema(schema: dict[str, Any]) -> bool:
    return any(key in schema for key in ("properties", "type", "$ref", "anyOf", "oneOf", "enum"))


def _typeddict_validator(schema: Any) -> Callable[[Any], Any]:
    try:
        adapter = TypeAdapter(schema)
    except Exception:  # typing.TypedDict on Python < 3.12 is not accepted by pydantic; fall back to keys
        json_schema = convert_to_json_schema(schema)
        return lambda value: _check_dict(value, json_schema)
    return lambda value: dict(adapter.validate_python(value))


def _check_dict(value: Any, json_schema: dict[str, Any]) -> dict[str, Any]:
    """Light validation for plain JSON schemas: an object holding every required key, enums respected."""
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    missing = [key for key in json_schema.get("required", []) if key not in value]
    if missing:
        raise ValueError(f"missing required field(s): {', '.join(missing)}")
    for key, prop in json_schema.get("properties", {}).items():
        if key in value and isinstance(prop, dict) and "enum" in prop and value[key] not in prop["enum"]:
            raise ValueError(f"field {key!r} must be one of {prop['enum']}, got {value[key]!r}")
    return value


# --- grammar preparation -------------------------------------------------------------------------------------


def bounded_grammar_schema(
    json_schema: dict[str, Any], *, string_max_length: int, array_max_items: int
) -> dict[str, Any]:
    """A copy of ``json_schema`` that a grammar can always finish within a bounded number of characters.

    Free text is what runs a small model into ``max_tokens``: every string without an enum, const, pattern or
    format gets a ``maxLength`` (llama.cpp's json-schema-to-grammar turns it into a bounded repetition), arrays
    get ``maxItems``, small integer ranges become enums and small number ranges an even grid of values (the
    converter ignores minimum/maximum), and every
    object lists all of its properties as required with no extras, which keeps the declared field order (the
    converter otherwise moves optional fields after required ones).
    """
    bounded = copy.deepcopy(json_schema)
    _bound_node(bounded, string_max_length, array_max_items)
    return bounded


def _bound_node(node: Any, string_max_length: int, array_max_items: int) -> None:
    if isinstance(node, list):
        for item in node:
            _bound_node(item, string_max_length, array_max_items)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    free_text = not any(key in node for key in ("enum", "const", "pattern", "format", "$ref"))
    if kind == "string" and free_text and "maxLength" not in node:
        node["maxLength"] = max(string_max_length, int(node.get("minLength", 0)))
    if kind == "array" and "maxItems" not in node:
        node["maxItems"] = max(array_max_items, int(node.get("minItems", 0)))
    if kind == "integer" and "enum" not in node:
        low, high = _integer_range(node)
        if low is not None and high is not None and 0 <= high - low < _MAX_INT_RANGE_AS_ENUM:
            node["enum"] = list(range(low, high + 1))
    if kind == "number" and "enum" not in node:
        grid = _number_grid(node)
        if grid:
            node["enum"] = grid
    if "properties" in node and isinstance(node["properties"], dict):
        node["required"] = list(node["properties"])
        node.setdefault("additionalProperties", False)
    for key in ("properties", "$defs", "definitions"):
        for child in (node.get(key) or {}).values():
            _bound_node(child, string_max_length, array_max_items)
    for key in ("items", "anyOf", "oneOf", "allOf", "prefixItems"):
        if key in node:
            _bound_node(node[key], string_max_length, array_max_items)


def _integer_range(node: dict[str, Any]) -> tuple[int | None, int | None]:
    low = node.get("minimum")
    if "exclusiveMinimum" in node:
        low = int(node["exclusiveMinimum"]) + 1
    high = node.get("maximum")
    if "exclusiveMaximum" in node:
        high = int(node["exclusiveMaximum"]) - 1
    return (None if low is None else int(low)), (None if high is None else int(high))


def _number_grid(node: dict[str, Any]) -> list[float] | None:
    """Values on an even grid inside a small bounded number range (e.g. 0, 0.05, ..., 1 for a confidence).

    The grammar cannot express minimum/maximum for numbers, and out-of-range numbers were the one thing left
    failing validation (4 retries in 60 calls for a confidence in [0, 1]); a grid makes them impossible.
    """
    low = node.get("minimum", node.get("exclusiveMinimum"))
    high = node.get("maximum", node.get("exclusiveMaximum"))
    if low is None or high is None or not 0 < high - low <= 100:
        return None
    span = high - low
    step = 0.05 * span if span <= 10 else 1.0
    values = [round(low + i * step, 6) for i in range(int(round(span / step)) + 1)]
    return [
        int(v) if float(v).is_integer() else v
        for v in values
        if not ("exclusiveMinimum" in node and v <= low) and not ("exclusiveMaximum" in node and v >= high)
    ] or None


def worst_case_length(schema: dict[str, Any], root: dict[str, Any] | None = None, depth: int = 0) -> int:
    """Upper bound on the characters of a JSON value the grammar for ``schema`` can produce.

    Every token the grammar admits carries at least one character, so this also bounds the tokens needed for
    the JSON to close. (A ``\\uXXXX`` escape counts as one string character but may take six tokens; a retry
    covers that rare case.)
    """
    root = root if root is not None else schema
    if depth > _MAX_DEPTH:
        return 10_000
    if "$ref" in schema:
        return worst_case_length(resolve_ref(schema["$ref"], root), root, depth + 1)
    if "const" in schema:
        return len(json.dumps(schema["const"])) + 1
    if "enum" in schema:
        return max(len(json.dumps(value)) for value in schema["enum"]) + 1
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return max(worst_case_length(option, root, depth + 1) for option in schema[key])
    if "allOf" in schema:
        return sum(worst_case_length(part, root, depth + 1) for part in schema["allOf"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return max(worst_case_length({**schema, "type": one}, root, depth + 1) for one in kind)
    if "properties" in schema:
        return 3 + sum(
            len(json.dumps(name)) + 4 + worst_case_length(prop, root, depth + 1)
            for name, prop in schema["properties"].items()
        )
    if kind == "string":
        if "maxLength" in schema:
            return int(schema["maxLength"]) + 3
        if schema.get("format") in ("date", "time", "date-time"):
            return 40
        return 10_000  # unbounded free text
    if kind == "array":
        items = schema.get("items") or {}
        max_items = schema.get("maxItems")
        if max_items is None:
            return 10_000
        return 3 + int(max_items) * (worst_case_length(items, root, depth + 1) + 2)
    if kind in ("integer", "number"):
        return 40  # the grammar caps digits at 16 per part
    if kind == "boolean":
        return 6
    if kind == "null":
        return 5
    return 10_000  # free-form object or value


# --- prompt hint for small models ----------------------------------------------------------------------------


def format_instructions(json_schema: dict[str, Any]) -> str:
    """One sentence telling the model which JSON object to write, field by field, in schema order.

    The grammar already forces the shape; the hint is for content. Measured on SmolLM2-135M: without it most
    free-text fields came out in random languages, with it they were mostly on-topic English and shorter.
    """
    properties = json_schema.get("properties") or {}
    if not properties:
        return "Respond with a JSON object."
    fields = [f"{name} ({_describe(prop, json_schema)})" for name, prop in properties.items()]
    return "Respond with a JSON object with the fields: " + "; ".join(fields) + "."


def _describe(prop: dict[str, Any], root: dict[str, Any], depth: int = 0) -> str:
    if "$ref" in prop and depth < _MAX_DEPTH:
        # A referenced definition's description documents the type (a class docstring), not this field.
        resolved = {k: v for k, v in resolve_ref(prop["$ref"], root).items() if k != "description"}
        return _describe({**resolved, **{k: v for k, v in prop.items() if k != "$ref"}}, root, depth + 1)
    description = prop.get("description")
    if "enum" in prop:
        kind = "one of: " + ", ".join(str(value) for value in prop["enum"])
    elif "const" in prop:
        kind = f"always {prop['const']}"
    elif any(key in prop for key in ("anyOf", "oneOf")):
        options = [o for o in prop.get("anyOf", prop.get("oneOf", [])) if o.get("type") != "null"]
        kind = _describe(options[0], root, depth + 1) if len(options) == 1 else "a value"
        return kind if description is None else f"{description}; {kind}"
    else:
        kind = _kind_text(prop)
    return kind if description is None else f"{description}; {kind}"


def _kind_text(prop: dict[str, Any]) -> str:
    kind = prop.get("type")
    if kind == "string":
        limit = prop.get("maxLength")
        return "short text" if limit is None else f"text, at most {limit} characters"
    if kind in ("integer", "number"):
        low, high = prop.get("minimum"), prop.get("maximum")
        word = "integer" if kind == "integer" else "number"
        return f"{word} from {low} to {high}" if low is not None and high is not None else word
    if kind == "boolean":
        return "true or false"
    if kind == "array":
        return "a list"
    if kind == "object" or "properties" in prop:
        return "an object"
    return "a value"
