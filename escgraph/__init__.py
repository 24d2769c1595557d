"""escgraph: multi-agent emotional support conversation on LangGraph.

The names below are the public surface. Agents and graphs are imported lazily, so ``import escgraph`` stays
cheap and the layering core <- agents <- graphs holds at import time.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from escgraph._version import __version__

__all__ = [
    "__version__",
    # core
    "ESCState",
    "ESCContext",
    "STRATEGIES",
    "Strategy",
    "SafetyVerdict",
    "SeekerProfile",
    "load_profiles",
    "load_chat_model",
    "FakeChatModel",
    # agents
    "AgentNode",
    "SafetyGate",
    "SafetyDetector",
    "StrategyCounselor",
    "Supporter",
    "SimulatedSeeker",
    "route_after_safety",
    "SeekerStateTracker",
    "SkillRetrieverNode",
    "SkillStrategyCounselor",
    "Critic",
    "add_critic_loop",
    "Debater",
    "CounselorCreator",
    "KnowledgeRetrieverNode",
    "InitiativeDecider",
    # graphs
    "build_graph",
    "list_graphs",
    "register_graph",
    "with_seeker_memory",
    # memory
    "open_sqlite_checkpointer",
]

_LAZY = {
    "ESCState": "escgraph.types",
    "ESCContext": "escgraph.types",
    "STRATEGIES": "escgraph.types",
    "Strategy": "escgraph.types",
    "SafetyVerdict": "escgraph.types",
    "SeekerProfile": "escgraph.profiles",
    "load_profiles": "escgraph.profiles",
    "load_chat_model": "escgraph.llm",
    "FakeChatModel": "escgraph.llm",
    "AgentNode": "escgraph.agents",
    "SafetyGate": "escgraph.agents",
    "SafetyDetector": "escgraph.agents",
    "StrategyCounselor": "escgraph.agents",
    "Supporter": "escgraph.agents",
    "SimulatedSeeker": "escgraph.agents",
    "route_after_safety": "escgraph.agents",
    **{name: "escgraph.agents" for name in ("SeekerStateTracker", "SkillRetrieverNode", "SkillStrategyCounselor",
                                            "Critic", "add_critic_loop", "Debater", "CounselorCreator",
                                            "KnowledgeRetrieverNode", "InitiativeDecider")},
    "with_seeker_memory": "escgraph.graphs.with_memory",
    "build_graph": "escgraph.graphs",
    "list_graphs": "escgraph.graphs",
    "register_graph": "escgraph.graphs",
    "open_sqlite_checkpointer": "escgraph.memory",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'escgraph' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
