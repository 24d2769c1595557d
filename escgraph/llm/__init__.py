"""Chat models for escgraph: one spec string per role, an embedded offline model, a fake, token accounting.

>>> from escgraph.llm import load_chat_model
>>> model = load_chat_model("fake")            # or "local", "local:/path/model.gguf", "openai:gpt-4o-mini"
>>> model.invoke("I feel low today").content
'I hear you. You said: I feel low today'
"""

from __future__ import annotations

from ._embedded import embedded_model_path
from ._errors import ModelSpecError, StructuredOutputError
from ._llamacpp import ChatLlamaCpp
from ._pool import ServerPoolChatModel
from ._spec import ModelSettings, default_chat_model, load_chat_model
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
]



def __getattr__(name: str):
    # LeanChatOpenAI needs langchain-openai (an extra): imported on first use only
    if name == "LeanChatOpenAI":
        from ._openai_lean import LeanChatOpenAI

        return LeanChatOpenAI
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
