"""Prebuilt graphs (one module per family) and the registry that names them."""

from escgraph.graphs.registry import (
    GraphInfo,
    UnknownGraphError,
    build_graph,
    get_graph_info,
    list_graphs,
    register_graph,
)
from escgraph.graphs.kemi import build_kemi
from escgraph.graphs.madp import answer_post, build_madp
from escgraph.graphs.mentalagora import build_mentalagora
from escgraph.graphs.skilled import build_skilled
from escgraph.graphs.sweetiechat import build_sweetiechat

__all__ = [
    "GraphInfo",
    "UnknownGraphError",
    "answer_post",
    "build_graph",
    "build_kemi",
    "build_madp",
    "build_mentalagora",
    "build_skilled",
    "build_sweetiechat",
    "get_graph_info",
    "list_graphs",
    "register_graph",
]
