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

What it answers is made in ``_completions`` and which faults it injects in ``_faults``; this module is the HTTP
server. Only ``POST /v1/chat/completions`` (with optional ``stream``) and ``GET /v1/models`` exist; the server binds
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
import ipaddress
import json
import random
import threading
from collections import Counter
from typing import Any

# the answers and the faults live in their own modules; their public names are re-exported here
from ._completions import as_stream, complete, instance_for_schema, wants_structure
from ._faults import FAULT_KINDS, Faults, malformed

__all__ = ["MockOpenAIServer", "Faults", "FAULT_KINDS", "instance_for_schema"]

_MAX_HEADER = 64 * 1024
_MAX_BODY = 32 * 1024 * 1024
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
            411: "Length Required", 413: "Payload Too Large", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable"}


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
            if fault == "malformed" and not wants_structure(request):
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
            result = malformed(result)
        mode = "truncate" if fault == "truncated" else "normal"
        if request.get("stream"):
            include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
            return _Reply(200, as_stream(result, include_usage), "text/event-stream", mode=mode)
        return _Reply(200, json.dumps(result).encode(), mode=mode)
