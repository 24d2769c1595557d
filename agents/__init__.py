"""Agents: each builds a LangGraph node usable in any ``StateGraph(ESCState)``.

Also public here, for other packages that speak to models the way agents do (the SAGE seeker and judge): the
dialogue helpers (``as_chat``, ``dialogue_lines``, ``message_text``), ``role_config`` (a call's role tag) and the
reply checks ``clean_reply`` and ``is_degenerate``.
"""

from escgraph.agents._base import AgentNode, context_of
from escgraph.agents._dialogue import as_chat, dialogue_lines, message_text
from escgraph.agents._models import role_config
from escgraph.agents._text import clean_reply, is_degenerate
from escgraph.agents.cbt import CBTPlanner, Empathizer, Explorer, Interpreter, SupportPlan
from escgraph.agents.counselor_creator import CounselorCreator, stated_preferences
from escgraph.agents.critic import Critic, Critique, Reviser, add_critic_loop
from escgraph.agents.debater import Debater, Stance, default_stances
from escgraph.agents.initiative import InitiativeDecider
from escgraph.agents.initiative_measures import initiative_measures, label_utterance
from escgraph.agents.knowledge_retriever import KnowledgeRetrieverNode
from escgraph.agents.memory_agents import FactExtractor, MemoryRecall, MemoryWriter
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
    "CBTPlanner",
    "CounselorCreator",
    "Critic",
    "Critique",
    "Debater",
    "Empathizer",
    "Explorer",
    "FactExtractor",
    "InitiativeDecider",
    "Interpreter",
    "KnowledgeRetrieverNode",
    "MemoryRecall",
    "MemoryWriter",
    "Reviser",
    "SafetyDetector",
    "SafetyGate",
    "SeekerStateReading",
    "SeekerStateTracker",
    "SimulatedSeeker",
    "SkillDecision",
    "SkillRetrieverNode",
    "SkillStrategyCounselor",
    "Stance",
    "StrategyCounselor",
    "StrategyDecision",
    "SupportPlan",
    "Supporter",
    "add_critic_loop",
    "as_chat",
    "clean_reply",
    "context_of",
    "default_stances",
    "dialogue_lines",
    "initiative_measures",
    "is_degenerate",
    "label_utterance",
    "message_text",
    "role_config",
    "route_after_safety",
    "safety_reply",
    "stated_preferences",
]
