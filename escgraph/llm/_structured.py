"""The runnable behind ``with_structured_output`` for our chat models: call, parse, validate, retry.

Each attempt is an ordinary chat-model run (so callbacks see its token usage); a model decides what an attempt
sends through ``attempt_kwargs``. The runnable mirrors LangChain's contract: the parsed value, or with
``include_raw`` a dict ``{"raw", "parsed", "parsing_error"}`` that never raises for a parse failure.

Every finished call dispatches one LangChain custom event, :data:`STRUCTURED_EVENT`, with ``{"schema",
"attempts", "gave_up", "errors"}``; it carries the call's tags and metadata, so a callback handler can count
retries and give-ups per role (``escgraph.llm.StructuredOutputTracker``). Models served by LangChain's own
structured output (langchain-openai) dispatch nothing.
"""

from __future__ import annotations

from typing import Any, Callable

from langchain_core.callbacks.manager import adispatch_custom_event, dispatch_custom_event
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from ._errors import StructuredOutputError
from ._schema import OutputSchema

__all__ = ["structured_runnable", "check_method", "STRUCTURED_METHODS", "STRUCTURED_EVENT"]

STRUCTURED_EVENT = "escgraph.structured_output"

# LangChain's method names; without tool calling, all of them are served by constrained JSON.
STRUCTURED_METHODS = ("json_schema", "json_mode", "function_calling")

AttemptKwargs = Callable[[list[BaseMessage], int], dict[str, Any]]


def structured_runnable(
    model: BaseChatModel,
    schema: OutputSchema,
    *,
    include_raw: bool,
    max_attempts: int,
    attempt_kwargs: AttemptKwargs,
    prepare_messages: Callable[[list[BaseMessage]], list[BaseMessage]] | None = None,
) -> Runnable[LanguageModelInput, Any]:
    """Build the runnable; ``attempt_kwargs(messages, attempt)`` gives the model kwargs for attempt 0, 1, ...

    ``prepare_messages`` may rewrite the prompt once per call (the embedded model adds a format hint).
    """

    def to_messages(value: LanguageModelInput) -> list[BaseMessage]:
        messages = model._convert_input(value).to_messages()
        return prepare_messages(messages) if prepare_messages else messages

    def finish(raw: AIMessage, parsed: Any, error: Exception | None) -> Any:
        if include_raw:
            return {"raw": raw, "parsed": parsed, "parsing_error": error}
        if error is not None:
            raise error
        return parsed

    def give_up(raw: AIMessage, errors: list[str]) -> Any:
        error = StructuredOutputError(
            f"{type(model).__name__} returned no valid {schema.name} in {len(errors)} attempt(s): "
            + "; ".join(errors)
        )
        return finish(raw, None, error)

    def try_parse(raw: AIMessage, errors: list[str]) -> tuple[bool, Any]:
        try:
            return True, schema.parse(raw.text)
        except ValueError as exc:  # json.JSONDecodeError and pydantic.ValidationError are ValueErrors
            finish_reason = raw.response_metadata.get("finish_reason")
            errors.append(f"{type(exc).__name__} (finish_reason={finish_reason}): {_short(exc)}")
            return False, None

    def report(errors: list[str], gave_up: bool) -> dict[str, Any]:
        attempts = len(errors) + (0 if gave_up else 1)
        return {"schema": schema.name, "attempts": attempts, "gave_up": gave_up, "errors": errors}

    def invoke(value: LanguageModelInput, config: RunnableConfig) -> Any:
        messages = to_messages(value)
        errors: list[str] = []
        raw = AIMessage(content="")
        for attempt in range(max_attempts):
            raw = model.invoke(messages, config, **attempt_kwargs(messages, attempt))
            ok, parsed = try_parse(raw, errors)
            if ok:
                _dispatch(report(errors, False), config)
                return finish(raw, parsed, None)
        _dispatch(report(errors, True), config)
        return give_up(raw, errors)

    async def ainvoke(value: LanguageModelInput, config: RunnableConfig) -> Any:
        messages = to_messages(value)
        errors: list[str] = []
        raw = AIMessage(content="")
        for attempt in range(max_attempts):
            raw = await model.ainvoke(messages, config, **attempt_kwargs(messages, attempt))
            ok, parsed = try_parse(raw, errors)
            if ok:
                await _adispatch(report(errors, False), config)
                return finish(raw, parsed, None)
        await _adispatch(report(errors, True), config)
        return give_up(raw, errors)

    return RunnableLambda(invoke, afunc=ainvoke, name=f"{type(model).__name__}[{schema.name}]")


# The runnable always runs as a child run, so a parent run id exists; the guard only keeps a bare call (no run
# manager) from failing on what is bookkeeping.
def _dispatch(data: dict[str, Any], config: RunnableConfig) -> None:
    try:
        dispatch_custom_event(STRUCTURED_EVENT, data, config=config)
    except RuntimeError:
        pass


async def _adispatch(data: dict[str, Any], config: RunnableConfig) -> None:
    try:
        await adispatch_custom_event(STRUCTURED_EVENT, data, config=config)
    except RuntimeError:
        pass


def check_method(method: str) -> None:
    if method not in STRUCTURED_METHODS:
        raise ValueError(
            f"Unknown structured-output method {method!r}; use one of {', '.join(STRUCTURED_METHODS)}"
        )


def _short(exc: Exception, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
