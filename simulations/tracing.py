"""One trace per episode: a parent run that the episode's counselor graph turns and seeker/judge calls nest under.

The parent run is LangChain's own chain group (:func:`~langchain_core.callbacks.manager.atrace_as_chain_group`),
so whatever tracer LangChain is configured with sees it as the root of the episode's runs:

- LangSmith, switched on by its usual environment variables (``LANGSMITH_TRACING=true`` and
  ``LANGSMITH_API_KEY``, optionally ``LANGSMITH_PROJECT``); its OpenTelemetry export
  (``LANGSMITH_TRACING_MODE=otel`` or ``hybrid``, or the older ``LANGSMITH_OTEL_ENABLED=true``) goes through the same
  tracer, so the parent run becomes the root span. The ``process`` executor's workers (and a Ray started by the
  run on this machine) inherit the environment; Ray workers on other machines need the variables set there.
- any local callback handler (a :class:`~langchain_core.tracers.base.BaseTracer`, a logger), attached for the
  duration of a ``with`` block by :func:`trace_with` — in this process only (the ``local`` executor).

With neither, the group has no handler of its own: the episode's usage and health trackers hear exactly the model
and graph calls they heard before, and nothing else is created or sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.callbacks.manager import AsyncCallbackManagerForChainGroup, atrace_as_chain_group
from langchain_core.tracers.context import register_configure_hook

if TYPE_CHECKING:
    from escgraph.simulations.results import EpisodeResult
    from escgraph.simulations.spec import EpisodeKey, RunSpec

__all__ = ["trace_with", "episode_trace", "episode_metadata", "episode_outputs"]

# LangChain adds the handler held here to every callback manager it configures in this context (and inheriting, so
# to every run below): the same hook it uses for its own run collector and LangSmith tracer.
_trace_handler: ContextVar[BaseCallbackHandler | None] = ContextVar("escgraph_trace_handler", default=None)
register_configure_hook(_trace_handler, inheritable=True)


@contextmanager
def trace_with(handler: BaseCallbackHandler) -> Iterator[BaseCallbackHandler]:
    """Send every LangChain run started inside the block (episodes included) to ``handler`` as well.

    The context is copied into tasks started inside the block, so ``with trace_with(tracer): await
    arun_simulation(...)`` traces every episode of a ``local`` run; worker processes do not see it.
    """
    token = _trace_handler.set(handler)
    try:
        yield handler
    finally:
        _trace_handler.reset(token)


def episode_metadata(spec: RunSpec, key: EpisodeKey, attempt: int) -> dict[str, Any]:
    """What identifies an episode's trace: enough to find it again from a results file, and to tell attempts
    (a re-queued episode is traced once per attempt) and configurations apart."""
    return {"episode_id": key.episode_id, "profile_id": key.profile_id, "trial": key.trial, "seed": key.seed,
            "run_id": spec.run_id, "config_hash": spec.config_hash(), "attempt": attempt}


def episode_outputs(result: EpisodeResult) -> dict[str, Any]:
    """The parent run's outputs: how the episode ended (the turns themselves are in the child runs)."""
    return {"outcome": result.outcome, "initial_emotion": result.initial_emotion,
            "final_emotion": result.final_emotion, "seeker_turns": result.seeker_turns}


@asynccontextmanager
async def episode_trace(spec: RunSpec, key: EpisodeKey, *, attempt: int, handlers: Sequence[BaseCallbackHandler] = ()
                        ) -> AsyncIterator[AsyncCallbackManagerForChainGroup]:
    """Open the episode's parent run; yields the callback manager to pass as ``callbacks`` to every step.

    ``handlers`` (the episode's own trackers) are added to the yielded manager only, not to the parent run: they
    see every call of the episode, as when they were passed to each step, and no extra chain event. End the run
    with ``await manager.on_chain_end(episode_outputs(result))``; a block that raises ends it with the error.
    """
    profile = spec.profile(key.profile_id)
    inputs = {"profile_id": key.profile_id, "trial": key.trial, "situation": profile.situation}
    async with atrace_as_chain_group(f"episode {key.episode_id}", inputs=inputs,
                                     metadata=episode_metadata(spec, key, attempt)) as group:
        for handler in handlers:
            group.add_handler(handler, inherit=True)
        yield group
