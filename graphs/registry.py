"""Registry of named graphs: what ``escgraph graphs`` lists, ``chat``/``simulate`` build, and ``langgraph dev`` serves.

Third-party packages can add graphs through the ``escgraph.graphs`` entry-point group; each entry point names a
callable that registers its graphs (or a builder decorated with :func:`register_graph`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from langchain_core.language_models import BaseChatModel

__all__ = ["GraphInfo", "UnknownGraphError", "register_graph", "get_graph_info", "list_graphs", "build_graph"]


class UnknownGraphError(KeyError):
    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


@dataclass(frozen=True)
class GraphInfo:
    name: str
    description: str
    builder: Callable[..., Any]
    uses_skills_bank: bool = False  # simulations freeze a bank version for graphs that retrieve skills

    def build(self, **options: Any) -> Any:
        return self.builder(**options)


_REGISTRY: dict[str, GraphInfo] = {}
_plugins_loaded = False


def register_graph(name: str, description: str, *,
                   uses_skills_bank: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register ``builder(*, models=None, checkpointer=None, store=None, **options)`` under ``name``."""

    def decorate(builder: Callable[..., Any]) -> Callable[..., Any]:
        existing = _REGISTRY.get(name)
        if existing is not None and existing.builder is not builder:
            raise ValueError(f"a graph named {name!r} is already registered by {existing.builder.__module__}")
        _REGISTRY[name] = GraphInfo(name, description, builder, uses_skills_bank)
        return builder

    return decorate


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in entry_points(group="escgraph.graphs"):
        ep.load()


def list_graphs() -> list[GraphInfo]:
    _load_plugins()
    return sorted(_REGISTRY.values(), key=lambda info: info.name)


def get_graph_info(name: str) -> GraphInfo:
    _load_plugins()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise UnknownGraphError(f"unknown graph {name!r}; registered graphs: {known}") from None


def build_graph(name: str, *, models: Mapping[str, BaseChatModel] | None = None, checkpointer: Any = None,
                store: Any = None, **options: Any) -> Any:
    """Build the compiled graph registered as ``name``."""
    return get_graph_info(name).build(models=models, checkpointer=checkpointer, store=store, **options)
