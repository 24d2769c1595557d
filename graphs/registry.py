"""Registry of named graphs: what ``escgraph graphs`` lists, ``chat``/``simulate`` build, and ``langgraph dev`` serves.

Third-party packages can add graphs through the ``escgraph.graphs`` entry-point group; each entry point names a
callable that registers its graphs (or a builder decorated with :func:`register_graph`).

A graph can also be named by import reference, ``package.module:attribute``, without registering it: the
attribute is a compiled graph, a ``StateGraph`` (compiled here) or a builder function taking the keyword options
``models``, ``checkpointer``, ``store`` and its own (those it does not take are not passed). Such a graph says it
retrieves from the skills bank with a ``uses_skills_bank = True`` attribute (on the function or the object), and
likewise ``uses_planner`` and ``uses_knowledge_graph``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from langchain_core.language_models import BaseChatModel

__all__ = ["GraphInfo", "UnknownGraphError", "register_graph", "get_graph_info", "list_graphs", "build_graph",
           "imported_graph_info", "graph_info_for", "registered_name"]


class UnknownGraphError(KeyError):
    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


@dataclass(frozen=True)
class GraphInfo:
    name: str
    description: str
    builder: Callable[..., Any]
    uses_skills_bank: bool = False  # simulations freeze a bank version for graphs that retrieve skills
    uses_planner: bool = False  # takes a strategy planner (``planner=``, ``planner_mode=``)
    uses_knowledge_graph: bool = False  # retrieves cases from a knowledge graph (``knowledge_graph=``)

    @property
    def capabilities(self) -> list[str]:
        """What the graph draws on, by name: ``skills_bank``, ``planner``, ``knowledge_graph``."""
        return [name for name, on in (("skills_bank", self.uses_skills_bank), ("planner", self.uses_planner),
                                      ("knowledge_graph", self.uses_knowledge_graph)) if on]

    def build(self, **options: Any) -> Any:
        return self.builder(**options)


_REGISTRY: dict[str, GraphInfo] = {}
_plugins_loaded = False


def register_graph(name: str, description: str, *, uses_skills_bank: bool = False, uses_planner: bool = False,
                   uses_knowledge_graph: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register ``builder(*, models=None, checkpointer=None, store=None, **options)`` under ``name``.

    The ``uses_*`` flags declare what the graph draws on, so simulations freeze a bank version for it and the CLI
    accepts ``--planner`` / ``--kg`` only where they mean something.
    """

    def decorate(builder: Callable[..., Any]) -> Callable[..., Any]:
        existing = _REGISTRY.get(name)
        if existing is not None and existing.builder is not builder:
            raise ValueError(f"a graph named {name!r} is already registered by {existing.builder.__module__}")
        _REGISTRY[name] = GraphInfo(name, description, builder, uses_skills_bank, uses_planner, uses_knowledge_graph)
        return builder

    return decorate


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in entry_points(group="escgraph.graphs"):
        ep.load()


def registered_name(builder: Any) -> str | None:
    """The name ``builder`` is registered under, if it is."""
    _load_plugins()
    return next((name for name, info in _REGISTRY.items() if info.builder is builder), None)


def list_graphs() -> list[GraphInfo]:
    _load_plugins()
    return sorted(_REGISTRY.values(), key=lambda info: info.name)


def get_graph_info(name: str) -> GraphInfo:
    _load_plugins()
    if name in _REGISTRY:
        return _REGISTRY[name]
    if ":" in name:
        return imported_graph_info(name)
    known = ", ".join(sorted(_REGISTRY)) or "none"
    raise UnknownGraphError(f"unknown graph {name!r}; registered graphs: {known} (or give module:attribute)")


def imported_graph_info(reference: str) -> GraphInfo:
    """A :class:`GraphInfo` for ``package.module:attribute`` (a compiled graph, a StateGraph or a builder)."""
    import importlib

    module_name, _, attr = reference.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError, ValueError) as exc:
        raise UnknownGraphError(f"graph {reference!r}: cannot import {attr or '?'} from {module_name or '?'}: "
                                f"{exc}") from None
    return graph_info_for(found, name=reference)


def graph_info_for(graph: Any, *, name: str) -> GraphInfo:
    """Wrap a graph object (compiled, StateGraph or builder function) as a :class:`GraphInfo` named ``name``."""
    flags = [bool(getattr(graph, f"uses_{what}", False)) for what in ("skills_bank", "planner", "knowledge_graph")]
    if hasattr(graph, "ainvoke") and hasattr(graph, "get_graph"):  # compiled (a Pregel)
        return GraphInfo(name, f"compiled graph {name}", lambda **options: graph, *flags)
    if hasattr(graph, "compile") and hasattr(graph, "add_node"):  # a StateGraph builder
        return GraphInfo(name, f"StateGraph {name}",
                         lambda **options: graph.compile(checkpointer=options.get("checkpointer"),
                                                         store=options.get("store")), *flags)
    if callable(graph):
        return GraphInfo(name, (graph.__doc__ or name).strip().splitlines()[0], _accepting(graph), *flags)
    raise UnknownGraphError(f"graph {name!r} is a {type(graph).__name__}: give a compiled graph, a StateGraph or "
                            f"a function that builds one")


def _accepting(builder: Callable[..., Any]) -> Callable[..., Any]:
    """``builder`` called with only the keyword options it takes (all of them when it takes ``**kwargs``)."""
    import inspect

    try:
        params = list(inspect.signature(builder).parameters.values())
    except (TypeError, ValueError):
        params = []
    takes_all = not params or any(p.kind is p.VAR_KEYWORD for p in params)
    names = {p.name for p in params}

    def build(**options: Any) -> Any:
        graph = builder(**{k: v for k, v in options.items() if (takes_all or k in names) and v is not None})
        return graph.compile() if hasattr(graph, "compile") and hasattr(graph, "add_node") else graph

    return build


def build_graph(name: str, *, models: Mapping[str, BaseChatModel] | None = None, checkpointer: Any = None,
                store: Any = None, **options: Any) -> Any:
    """Build the compiled graph registered as ``name``."""
    return get_graph_info(name).build(models=models, checkpointer=checkpointer, store=store, **options)
