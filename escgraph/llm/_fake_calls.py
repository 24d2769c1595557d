"""Who calls a fake chat model and what goes wrong: :class:`FakeCall` (one request, as a responder sees it),
:class:`Fault` (chosen calls raise, wait or return unparsable output) and the helpers that read a call's caller from
its run's tags and metadata. :class:`~escgraph.llm.FakeChatModel` (``escgraph.llm.fake``) uses them and re-exports
the public names.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Mapping, Sequence

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig, ensure_config

__all__ = ["FakeCall", "Fault", "FaultKind", "InjectedFault", "MALFORMED_JSON", "run_caller", "config_caller",
           "caller_name", "fault_delay"]


@dataclass(frozen=True)
class FakeCall:
    """One request to a fake (a structured call that is retried makes one per attempt), as a responder sees it.

    ``role`` and ``agent`` come from the call's metadata (``role_config`` puts them there) or, failing that, from
    its ``role:<role>`` / ``agent:<name>`` tags; both are ``None`` for a bare ``model.invoke(...)``. ``index`` is
    the call's position in :attr:`FakeChatModel.call_log` (0 = first), counted across copies of the fake.
    """

    index: int
    messages: list[BaseMessage]
    schema: Any = None  # the requested schema (pydantic class, TypedDict, JSON-schema dict), None for plain calls
    role: str | None = None
    agent: str | None = None
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def structured(self) -> bool:
        return self.schema is not None

    @property
    def schema_name(self) -> str:
        """The schema's class name (or JSON schema ``title``); ``""`` for a plain call."""
        if self.schema is None:
            return ""
        if isinstance(self.schema, Mapping):
            return str(self.schema.get("title", ""))
        return getattr(self.schema, "__name__", "")


class InjectedFault(RuntimeError):
    """What a ``Fault("raise")`` raises unless it names its own ``error``."""


FaultKind = Literal["raise", "delay", "malformed"]
_FAULT_KINDS = ("raise", "delay", "malformed")
# Cut-off JSON: what a model stopped mid-answer returns; no schema parses it.
MALFORMED_JSON = '{"cut off'


@dataclass(frozen=True)
class Fault:
    """Make some of a fake's calls fail: ``raise`` an error, ``delay`` (then answer normally) or ``malformed``.

    Which calls: those matching ``role``, ``agent`` and ``structured`` (each ``None`` = any), and among them

    * ``on_call=3`` — the third matching call (1-based; a set or range for several), or
    * ``rate=0.2`` — a share of them, drawn from ``seed``: whether the N-th matching call fails depends only on
      ``(seed, N)``, so a sequential test fails the same calls on every run, or
    * neither — every matching call.

    ``error`` (``raise``): an exception instance or class, or ``f(call) -> exception``; default
    :class:`InjectedFault`. ``seconds`` (``delay``): how long to wait; an async call awaits, a sync call sleeps.
    ``text`` (``malformed``): the reply; default cut-off JSON for a structured call and ``""`` for a plain one.
    A raising or malformed call leaves the script and the responder alone. When several faults fire on one call,
    delays add up, then ``raise`` wins over ``malformed``.
    """

    kind: FaultKind
    on_call: int | Iterable[int] | None = None
    rate: float | None = None
    role: str | None = None
    agent: str | None = None
    structured: bool | None = None
    error: Any = None
    seconds: float = 0.0
    text: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in _FAULT_KINDS:
            raise ValueError(f"Fault kind must be one of {', '.join(_FAULT_KINDS)}, got {self.kind!r}")
        if self.on_call is not None and self.rate is not None:
            raise ValueError("Fault takes on_call or rate, not both")
        if self.on_call is not None:
            calls = frozenset([self.on_call] if isinstance(self.on_call, int) else self.on_call)
            if not calls or any(not isinstance(n, int) or isinstance(n, bool) or n < 1 for n in calls):
                raise ValueError(f"Fault on_call counts matching calls from 1, got {self.on_call!r}")
            object.__setattr__(self, "on_call", calls)
        if self.rate is not None and not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"Fault rate must be between 0 and 1, got {self.rate!r}")
        if self.kind == "delay" and not self.seconds > 0:
            raise ValueError("A delay fault needs seconds > 0")

    def matches(self, call: FakeCall) -> bool:
        """Whether ``call`` is one this fault watches (its role, agent and kind of call)."""
        return ((self.role is None or call.role == self.role)
                and (self.agent is None or call.agent == self.agent)
                and (self.structured is None or call.structured == self.structured))

    def fires_on(self, number: int) -> bool:
        """Whether the ``number``-th matching call (1-based) gets this fault."""
        if self.on_call is not None:
            return number in self.on_call
        if self.rate is not None:
            return random.Random(f"{self.seed}:{number}").random() < self.rate
        return True

    def exception(self, call: FakeCall) -> BaseException:
        error = self.error
        if error is None:
            where = ", ".join(f"{k}={v}" for k, v in (("role", call.role), ("agent", call.agent)) if v)
            return InjectedFault(f"injected fault on call {call.index}" + (f" ({where})" if where else ""))
        if isinstance(error, type) and issubclass(error, BaseException):
            return error(f"injected fault on call {call.index}")
        if isinstance(error, BaseException):
            return copy.copy(error)  # a fresh object, so tracebacks of earlier raises do not pile up on it
        return error(call)

    def reply(self, call: FakeCall) -> str:
        if self.text is not None:
            return self.text
        return MALFORMED_JSON if call.structured else ""


def run_caller(run_manager: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The tags and metadata of the run that made a call (none for a call made without a run manager)."""
    if run_manager is None:
        return (), {}
    return tuple(getattr(run_manager, "tags", None) or ()), dict(getattr(run_manager, "metadata", None) or {})


def config_caller(config: RunnableConfig | None) -> tuple[tuple[str, ...], dict[str, Any]]:
    """Tags and metadata of a direct ``stream``/``astream`` call, from its config."""
    config = ensure_config(config)
    return tuple(config.get("tags") or ()), dict(config.get("metadata") or {})


def caller_name(metadata: Mapping[str, Any], tags: Sequence[str], key: str) -> str | None:
    """``metadata[key]``, else the value of the innermost ``key:<value>`` tag."""
    value = metadata.get(key)
    if isinstance(value, str) and value:
        return value
    prefix = f"{key}:"
    return next((tag[len(prefix):] for tag in reversed(tags) if tag.startswith(prefix)), None)


def fault_delay(fired: Sequence[Fault]) -> float:
    return sum(fault.seconds for fault in fired if fault.kind == "delay")
