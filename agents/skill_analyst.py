"""Evolution analyst (ESC-Skills): turns a trace-analysis finding into a typed skill-bank edit.

The loop (``escgraph.skills_bank.evolution``) decides *what* to look at — a skill and the turns after which
seekers felt worse — and this agent's model decides *how* to change it. The model answers a small schema (the
action enum first, short bounded strings) that even the embedded 135M model completes; the code builds the edit
from it, cites the finding's turns as evidence, and adds the finding's seeker group as a when-not-to-use
condition, so every edit is specific and traceable whatever model wrote its text.

Trace text (seeker lines, counselor replies, the judge's notes) reaches the model only as quoted data: one
JSON-quoted line per item inside ``<trace_data>`` … ``</trace_data>``, with invisible characters dropped and angle
brackets replaced so a line cannot close the block, and the prompts tell the model it is data, never instructions,
and never to be copied into a skill. Each edit carries the seeker lines it was drafted from (``SkillEdit.quoted``)
so the screen can reject spans copied from them.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from escgraph.agents._models import resolve_prompt
from escgraph.agents.strategy_counselor import StageName, StrategyName
from escgraph.llm.usage import UsageTracker
from escgraph.prompts import PromptTemplate
from escgraph.skills_bank.evolution import EvidenceRef, Finding, SkillEdit
from escgraph.skills_bank.schema import SKILL_ID, Skill

__all__ = ["SkillAnalyst", "SkillDistiller", "AmendmentDraft", "NewSkillDraft"]


class AmendmentDraft(BaseModel):
    action: Literal["amend", "flag_unsafe", "retire", "none"]
    diagnosis: str = Field(max_length=240, description="why the replies made these seekers feel worse")
    new_first_step: str = Field(max_length=200, description="one guidance step to follow first with such seekers")
    new_risk: str = Field(max_length=200, description="a risk of this skill and how to avoid it")
    avoid_when: str = Field(max_length=160, description="a situation in which not to use this skill")


class NewSkillDraft(BaseModel):
    strategy: StrategyName
    stage: StageName
    name: str = Field(max_length=60)
    summary: str = Field(max_length=200)
    steps: list[str] = Field(min_length=2, max_length=4, description="guidance steps, each one sentence")
    when_to_use: str = Field(max_length=160)
    when_not_to_use: str = Field(max_length=160)
    risk: str = Field(max_length=160)
    example_seeker: str = Field(max_length=160)
    example_supporter: str = Field(max_length=200)


def _clean(text: str) -> str:
    return " ".join(str(text or "").split()).strip(" -•")


def _usable(text: str, min_words: int = 3) -> bool:
    """Enough real words to be guidance (small models sometimes answer with symbols or a prompt fragment)."""
    from escgraph.skills_bank.evolution.screen import readability_problem

    cleaned = _clean(text)
    return len(cleaned.split()) >= min_words and readability_problem(cleaned) is None


def _quote(text: Any, limit: int) -> str:
    """One piece of trace text as inert quoted data: a single JSON string without invisible characters or angle
    brackets (so it cannot close the ``<trace_data>`` block or smuggle hidden text)."""
    cleaned = "".join(ch for ch in _clean(text)[:limit]
                      if unicodedata.category(ch) not in ("Cf", "Cc", "Co", "Cs"))
    return json.dumps(cleaned.replace("<", "‹").replace(">", "›"), ensure_ascii=False)


def _examples(finding: Finding, limit: int = 4) -> str:
    """The finding's falling turns as quoted trace data (the prompt wraps them in ``<trace_data>``)."""
    lines = []
    for n, u in enumerate(finding.units[:limit], 1):
        lines.append(f"excerpt {n} (seeker's emotion changed {u.change:+.0f}):\n"
                     f"  seeker said: {_quote(u.seeker_before, 200)}\n"
                     f"  counselor replied: {_quote(u.reply, 240)}\n"
                     f"  seeker then said: {_quote(u.seeker_after, 200)}"
                     + (f"\n  judge's note on the seeker's inner reaction: {_quote(u.judge_reason, 200)}"
                        if u.judge_reason else ""))
    return "\n".join(lines)


def _seeker_lines(finding: Finding) -> list[str]:
    """What the seekers of the finding's turns said: the screen rejects long spans copied from it."""
    return [t for u in finding.units for t in (u.seeker_before, u.seeker_after) if t]


def _group_condition(finding: Finding) -> str | None:
    if not finding.trait:
        return None
    who = finding.trait.replace("_", " ")
    return (f"The seeker's {who} is {finding.value}: in simulation, seekers like this felt worse after it "
            f"(mean change {finding.mean_change:+.1f} vs {finding.elsewhere_change:+.1f} for others).")


class SkillAnalyst:
    """Proposes edits for findings. Satisfies the evolution loop's ``Analyst`` protocol."""

    role = "analyst"
    prompt_name, new_skill_prompt_name = "skill_analyst", "skill_analyst_new"

    def __init__(self, model: BaseChatModel, *, spec: str = "custom", prompt: PromptTemplate | str | None = None,
                 new_skill_prompt: PromptTemplate | str | None = None,
                 settings: Mapping[str, Any] | None = None) -> None:
        self.model = model
        self.spec = spec
        self.prompt = resolve_prompt(prompt, self.prompt_name)
        self.new_skill_prompt = resolve_prompt(new_skill_prompt, self.new_skill_prompt_name)
        self.settings = dict(settings or {})

    def config(self) -> dict[str, Any]:
        return {"model": self.spec, "settings": self.settings,
                "prompts": [f"{p.name}@{p.version}" for p in (self.prompt, self.new_skill_prompt)]}

    def _ask(self, schema: type[BaseModel], messages: list) -> tuple[Any, int]:
        tracker = UsageTracker()
        answer = self.model.with_structured_output(schema).invoke(
            messages, config={"callbacks": [tracker], "tags": ["role:analyst", "agent:skill_analyst"],
                              "metadata": {"role": "analyst", "agent": "skill_analyst"}, "run_name": "skill_analyst"})
        return answer, tracker.total().total_tokens

    def propose(self, finding: Finding, skills: Mapping[str, Skill]) -> tuple[list[SkillEdit], int]:
        evidence = [EvidenceRef(episode_id=u.episode_id, turn=u.turn) for u in finding.units]
        skill = skills.get(finding.skill_id) if finding.skill_id else None
        if skill is None:
            return self._new_skill(finding, skills, evidence)
        system = self.prompt.render("system")
        user = self.prompt.render("user", skill_id=skill.id, skill_name=skill.name, skill_summary=skill.summary,
                                  guidance="\n".join(f"{i}. {g}" for i, g in enumerate(skill.guidance, 1)),
                                  risks="; ".join(skill.risks), finding=finding.describe(),
                                  examples=_examples(finding))
        draft, tokens = self._ask(AmendmentDraft, [SystemMessage(system), HumanMessage(user)])
        diagnosis = _clean(draft.diagnosis)
        rationale = (f"{finding.describe()}. Analyst: {diagnosis}" if _usable(diagnosis)
                     else finding.describe())[:600]
        if draft.action == "none":
            return [], tokens
        if draft.action in ("flag_unsafe", "retire"):
            return [SkillEdit(kind=draft.action, skill_id=skill.id, rationale=rationale, evidence=evidence,
                              quoted=_seeker_lines(finding))], tokens
        changes: dict[str, Any] = {}
        step = _clean(draft.new_first_step)
        if _usable(step) and step not in skill.guidance:
            changes["guidance"] = [step, *skill.guidance]
        risk = _clean(draft.new_risk)
        if _usable(risk) and risk not in skill.risks:
            changes["risks"] = [*skill.risks, risk]
        avoid = [c for c in (_clean(draft.avoid_when), _group_condition(finding)) if c and _usable(c)]
        avoid = [c for c in dict.fromkeys(avoid) if c not in skill.applicability.when_not_to_use]
        if avoid:
            changes["applicability.when_not_to_use"] = [*skill.applicability.when_not_to_use, *avoid]
        if not changes:
            return [], tokens
        return [SkillEdit(kind="amend", skill_id=skill.id, rationale=rationale, evidence=evidence,
                          set=changes, quoted=_seeker_lines(finding))], tokens

    def _new_skill(self, finding: Finding, skills: Mapping[str, Skill],
                   evidence: list[EvidenceRef]) -> tuple[list[SkillEdit], int]:
        prompt = self.new_skill_prompt
        user = prompt.render("user", finding=finding.describe(), examples=_examples(finding))
        draft, tokens = self._ask(NewSkillDraft, [SystemMessage(prompt.render("system")), HumanMessage(user)])
        name = _clean(draft.name)
        if len(name.split()) < 2:  # small models echo prompt words ("onesentence"): name it after the finding
            name = f"Support for {finding.value}" if finding.value else "Support where no skill fitted"
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:48].strip("-") or "new-skill"
        sid, n = slug, 2
        while sid in skills or not SKILL_ID.match(sid):
            sid, n = f"{slug}-{n}", n + 1
        steps = [_clean(s) for s in draft.steps if _usable(s)]
        try:
            skill = Skill(
                id=sid, name=name if len(name) >= 3 else sid.replace("-", " "), summary=_clean(draft.summary),
                guidance=steps,
                applicability={"when_to_use": [_clean(draft.when_to_use)],
                               "when_not_to_use": [_clean(draft.when_not_to_use)], "stages": [draft.stage],
                               "situations": [finding.value] if finding.trait == "problem_type" else []},
                expected_outcomes=["The seeker feels understood and less alone with the problem."],
                risks=[_clean(draft.risk)], strategies=[draft.strategy],
                examples=[{"seeker": _clean(draft.example_seeker), "supporter": _clean(draft.example_supporter)}],
                provenance={"sources": [f"evolution finding {finding.id}"]})
        except ValueError:
            return [], tokens  # the model's draft does not make a valid skill: nothing to test
        rationale = f"{finding.describe()}; no skill was followed in these turns"
        return [SkillEdit(kind="add", skill_id=sid, rationale=rationale, evidence=evidence, skill=skill,
                          quoted=_seeker_lines(finding))], tokens


class SkillDistiller:
    """Skill discovery's analyst: writes one skill from a cluster of intervention units that helped."""

    prompt_name = "skill_distiller"

    def __init__(self, model: BaseChatModel, *, prompt: PromptTemplate | str | None = None) -> None:
        self.model = model
        self.prompt = resolve_prompt(prompt, self.prompt_name)

    def distil(self, cluster: Any, existing: list[str]) -> Skill | None:
        examples = "\n".join(f"unit {n} (seeker felt {_quote(u.state.emotion, 40)}, stage {u.state.stage}):\n"
                             f"  seeker's situation: {_quote(u.state.situation, 160)}\n"
                             f"  supporter ({u.action.strategy}): {_quote(u.action.reply, 200)}"
                             for n, u in enumerate(cluster.units[:5], 1))
        user = self.prompt.render("user", summary=cluster.describe(), examples=examples)
        answer = self.model.with_structured_output(NewSkillDraft).invoke(
            [SystemMessage(self.prompt.render("system")), HumanMessage(user)],
            config={"tags": ["role:analyst", "agent:skill_distiller"], "metadata": {"role": "analyst"}})
        name = _clean(answer.name)
        if len(name.split()) < 2:
            name = f"{cluster.strategy} in {cluster.stage}"
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:48].strip("-") or "discovered-skill"
        sid, n = slug, 2
        while sid in existing:
            sid, n = f"{slug}-{n}", n + 1
        try:
            return Skill(
                id=sid, name=name, summary=_clean(answer.summary),
                guidance=[_clean(s) for s in answer.steps if _usable(s)],
                applicability={"when_to_use": [_clean(answer.when_to_use)],
                               "when_not_to_use": [_clean(answer.when_not_to_use)], "stages": [cluster.stage],
                               "emotions": list(cluster.top_emotions)},
                expected_outcomes=["The seeker feels heard and a little better (as in the units it came from)."],
                risks=[_clean(answer.risk)], strategies=[cluster.strategy],
                examples=[{"seeker": _clean(answer.example_seeker), "supporter": _clean(answer.example_supporter)}],
                provenance={"sources": [f"skill discovery, cluster {cluster.id}: {cluster.describe()}"]})
        except ValueError:
            return None
