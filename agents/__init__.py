"""Agents: each builds a LangGraph node usable in any ``StateGraph(ESCState)``."""

from escgraph.agents._base import AgentNode, context_of
from escgraph.agents.safety import SafetyDetector, safety_reply
from escgraph.agents.safety_gate import SafetyGate, route_after_safety
from escgraph.agents.seeker import SimulatedSeeker
from escgraph.agents.skill_counselor import SkillDecision, SkillStrategyCounselor
from escgraph.agents.skill_retriever import SkillRetrieverNode
from escgraph.agents.state_tracker import SeekerStateReading, SeekerStateTracker
from escgraph.agents.strategy_counselor import StrategyCounselor, StrategyDecision
from escgraph.agents.supporter import Supporter

__all__ = [
    "AgentNode",
    "SafetyDetector",
    "SafetyGate",
    "SeekerStateReading",
    "SeekerStateTracker",
    "SimulatedSeeker",
    "SkillDecision",
    "SkillRetrieverNode",
    "SkillStrategyCounselor",
    "StrategyCounselor",
    "StrategyDecision",
    "Supporter",
    "context_of",
    "route_after_safety",
    "safety_reply",
]
