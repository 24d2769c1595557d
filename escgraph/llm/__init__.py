"""Chat models for escgraph: one spec string per role, an embedded offline model, a fake, token accounting.

>>> from escgraph.llm import load_chat_model
>>> model = load_chat_model("fake")            # or "local", "local:/path/model.gguf", "openai:gpt-4o-mini"
>>> model.invoke("I feel low today").content
'I hear you. You said: I feel low today'
"""

from __future__ import annotations

from ._cached import cached_chat_model
from ._embedded import embedded_model_path
from ._errors import ModelSpecError, StructuredOutputError
from ._llamacpp import ChatLlamaCpp
from ._pool import ServerPoolChatModel
from ._redact import redact_text, redact_url
from ._spec import REQUEST_OPTION_PROVIDERS, ModelSettings, default_chat_model, load_chat_model
from .fake import FakeChatModel
from .retries import StructuredOutputTracker
from .usage import Usage, UsageTracker

__all__ = [
    "load_chat_model",
    "default_chat_model",
    "embedded_model_path",
    "ModelSettings",
    "ModelSpecError",
    "StructuredOutputError",
    "ChatLlamaCpp",
    "ServerPoolChatModel",
    "LeanChatOpenAI",
    "FakeChatModel",
    "Usage",
    "UsageTracker",
    "StructuredOutputTracker",
    "cached_chat_model",
    "redact_url",
    "redact_text",
    "REQUEST_OPTION_PROVIDERS",
]



def __getattr__(name: str):
    # LeanChatOpenAI needs langchain-openai (an extra): imported on first use only
    if name == "LeanChatOpenAI":
        from ._openai_lean import LeanChatOpenAI

        return LeanChatOpenAI
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
