"""An agent's control flow, written once and run both sync and async.

A flow is a generator: it yields a :class:`Call` wherever it waits on a model (or any other call that has a
blocking and an awaitable form), receives the answer back from ``yield``, and returns the state update::

    def flow(self, state, runtime):
        model = resolve_model(self.model, runtime, self.role)
        ai = yield ask(model, self.messages(state), config=role_config(self.role, self.name))
        return self.finish(state, message_text(ai))

:func:`drive` fulfils each call with its blocking form (``invoke``) and :func:`adrive` with its awaitable form
(``ainvoke``), so ``AgentNode.run`` and ``AgentNode.arun`` share every branch, retry and fallback of the flow.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Call", "Flow", "ask", "drive", "adrive"]

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """One call a flow waits on, in both forms: ``sync()`` for the sync driver, ``await async_()`` for the async one."""

    sync: Callable[[], Any]
    async_: Callable[[], Awaitable[Any]]


Flow = Generator[Call, Any, T]


def ask(runnable: Any, input: Any, **kwargs: Any) -> Call:
    """``runnable.invoke(input, **kwargs)`` / ``runnable.ainvoke(input, **kwargs)`` (a chat model or a structured
    chooser)."""
    return Call(lambda: runnable.invoke(input, **kwargs), lambda: runnable.ainvoke(input, **kwargs))


def drive(flow: Flow[T]) -> T:
    """Run a flow to its result, making each call it yields with the blocking form."""
    answer = None
    while True:
        try:
            call = flow.send(answer)
        except StopIteration as done:
            return done.value
        answer = call.sync()


async def adrive(flow: Flow[T]) -> T:
    """Run a flow to its result, awaiting each call it yields."""
    answer = None
    while True:
        try:
            call = flow.send(answer)
        except StopIteration as done:
            return done.value
        answer = await call.async_()
