"""Safety detection for the safety gate: is a seeker message a crisis, and what do we say if it is?

``SafetyDetector`` combines weighted rules (``rules.yaml``), embedding similarity to crisis exemplars and hard
negatives (``exemplars.yaml``) and, optionally, a capable chat model's second opinion; every verdict carries its
signals and reasons. ``safety_reply`` writes the calm reply with crisis resources for a locale
(``resources.yaml``, ``replies.yaml``). All four data files are package data you can override.
"""

from escgraph.agents.safety._detector import SafetyDetector, default_detector
from escgraph.agents.safety._language import guess_language
from escgraph.agents.safety._reply import CrisisResources, ResourceBook, load_resources, resolve_locale, safety_reply
from escgraph.agents.safety._rules import CATEGORIES
from escgraph.agents.safety._similarity import EmbeddingCalibration
from escgraph.types import SafetyVerdict

__all__ = [
    "CATEGORIES",
    "CrisisResources",
    "EmbeddingCalibration",
    "ResourceBook",
    "SafetyDetector",
    "SafetyVerdict",
    "default_detector",
    "guess_language",
    "load_resources",
    "resolve_locale",
    "safety_reply",
]
