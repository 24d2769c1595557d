"""What the mock OpenAI server answers: made-up but valid chat completions, chosen by a hash of the request.

A JSON-schema ``response_format`` gets an instance of the schema (:func:`instance_for_schema`), a forced tool a
call with such arguments, any other request a short sentence; :func:`as_stream` turns a completion into the
server-sent events of a streamed answer.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from escgraph.llm.schema_instance import SchemaInstanceBuilder

__all__ = ["instance_for_schema", "complete", "wants_structure", "as_stream"]

# Plain replies: each is a usable counselor or seeker line (no goodbyes, no meta talk, no stock supporter
# opener a seeker check would reject), so a simulated dialogue keeps going until its turn limit.
_SENTENCES = [
    "It has been a hard few weeks and I keep coming back to it.",
    "I hear how much this has been weighing on you lately.",
    "Can you tell me a little more about what happened?",
    "It took courage to share this, and I am glad you did.",
    "Maybe we could look at one small step you could take this week.",
    "I have been feeling worn out and I am not sure what to do next.",
    "It helps a bit to talk about it, thank you for listening.",
    "What part of this feels the heaviest for you right now?",
]
# Words for schema strings, cut to fit maxLength.
_PHRASES = [
    "the seeker sounds tired and wants to feel heard",
    "a gentle question keeps the conversation open",
    "they named a clear worry about the future",
    "feeling a little calmer but still unsure",
    "the reply matches what they asked for",
    "reassurance fits the stress they describe",
]


def _digest(*parts: Any) -> int:
    text = "\x1f".join(p if isinstance(p, str) else json.dumps(p, sort_keys=True, default=str) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


# -- JSON schema -> instance ----------------------------------------------------------------------------------

def instance_for_schema(schema: dict[str, Any], seed: str = "") -> Any:
    """A JSON value valid for ``schema`` (the subset structured output uses), chosen deterministically by ``seed``.

    Handles ``$ref`` into ``$defs``/``definitions``, ``anyOf``/``oneOf``/``allOf``, ``enum``/``const``, string
    length bounds and common formats, numeric bounds, array item counts and nested objects (every property
    is filled, as strict mode requires).
    """
    return _Varied(schema, seed).build()


class _Varied(SchemaInstanceBuilder):
    """Every property filled; enum values, union branches, counts, numbers and phrases picked by a hash."""

    def __init__(self, root: dict[str, Any], seed: str) -> None:
        super().__init__(root)
        self.seed = seed

    def pick(self, path: str, n: int) -> int:
        return _digest(self.seed, path) % n if n > 0 else 0

    def union(self, key: str, options: list[Any], path: str, depth: int) -> Any:
        # prefer a non-null branch so optional fields still carry content
        options = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")] or options
        return self.value(options[self.pick(path + key, len(options))], path, depth + 1)

    def array(self, schema: dict, path: str, depth: int) -> list:
        low = schema.get("minItems", 1)
        high = max(low, min(schema.get("maxItems", 3), low + 2))
        count = low + self.pick(path + "#n", high - low + 1)
        if isinstance(schema.get("prefixItems"), list):
            return [self.value(s, f"{path}[{i}]", depth + 1) for i, s in enumerate(schema["prefixItems"])]
        return [self.value(schema.get("items", {}), f"{path}[{i}]", depth + 1) for i in range(count)]

    def _bounds(self, schema: dict, step: float) -> tuple[float, float]:
        low = schema.get("minimum", -1e9)
        high = schema.get("maximum", 1e9)
        if "exclusiveMinimum" in schema:
            low = max(low, schema["exclusiveMinimum"] + step)
        if "exclusiveMaximum" in schema:
            high = min(high, schema["exclusiveMaximum"] - step)
        # an unbounded side gets a small plausible range next to the other bound (or 0..10)
        if low == -1e9 and high == 1e9:
            low, high = 0, 10
        elif low == -1e9:
            low = high - 10
        elif high == 1e9:
            high = low + 10
        return low, high

    def integer(self, schema: dict, path: str, depth: int) -> int:
        low, high = self._bounds(schema, 1)
        low, high = int(-(-low // 1)), int(high // 1)  # ceil / floor
        value = low + self.pick(path, high - low + 1)
        if schema.get("multipleOf"):
            value -= value % int(schema["multipleOf"])
            value = value if value >= low else value + int(schema["multipleOf"])
        return value

    def number(self, schema: dict, path: str, depth: int) -> float:
        low, high = self._bounds(schema, 1e-6)
        return round(low + (high - low) * self.pick(path, 1001) / 1000, 6) if high > low else low

    def string(self, schema: dict, path: str, depth: int) -> str:
        fmt = schema.get("format")
        if fmt in _FORMATS:
            return _FORMATS[fmt]
        low, high = schema.get("minLength", 0), schema.get("maxLength", 80)
        text = _PHRASES[self.pick(path, len(_PHRASES))]
        while len(text) < low:
            text += " " + _PHRASES[self.pick(path + text, len(_PHRASES))]
        if len(text) > high:
            cut = text[:high]
            text = cut.rsplit(" ", 1)[0] if " " in cut and len(cut.rsplit(" ", 1)[0]) >= low else cut
        return text


_FORMATS = {"date-time": "2024-01-01T12:00:00Z", "date": "2024-01-01", "time": "12:00:00", "email": "a@example.com",
            "uri": "https://example.com/", "uuid": "00000000-0000-4000-8000-000000000000"}


# -- completions ----------------------------------------------------------------------------------------------

def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _forced_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    """The function a request forces (a named tool_choice, or 'required'/'any' with tools), else None."""
    tools = [t["function"] for t in body.get("tools") or [] if isinstance(t, dict) and t.get("function")]
    choice = body.get("tool_choice")
    if not tools or choice in (None, "none", "auto"):
        return None
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return next((t for t in tools if t.get("name") == name), None)
    return tools[0]


def _sentence(seed: str, messages: list[Any], stop: Any) -> str:
    """A reply sentence that does not echo the last message (a dialogue of echoes looks like a broken model)."""
    last = messages[-1].get("content") if messages and isinstance(messages[-1], dict) else None
    last = last if isinstance(last, str) else json.dumps(last)
    options = [s for s in _SENTENCES if s not in last] or _SENTENCES
    text = options[_digest(seed) % len(options)]
    for marker in [stop] if isinstance(stop, str) else stop or []:  # honour stop sequences as a server would
        if isinstance(marker, str) and marker:
            text = text.split(marker, 1)[0]
    return text


def complete(body: dict[str, Any], number: int) -> dict[str, Any]:
    """The chat.completion object for a request body (already checked to be a dict with messages)."""
    messages = body["messages"]
    seed = json.dumps(messages, sort_keys=True, default=str)
    response_format = body.get("response_format") or {}
    tool = _forced_tool(body)
    choices = []
    for index in range(max(1, int(body.get("n") or 1))):
        choice_seed = f"{seed}#{index}"
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        finish = "stop"
        if tool is not None:
            arguments = instance_for_schema(tool.get("parameters") or {"type": "object"}, choice_seed)
            message["tool_calls"] = [{"id": f"call_mock_{number}_{index}", "type": "function",
                                      "function": {"name": tool["name"], "arguments": json.dumps(arguments)}}]
            finish = "tool_calls"
        elif response_format.get("type") == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema") or {"type": "object"}
            message["content"] = json.dumps(instance_for_schema(schema, choice_seed))
        elif response_format.get("type") == "json_object":
            message["content"] = json.dumps({"reply": _sentence(choice_seed, messages, None)})
        else:
            message["content"] = _sentence(choice_seed, messages, body.get("stop"))
        choices.append({"index": index, "message": message, "logprobs": None, "finish_reason": finish})
    completion = sum(_tokens(json.dumps(c["message"])) for c in choices)
    prompt = _tokens(seed)
    return {
        "id": f"chatcmpl-mock-{number}", "object": "chat.completion", "created": int(time.time()),
        "model": str(body.get("model", "mock")), "system_fingerprint": "fp_mock", "choices": choices,
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


def wants_structure(body: dict[str, Any]) -> bool:
    kind = (body.get("response_format") or {}).get("type")
    return _forced_tool(body) is not None or kind in ("json_schema", "json_object")


def as_stream(result: dict[str, Any], include_usage: bool) -> bytes:
    """The same completion as server-sent chat.completion.chunk events (one content chunk per choice)."""
    head = {k: result[k] for k in ("id", "created", "model", "system_fingerprint")}
    events = []
    for choice in result["choices"]:
        delta = {k: v for k, v in choice["message"].items() if v is not None}
        if "tool_calls" in delta:
            delta["tool_calls"] = [{"index": i, **c} for i, c in enumerate(delta["tool_calls"])]
        events.append({**head, "object": "chat.completion.chunk",
                       "choices": [{"index": choice["index"], "delta": delta, "logprobs": None,
                                    "finish_reason": choice["finish_reason"]}]})
    if include_usage:
        events.append({**head, "object": "chat.completion.chunk", "choices": [], "usage": result["usage"]})
    lines = [f"data: {json.dumps(e)}\n\n" for e in events] + ["data: [DONE]\n\n"]
    return "".join(lines).encode()
