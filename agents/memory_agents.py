"""Long-term seeker memory as graph nodes: recall facts before the reply, extract and save facts after it.

Both nodes do nothing unless the state has a ``seeker_id`` and the graph runs with a store (``runtime.store``, or
the one given to the node) — memory is opt-in. Facts are saved every turn, so they are there in the next session
even if this one ends abruptly. Extraction always runs a small set of phrase rules (so the embedded 135M model
still remembers "call me Sam"); a model's extra facts are kept only when grounded in the seeker's own words.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from escgraph.agents._base import AgentNode
from escgraph.agents._dialogue import last_seeker_text
from escgraph.agents._flow import Call, Flow, adrive, ask, drive
from escgraph.agents._models import resolve_model, resolve_prompt, role_config
from escgraph.memory.seeker_memory import SeekerFact, SeekerMemory
from escgraph.prompts import PromptTemplate

__all__ = ["FactExtractor", "MemoryRecall", "MemoryWriter", "rule_facts", "ExtractedFacts"]

_NAME = r"([A-Z][a-zA-Z'-]{1,30}(?: [A-Z][a-zA-Z'-]{1,30})?)"
_RULES: list[tuple[str, re.Pattern[str], str]] = [
    ("address", re.compile(rf"\b(?i:call me) {_NAME}"), "Wants to be called {0}."),
    ("address", re.compile(rf"\b(?i:my name is) {_NAME}"), "Their name is {0}; address them as {0}."),
    ("address", re.compile(r"\bmy pronouns are ([a-z]+/[a-z]+)", re.IGNORECASE), "Uses the pronouns {0}."),
    ("situation", re.compile(r"\bi(?:'m| am) an? ([a-z][a-z -]{2,40}?)(?=[,.;!]| on | at | in | and |$)",
                             re.IGNORECASE), "Is a {0}."),
    ("situation", re.compile(r"\bi work (?:as an? |at |in )([a-z][a-z -]{2,40}?)(?=[,.;!]| and |$)",
                             re.IGNORECASE), "Works as/at {0}."),
    ("helped", re.compile(r"\b(?:what )?(?:really )?helped (?:me )?(?:was |when )?([a-z][^.!?]{3,80})",
                          re.IGNORECASE), "Said this helped: {0}."),
    ("helped", re.compile(r"\b([a-z][^.!?]{3,60}?) (?:always |really )?helps me\b", re.IGNORECASE),
     "Said this helps: {0}."),
    ("preference", re.compile(r"\b(?:please )?(don'?t|do not) ([a-z][^.!?]{3,60})", re.IGNORECASE),
     "Asked the supporter not to {1}."),
    ("preference", re.compile(r"\bi (?:just )?(?:want|need) you to ([a-z][^.!?]{3,60})", re.IGNORECASE),
     "Wants the supporter to {0}."),
]
_NOT_A_JOB = {"bit", "little", "lot", "mess", "wreck", "failure", "loser", "idiot", "person", "way"}


_PRONOUNS = {"me": "them", "my": "their", "myself": "themselves", "i": "they", "mine": "theirs"}


def _third_person(text: str) -> str:
    return re.sub(r"\b(me|my|myself|i|mine)\b", lambda m: _PRONOUNS[m.group(1).lower()], text, flags=re.IGNORECASE)


def rule_facts(text: str, source: str = "") -> list[SeekerFact]:
    """Facts the phrase rules find in one seeker message."""
    facts = []
    for kind, pattern, template in _RULES:
        for match in pattern.finditer(text):
            groups = [_third_person(" ".join(g.split()).strip(" ,")) for g in match.groups()]
            if kind == "situation" and (groups[0].split()[0].lower() in _NOT_A_JOB or len(groups[0]) < 3):
                continue
            if kind == "preference" and template.startswith("Asked") and groups[1].split()[0].lower() in {
                    "know", "think", "want", "feel", "care", "understand"}:
                continue  # "I don't know" is not a request
            facts.append(SeekerFact(kind=kind, text=template.format(*(g for g in groups if g is not None)
                                                                    if kind != "preference" or "{1}" not in template
                                                                    else groups), source=source))
    return facts


class ExtractedFact(BaseModel):
    kind: Literal["address", "situation", "helped", "preference", "none"]
    text: str = Field(max_length=160)


class ExtractedFacts(BaseModel):
    facts: list[ExtractedFact] = Field(max_length=3)


_WORD = re.compile(r"[a-z]{3,}")


def _grounded(fact: str, message: str) -> bool:
    """A model's fact is kept only if most of its content words were said by the seeker."""
    words = set(_WORD.findall(fact.lower())) - {"they", "their", "them", "wants", "said", "the", "and", "with",
                                                "called", "has", "have", "was", "feels", "person"}
    said = set(_WORD.findall(message.lower()))
    return bool(words) and len(words & said) / len(words) >= 0.6


class FactExtractor:
    """Rules, then (optionally) the model; facts deduplicated by kind and text."""

    prompt_name = "fact_extractor"

    def __init__(self, model: BaseChatModel | None = None, *, use_model: bool = True,
                 prompt: PromptTemplate | str | None = None, role: str = "analyst") -> None:
        self.model = model
        self.use_model = use_model
        self.prompt = resolve_prompt(prompt, self.prompt_name)
        self.role = role

    def _messages(self, text: str) -> list:
        return [SystemMessage(self.prompt.render("system")), HumanMessage(self.prompt.render("user", message=text))]

    def _merge(self, text: str, source: str, extracted: ExtractedFacts | None) -> list[SeekerFact]:
        facts = rule_facts(text, source)
        if extracted is not None:
            for f in extracted.facts:
                clean = " ".join(f.text.split())
                if f.kind != "none" and len(clean) >= 8 and _grounded(clean, text):
                    facts.append(SeekerFact(kind=f.kind, text=clean, source=source))
        unique = {}
        for f in facts:
            unique.setdefault(f.key, f)
        return list(unique.values())

    def _facts(self, text: str, source: str, runtime: Runtime | None) -> Flow[list[SeekerFact]]:
        extracted = None
        if self.use_model and text.strip():
            model = resolve_model(self.model, runtime, self.role).with_structured_output(ExtractedFacts)
            extracted = yield ask(model, self._messages(text), config=role_config(self.role, "fact_extractor"))
        return self._merge(text, source, extracted)

    def extract(self, text: str, *, source: str = "", runtime: Runtime | None = None) -> list[SeekerFact]:
        return drive(self._facts(text, source, runtime))

    async def aextract(self, text: str, *, source: str = "", runtime: Runtime | None = None) -> list[SeekerFact]:
        return await adrive(self._facts(text, source, runtime))


def _memory(store: Any, runtime: Runtime | None) -> SeekerMemory | None:
    store = store if store is not None else getattr(runtime, "store", None)
    return SeekerMemory(store) if store is not None else None


class MemoryRecall(AgentNode):
    """Puts the seeker's remembered facts into ``state["memories"]`` (the supporter mentions them)."""

    name = "memory_recall"

    def __init__(self, store: Any = None, *, k: int = 4) -> None:
        self.store = store
        self.k = k

    def run(self, state: dict, runtime: Runtime | None = None) -> dict:
        memory = _memory(self.store, runtime)
        if memory is None or not state.get("seeker_id"):
            return {}
        facts = memory.recall(state["seeker_id"], last_seeker_text(state.get("messages", [])), k=self.k)
        return {"memories": [{"kind": f.kind, "text": f.text} for f in facts]}


class MemoryWriter(AgentNode):
    """Extracts facts from the seeker's latest message and saves the new ones."""

    name = "memory_writer"

    def __init__(self, extractor: FactExtractor | None = None, store: Any = None) -> None:
        self.extractor = extractor or FactExtractor()
        self.store = store

    def _source(self, state: dict, runtime: Runtime | None) -> str:
        return f"turn {state.get('turn', 0)}"

    def flow(self, state: dict, runtime: Runtime | None) -> Flow[dict]:
        memory = _memory(self.store, runtime)
        text = last_seeker_text(state.get("messages", []))
        if memory is None or not state.get("seeker_id") or not text or state.get("reply_source") == "safety_gate":
            return {}
        source, extractor = self._source(state, runtime), self.extractor
        facts = yield Call(lambda: extractor.extract(text, source=source, runtime=runtime),
                           lambda: extractor.aextract(text, source=source, runtime=runtime))
        memory.remember(state["seeker_id"], facts)
        return {}
