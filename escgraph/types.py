"""Graph state and run context shared by every agent and graph (ARCHITECTURE.md section 3).

State holds only what changes per turn and must be checkpointed. Heavy shared objects (chat models, safety
detector, skills bank, knowledge graph) travel in :class:`ESCContext`, never in state; a long-term store is
LangGraph's own (``compile(store=...)``, ``runtime.store``).
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from pydantic import BaseModel, Field
from typing_extensions import Required, TypedDict

if TYPE_CHECKING:  # imported lazily: core must not import agents at runtime
    from langchain_core.language_models import BaseChatModel

__all__ = [
    "STAGES",
    "STRATEGIES",
    "StageName",
    "Strategy",
    "StrategyName",
    "SafetyVerdict",
    "ESCState",
    "Plan",
    "ESCContext",
    "ModelRef",
    "ModelChoice",
    "parse_model_choice",
    "ROLES",
]


StageName = Literal["exploration", "comforting", "action"]
"""The three ESConv stages of a support conversation (the stage of each strategy is in ``strategies.yaml``)."""
STAGES: tuple[str, ...] = get_args(StageName)

StrategyName = Literal[
    "Question", "Restatement or Paraphrasing", "Reflection of feelings", "Self-disclosure",
    "Affirmation and Reassurance", "Providing Suggestions", "Information", "Others",
]
"""The eight ESConv support strategies (Liu et al., 2021), as the type structured outputs use."""
STRATEGIES: tuple[str, ...] = get_args(StrategyName)


class Strategy(str, Enum):
    """The eight ESConv support strategies (Liu et al., 2021) as an enum, in the order of ``STRATEGIES``."""

    QUESTION = "Question"
    RESTATEMENT = "Restatement or Paraphrasing"
    REFLECTION = "Reflection of feelings"
    SELF_DISCLOSURE = "Self-disclosure"
    AFFIRMATION = "Affirmation and Reassurance"
    SUGGESTIONS = "Providing Suggestions"
    INFORMATION = "Information"
    OTHERS = "Others"


assert tuple(s.value for s in Strategy) == STRATEGIES

ROLES: tuple[str, ...] = ("counselor", "seeker", "judge", "critic", "analyst", "safety")


class SafetyVerdict(BaseModel):
    """What the safety gate decided about one seeker message."""

    crisis: bool
    category: str = Field(description="none, suicide, self_harm, abuse, violence, acute_danger")
    score: float = Field(ge=0.0, le=1.0, description="combined risk score in [0, 1]")
    signals: dict[str, float] = Field(default_factory=dict, description="per-signal scores that were combined")
    reasons: list[str] = Field(default_factory=list, description="short human-readable reasons")
    language: str | None = None


def _merge_dicts(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer for parallel writers of one dict (each adds its own keys)."""
    return {**(left or {}), **(right or {})}


class Plan(TypedDict, total=False):
    """What a planning node tells the supporter for this reply (``ESCState.plan``); each writer fills its part.

    ``guidance`` (the lines the supporter follows) and ``skill_id`` (the skill followed, or None) are common to
    all; the skill counselor adds ``skill_name`` and ``avoid``; MentalAgora's counselor creator ``persona``,
    ``preferences`` and ``stances``; MADP's CBT planner ``understanding``, ``validation``, ``reframe``, ``steps``,
    ``professional_help`` and ``distortion``; KEMI's initiative decider ``initiative`` and ``cases``.
    """

    guidance: list[str] | str
    skill_id: str | None
    skill_name: str
    avoid: list[str] | str
    persona: str
    preferences: Any
    stances: list[Any]
    understanding: str
    validation: str
    reframe: str
    steps: list[str]
    professional_help: Any
    distortion: str
    initiative: str
    cases: list[Any]


class ESCState(TypedDict, total=False):
    """Per-turn state of an emotional support conversation.

    ``messages`` use LangGraph's ``add_messages`` reducer (seeker turns are ``HumanMessage``, counselor turns
    ``AIMessage``); ``debate``, ``critiques`` and ``strategy_history`` accumulate with ``operator.add``; the rest is
    overwritten by whichever node last wrote it.
    """

    messages: Annotated[list[AnyMessage], add_messages]
    situation: str
    seeker_id: str
    assessment: dict[str, Any]
    strategy: str
    stage: str
    strategy_rationale: str
    strategy_history: Annotated[list[str], operator.add]
    retrieved: list[dict[str, Any]]  # ids + short text of skills / knowledge used this turn
    debate: Annotated[list[dict[str, Any]], operator.add]
    critiques: Annotated[list[dict[str, Any]], operator.add]
    plan: Plan
    analysis: Annotated[dict[str, Any], _merge_dicts]  # per-analyst findings (MADP's explorer, empathizer, ...)
    memories: list[dict[str, Any]]  # facts recalled about this seeker from earlier conversations
    planner: dict[str, Any]  # an external strategy planner's distribution for this turn, and whether it was followed
    draft: str
    reply: str
    reply_source: str  # model, model_retry, fallback, safety_gate
    safety: dict[str, Any]  # SafetyVerdict.model_dump() of the latest seeker message
    turn: int


class ModelRef(TypedDict, total=False):
    """A role's model by spec, as a JSON run context can carry it: ``{"spec": "openai:qwen2.5-7b", "base_url": ...}``.

    ``spec`` is a model spec (``local``, ``local:/path.gguf``, ``fake``, ``provider:model``); ``base_url`` points a
    ``provider:model`` spec at an OpenAI-compatible server; the other keys are :class:`~escgraph.llm.ModelSettings`
    pinned for the role (unset keys keep the model's defaults).
    """

    spec: Required[str]
    base_url: str | None
    temperature: float
    seed: int
    max_tokens: int
    top_p: float
    repeat_penalty: float


if TYPE_CHECKING:
    ModelChoice = str | ModelRef | BaseChatModel
else:  # the run-time alias feeds LangGraph's context JSON schema, which cannot describe a chat model object
    ModelChoice = str | ModelRef | Any

_SETTING_TYPES: dict[str, tuple[type, ...]] = {"temperature": (int, float), "seed": (int,), "max_tokens": (int,),
                                               "top_p": (int, float), "repeat_penalty": (int, float)}
_SPEC_FORMS = "'local', 'local:/path/model.gguf', 'fake' or 'provider:model' (e.g. 'openai:gpt-4o-mini')"


_FALLBACK = "fallback_model"  # the "role" under which ESCContext.fallback_model is checked and loaded


def _bad_entry(role: str, message: str) -> Exception:
    from escgraph.llm import ModelSpecError  # core: loaded only when an entry is wrong

    where = "ESCContext.fallback_model" if role == _FALLBACK else f"ESCContext.models[{role!r}]"
    return ModelSpecError(f"{where}: {message}")


def parse_model_choice(role: str, choice: Any) -> tuple[str, str | None, dict[str, Any]] | None:
    """``(spec, base_url, settings)`` for a spec string or :class:`ModelRef`; ``None`` for a chat model object.

    Checks the shape and the spec's syntax only; whether the file, provider or integration exists is found out
    when the model is first loaded. Raises :class:`~escgraph.llm.ModelSpecError` naming the role and the spec.
    """
    if isinstance(choice, str):
        spec, base_url, settings = choice, None, {}
    elif isinstance(choice, Mapping):
        unknown = sorted(set(choice) - {"spec", "base_url", *_SETTING_TYPES})
        if unknown:
            raise _bad_entry(role, f"unknown key(s) {', '.join(map(repr, unknown))}; "
                                   f"use 'spec', 'base_url' and settings {', '.join(_SETTING_TYPES)}")
        spec, base_url = choice.get("spec"), choice.get("base_url")
        if not isinstance(spec, str):
            raise _bad_entry(role, f"'spec' must be a model spec string, got {spec!r}")
        if base_url is not None and (not isinstance(base_url, str) or not base_url.strip()):
            raise _bad_entry(role, f"'base_url' must be a URL string, got {base_url!r}")
        settings = {k: v for k, v in choice.items() if k in _SETTING_TYPES and v is not None}
        for key, value in settings.items():
            if isinstance(value, bool) or not isinstance(value, _SETTING_TYPES[key]):
                kind = "an integer" if _SETTING_TYPES[key] == (int,) else "a number"
                raise _bad_entry(role, f"{key} must be {kind}, got {value!r} (spec {spec!r})")
        base_url = base_url.strip() if base_url else None
    elif hasattr(choice, "invoke"):
        return None
    else:
        raise _bad_entry(role, f"expected a model spec string, a {{'spec': ..., 'base_url': ...}} mapping or a chat "
                               f"model, got {type(choice).__name__} {choice!r}")
    spec = spec.strip()
    kind, colon, rest = spec.partition(":")
    if spec not in ("local", "fake") and not (colon and kind.strip() and rest.strip()):
        raise _bad_entry(role, f"model spec {spec!r} is not valid: use {_SPEC_FORMS}")
    return spec, base_url, settings


@dataclass
class ESCContext:
    """Run context handed to every node through LangGraph's ``Runtime`` (``context_schema=ESCContext``).

    ``models`` maps a role (see :data:`ROLES`; agents may define others) to a chat model object, a model spec string
    (``"fake"``, ``"openai:gpt-4o-mini"``) or a :class:`ModelRef` mapping ``{"spec", "base_url", <settings>}``.
    Specs are checked when the context is made and loaded on first use, once per process (see
    :func:`escgraph.llm.cached_chat_model`), so a JSON context — ``langgraph dev``, the LangGraph API — can choose
    models per run.

    :meth:`model` answers a role without an entry with ``counselor``'s model, and with neither entry with
    ``fallback_model``: a spec string, by default ``"local"`` (the embedded model, loaded once per process; the first
    time it stands in for a role, the ``escgraph.types`` logger says so at INFO level), or ``None`` to refuse:
    :meth:`model` then raises :class:`~escgraph.llm.ModelSpecError` naming the role (tests use it to make sure
    every role they reach has a model).
    A dict context is coerced by LangGraph into this class (``ESCContext(**context)``).
    """

    models: dict[str, ModelChoice] = field(default_factory=dict)
    safety: Any = None  # a SafetyDetector, or {"format": ...} for the "safety" model role; None: the default detector
    locale: str = "en"
    skills_bank: Any = None
    knowledge_graph: Any = None
    fallback_model: str | None = "local"  # for a role with neither its own entry nor counselor's; None: refuse

    def __post_init__(self) -> None:
        if self.models is None:
            self.models = {}
        if not isinstance(self.models, Mapping):
            from escgraph.llm import ModelSpecError

            raise ModelSpecError(f"ESCContext.models must map roles to models, got {type(self.models).__name__}")
        for role, choice in self.models.items():
            parse_model_choice(role, choice)
        if self.fallback_model is not None:
            if not isinstance(self.fallback_model, str):
                from escgraph.llm import ModelSpecError

                raise ModelSpecError(f"ESCContext.fallback_model must be a model spec string or None, "
                                     f"got {type(self.fallback_model).__name__} {self.fallback_model!r}")
            parse_model_choice(_FALLBACK, self.fallback_model)

    def model(self, role: str) -> "BaseChatModel":
        """The chat model for ``role``: its own entry, else ``counselor``'s, else ``fallback_model``."""
        for name in (role, "counselor"):
            if name in self.models:
                return _resolve(name, self.models[name])
        from escgraph.llm import ModelSpecError, default_chat_model

        if self.fallback_model is None:
            raise ModelSpecError(
                f"No model for role {role!r}: ESCContext.models has neither {role!r} nor 'counselor', and "
                "fallback_model is None. Add a models entry for it (or for 'counselor').")
        _note_fallback(role, self.fallback_model)
        if self.fallback_model.strip() == "local":
            return default_chat_model()
        return _resolve(_FALLBACK, self.fallback_model)


_fallback_noted = False


def _note_fallback(role: str, spec: str) -> None:
    """One log line per process, the first time the fallback model stands in for a role."""
    global _fallback_noted
    if not _fallback_noted:
        _fallback_noted = True
        logging.getLogger(__name__).info(
            "ESCContext: role %r has no model (nor has 'counselor'); using the fallback model %r. Set "
            "ESCContext.fallback_model=None to make this an error.", role, spec)


def _resolve(role: str, choice: Any) -> "BaseChatModel":
    parsed = parse_model_choice(role, choice)
    if parsed is None:
        return choice
    spec, base_url, settings = parsed
    from escgraph.llm import cached_chat_model

    try:
        return cached_chat_model(spec, base_url=base_url, settings=settings)
    except Exception as exc:  # a missing file, provider, integration or API key: say which role asked for it
        from escgraph.llm import ModelSpecError

        # The base URL is left out: it may carry credentials, and this message can reach API clients and logs.
        said = str(exc) if isinstance(exc, ModelSpecError) and repr(spec) in str(exc) else \
            f"cannot load model spec {spec!r}: {type(exc).__name__}: {exc}"
        raise _bad_entry(role, said) from exc
