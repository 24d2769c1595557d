"""Agents: each builds a LangGraph node usable in any ``StateGraph(ESCState)``."""

from escgraph.agents._base import AgentNode, context_of
from escgraph.agents.safety import SafetyDetector, safety_reply
from escgraph.agents.safety_gate import SafetyGate, route_after_safety
from escgraph.agents.seeker import SimulatedSeeker
from escgraph.agents.strategy_counselor import StrategyCounselor, StrategyDecision
from escgraph.agents.supporter import Supporter

__all__ = [
    "AgentNode",
    "SafetyDetector",
    "SafetyGate",
    "SimulatedSeeker",
    "StrategyCounselor",
    "StrategyDecision",
    "Supporter",
    "context_of",
    "route_after_safety",
    "safety_reply",
]
