"""A loopback OpenAI-compatible chat-completions server for tests and benches (standard library only).

Every answer is made up but valid: a request with a JSON-schema ``response_format`` gets a JSON instance of
that schema, a request forcing a tool gets a tool call with such arguments, any other request a short
sentence. Answers depend only on the request's messages (a hash picks enum values, numbers and sentences),
so runs are reproducible. Each answer waits ``delay`` seconds on an ``asyncio.sleep``, which lets thousands of
requests wait at once: a bench can measure how much concurrency a client really achieves.

    with MockOpenAIServer(delay=0.2) as server:
        model = load_chat_model("openai:mock", base_url=server.base_url, api_key="x")
        model.invoke("hi")
        assert server.requests == 1

Only ``POST /v1/chat/completions`` (with optional ``stream``) and ``GET /v1/models`` exist; the server binds
to a loopback address only.

**Fault injection.** ``faults=Faults(...)`` makes a share of chat-completion requests fail the way real servers
do: 5xx errors, 429 with ``Retry-After``, hangs (no answer until the client gives up), 200 bodies that are not
JSON, bodies or streams cut off mid-way, and structured content (JSON-schema content, tool arguments) that does
not parse. Which request gets which fault comes from a seeded RNG; every request that is answered normally is
answered exactly as without faults, so a client that retries faults ends up where a clean run does.

    with MockOpenAIServer(delay=0, faults=Faults.uniform(0.2, seed=7)) as server:
        ...
        server.injected  # Counter of the faults injected, by kind

``api_key="..."`` makes the server answer 401 to requests without ``Authorization: Bearer <that key>``.

**Capacity.** ``capacity=N`` makes the server work on at most N chat-completion requests at once, like a model
server whose batch is full: the others wait in arrival order (first come, first served) and each still takes
``delay`` once its turn comes. ``max_active`` is the most requests worked on at once, ``max_waiting`` the most
that waited for a slot at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from escgraph.llm.schema_instance import SchemaInstanceBuilder

__all__ = ["MockOpenAIServer", "Faults", "FAULT_KINDS", "instance_for_schema"]

_MAX_HEADER = 64 * 1024
_MAX_BODY = 32 * 1024 * 1024
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
            411: "Length Required", 413: "Payload Too Large", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable"}

# The kinds of fault the server can inject, in the order the RNG's draw is matched against their rates.
FAULT_KINDS: tuple[str, ...] = ("server_error", "rate_limit", "hang", "non_json", "truncated", "malformed")


@dataclass
class Faults:
    """Per-request fault rates (each 0..1, summing to at most 1) and the seed of the RNG that draws them.

    ``server_error``: 500, 502 or 503. ``rate_limit``: 429 with ``Retry-After: retry_after`` seconds. ``hang``: no
    answer at all until the client closes the connection. ``non_json``: 200 with an HTML body. ``truncated``: the
    body (or event stream) is cut off mid-way and the connection closed. ``malformed``: for requests that want
    structured output (a JSON schema, JSON mode or a forced tool), content or arguments that do not parse; other
    requests are answered normally (and the fault is not counted).
    """

    server_error: float = 0.0
    rate_limit: float = 0.0
    hang: float = 0.0
    non_json: float = 0.0
    truncated: float = 0.0
    malformed: float = 0.0
    retry_after: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        rates = [getattr(self, kind) for kind in FAULT_KINDS]
        if any(not 0 <= r <= 1 for r in rates) or sum(rates) > 1 + 1e-9:
            raise ValueError("fault rates must each be within 0..1 and sum to at most 1")
        if self.retry_after < 0:
            raise ValueError("retry_after must be 0 or more seconds")

    @classmethod
    def uniform(cls, rate: float, **options: Any) -> "Faults":
        """``rate`` spread evenly over every kind of fault."""
        return cls(**{kind: rate / len(FAULT_KINDS) for kind in FAULT_KINDS}, **options)

    def draw(self, rng: random.Random) -> str | None:
        """The fault for the next request (None: answer it normally)."""
        x, edge = rng.random(), 0.0
        for kind in FAULT_KINDS:
            edge += getattr(self, kind)
            if x < edge:
                return kind
        return None


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


def _wants_structure(body: dict[str, Any]) -> bool:
    kind = (body.get("response_format") or {}).get("type")
    return _forced_tool(body) is not None or kind in ("json_schema", "json_object")


def _malformed(result: dict[str, Any]) -> dict[str, Any]:
    """The completion with its structured content (JSON content, tool arguments) cut in half: it no longer parses."""
    result = json.loads(json.dumps(result))
    for choice in result["choices"]:
        message = choice["message"]
        for call in message.get("tool_calls") or []:
            arguments = call["function"]["arguments"]
            call["function"]["arguments"] = arguments[: max(1, len(arguments) // 2)]
        if isinstance(message.get("content"), str):
            message["content"] = message["content"][: max(1, len(message["content"]) // 2)]
    return result


def _as_stream(result: dict[str, Any], include_usage: bool) -> bytes:
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


# -- HTTP -----------------------------------------------------------------------------------------------------

class _HTTPError(Exception):
    def __init__(self, status: int, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status, self.message, self.close = status, message, close


def _error_body(status: int, message: str) -> bytes:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": None}}).encode()


class _Reply:
    """What to send back: a status, a body and how (normally, cut off mid-way, or not at all)."""

    def __init__(self, status: int, payload: bytes = b"", content_type: str = "application/json", *,
                 headers: dict[str, str] | None = None, mode: str = "normal") -> None:
        self.status, self.payload, self.content_type = status, payload, content_type
        self.headers = headers or {}
        self.mode = mode  # "normal", "truncate" (half the body, then close) or "hang" (say nothing)


def _json_error(status: int, message: str, **headers: str) -> _Reply:
    return _Reply(status, _error_body(status, message), headers=headers)


class MockOpenAIServer:
    """The mock server, running on its own event loop in a daemon thread (so sync and async clients can share it).

    ``base_url`` ends in ``/v1``; ``requests`` counts chat-completion requests received (those answered with an
    injected fault included), ``max_in_flight`` the most that were waiting at once, ``injected`` the faults
    injected by kind, ``unauthorized`` the requests refused for a wrong API key, and ``last_request`` the path
    with query string and the headers of the latest chat-completion request. Use as a context manager, or call
    :meth:`start` and :meth:`stop`. ``faults`` may be replaced while the server runs (the RNG keeps its state).
    ``last_body`` is the decoded JSON body of the latest chat-completion request.

    ``capacity`` (None: no limit) bounds how many chat-completion requests are worked on at once; ``in_flight``
    and ``max_in_flight`` count requests received and not yet answered, those waiting for a slot included.
    """

    def __init__(self, delay: float = 0.2, *, host: str = "127.0.0.1", port: int = 0, faults: Faults | None = None,
                 api_key: str | None = None, capacity: int | None = None) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"MockOpenAIServer binds to loopback only, not {host!r}")
        if capacity is not None and capacity < 1:
            raise ValueError("capacity must be at least 1 (or None for no limit)")
        self.delay = delay
        self.host = host
        self.port = port
        self.faults = faults
        self.api_key = api_key
        self.capacity = capacity
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.injected: Counter[str] = Counter()
        self.unauthorized = 0
        self.last_request: dict[str, Any] = {}
        self.last_body: dict[str, Any] | None = None
        self.waiting = 0
        self.max_waiting = 0
        self.active = 0
        self.max_active = 0
        # created on the server's loop (asyncio primitives belong to the loop that runs them); FIFO by design
        self._slots: asyncio.Semaphore | None = None
        self._rng = random.Random(faults.seed if faults is not None else 0)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    # -- lifecycle --------------------------------------------------------------------------------------------
    def start(self) -> "MockOpenAIServer":
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name="mock-openai", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise RuntimeError(f"mock OpenAI server failed to start: {self._error}") from self._error
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._shutdown)
        self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> "MockOpenAIServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)  # this thread's loop, so asyncio helpers called here find it
        self._loop = loop
        if self.capacity is not None:
            self._slots = asyncio.Semaphore(self.capacity)
        try:
            # a large backlog: a bench opens hundreds of connections at once
            self._server = loop.run_until_complete(
                asyncio.start_server(self._serve, self.host, self.port, backlog=4096, limit=_MAX_HEADER))
            self.port = self._server.sockets[0].getsockname()[1]
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def _shutdown(self) -> None:
        assert self._server is not None and self._loop is not None
        self._server.close()
        self._loop.stop()

    # -- connections ------------------------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: one request after another on the same connection
                try:
                    request = await self._read_request(reader)
                except _HTTPError as exc:
                    await self._send(writer, _json_error(exc.status, exc.message), keep_alive=False)
                    return
                if request is None:
                    return  # the client closed the connection
                method, target, headers, body = request
                keep_alive = headers.get("connection", "").lower() != "close"
                reply = await self._handle(method, target, headers, body)
                if reply.mode == "hang":
                    while await reader.read(65536):  # say nothing until the client gives up and hangs up
                        pass
                    return
                if reply.mode == "truncate":
                    await self._send(writer, reply, keep_alive=False)
                    return
                await self._send(writer, reply, keep_alive=keep_alive)
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return  # the client went away mid-request
        except asyncio.CancelledError:
            # stop() cancels idle keep-alive connections; ending quietly keeps asyncio from logging each one
            return
        finally:
            writer.close()

    async def _read_request(self, reader: asyncio.StreamReader):
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                raise _HTTPError(400, "incomplete request head") from None
            return None
        except asyncio.LimitOverrunError:
            raise _HTTPError(400, "request head too large") from None
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _HTTPError(400, f"malformed request line: {lines[0][:100]!r}")
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, sep, value = line.partition(":")
                if not sep:
                    raise _HTTPError(400, f"malformed header line: {line[:100]!r}")
                headers[name.strip().lower()] = value.strip()
        if version == "HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive":
            headers["connection"] = "close"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise _HTTPError(411, "chunked request bodies are not supported; send Content-Length")
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise _HTTPError(400, "Content-Length is not a number") from None
        if length < 0 or length > _MAX_BODY:
            raise _HTTPError(413, f"request body must be 0..{_MAX_BODY} bytes")
        body = await reader.readexactly(length) if length else b""
        return method.upper(), target, headers, body

    async def _send(self, writer: asyncio.StreamWriter, reply: _Reply, *, keep_alive: bool) -> None:
        extra = "".join(f"{name}: {value}\r\n" for name, value in reply.headers.items())
        head = (f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Error')}\r\n"
                f"Content-Type: {reply.content_type}\r\nContent-Length: {len(reply.payload)}\r\n{extra}"
                f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n")
        payload = reply.payload[: len(reply.payload) // 2] if reply.mode == "truncate" else reply.payload
        writer.write(head.encode() + payload)
        await writer.drain()

    # -- routes -----------------------------------------------------------------------------------------------
    async def _handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> _Reply:
        path = target.split("?", 1)[0].rstrip("/")
        if path in ("/v1/models", "/models"):
            if method != "GET":
                return _json_error(405, f"{method} not allowed on {path}")
            data = {"object": "list", "data": [{"id": "mock", "object": "model", "created": 0, "owned_by": "mock"}]}
            return _Reply(200, json.dumps(data).encode())
        if path not in ("/v1/chat/completions", "/chat/completions"):
            return _json_error(404, f"no route {method} {path}")
        if method != "POST":
            return _json_error(405, f"{method} not allowed on {path}")
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            with self._lock:
                self.unauthorized += 1
            return _json_error(401, "Incorrect API key provided")
        try:
            request = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return _json_error(400, f"request body is not valid JSON: {exc}")
        if not isinstance(request, dict) or not isinstance(request.get("messages"), list):
            return _json_error(400, "request body must be an object with a 'messages' list")
        with self._lock:
            self.requests += 1
            number = self.requests
            self.last_request = {"target": target, "headers": dict(headers)}
            self.last_body = request
            fault = self.faults.draw(self._rng) if self.faults is not None else None
            if fault == "malformed" and not _wants_structure(request):
                fault = None  # a plain sentence cannot be malformed; answer normally
            if fault is not None:
                self.injected[fault] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if fault == "hang":
                return _Reply(200, mode="hang")
            async with self._slot():
                await asyncio.sleep(self.delay)
            try:
                result = complete(request, number)
            except Exception as exc:  # a schema we cannot satisfy: say so rather than drop the connection
                return _json_error(400, f"mock cannot answer this request: {exc}")
        finally:
            with self._lock:
                self.in_flight -= 1
        return self._answer(request, result, fault)

    @contextlib.asynccontextmanager
    async def _slot(self):
        """One of the ``capacity`` slots, waited for in arrival order (asyncio.Semaphore wakes waiters FIFO)."""
        if self._slots is None:
            yield
            return
        with self._lock:
            self.waiting += 1
            self.max_waiting = max(self.max_waiting, self.waiting)
        try:
            await self._slots.acquire()
        finally:
            with self._lock:
                self.waiting -= 1
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            yield
        finally:
            with self._lock:
                self.active -= 1
            self._slots.release()

    def _answer(self, request: dict[str, Any], result: dict[str, Any], fault: str | None) -> _Reply:
        if fault == "server_error":
            status = (500, 502, 503)[result["usage"]["prompt_tokens"] % 3]
            return _json_error(status, "the mock server failed (injected fault)")
        if fault == "rate_limit":
            return _json_error(429, "Rate limit reached (injected fault)",
                               **{"Retry-After": f"{self.faults.retry_after:g}"})
        if fault == "non_json":
            return _Reply(200, b"<html><body><h1>502 Bad Gateway</h1></body></html>")
        if fault == "malformed":
            result = _malformed(result)
        mode = "truncate" if fault == "truncated" else "normal"
        if request.get("stream"):
            include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
            return _Reply(200, _as_stream(result, include_usage), "text/event-stream", mode=mode)
        return _Reply(200, json.dumps(result).encode(), mode=mode)
