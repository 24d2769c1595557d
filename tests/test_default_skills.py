"""The built-in default skills bank (``skills_bank/default``): every file is a valid, complete, safe skill.

Fast and offline: reads the YAML files shipped as package data, validates them with the schema, and checks
coverage (stages, ESConv strategies, situations), content quality (no placeholders, enough concrete steps)
and that no skill tries to handle a crisis itself — that is the safety gate's job (ARCHITECTURE.md section 7).
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import pytest
import yaml

from escgraph.skills_bank.schema import Skill
from escgraph.types import STRATEGIES

DEFAULT_DIR = resources.files("escgraph.skills_bank").joinpath("default")
SKILL_FILES = sorted((f for f in DEFAULT_DIR.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name)

SITUATION_VOCABULARY = {
    "ongoing depression", "job crisis", "breakup", "problems with friends", "academic pressure", "procrastination",
    "alcohol", "issues with parents", "sleep problems", "appearance anxiety", "bullying", "issues with children",
    "grief", "loneliness", "caregiving", "health anxiety", "money worries", "workplace conflict", "culture shock",
    "infertility", "divorce", "chronic illness", "burnout", "retirement", "social anxiety",
}
REQUIRED_SITUATIONS = {"grief", "breakup", "job crisis", "academic pressure", "loneliness", "issues with parents",
                       "health anxiety", "caregiving"}
PLACEHOLDER = re.compile(r"\btodo\b|\btbd\b|\bfixme\b|\blorem\b|\bipsum\b|\bxxx\b|\.\.\.|…|<[a-z _-]+>",
                         re.IGNORECASE)
CRISIS = re.compile(r"suicid|self[- ]harm|kill (?:myself|themselves|himself|herself|yourself)|"
                    r"(?:want|wants|wanting) to die|end (?:my|their|his|her|your) life|overdos|"
                    r"harm(?:ing)? (?:myself|themselves|himself|herself|yourself)|in danger", re.IGNORECASE)
ROUTED = re.compile(r"safety gate", re.IGNORECASE)
ABSOLUTE_PATH = re.compile(r"(?:^|\s)(?:/home/|/work/|/tmp/|/Users/|[A-Z]:\\)")


def _load(file: Any) -> tuple[dict, Skill]:
    data = yaml.safe_load(file.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{file.name}: a skill file must be a mapping"
    return data, Skill.model_validate(data)


@pytest.fixture(scope="module")
def skills() -> dict[str, Skill]:
    return {f.name[:-len(".yaml")]: _load(f)[1] for f in SKILL_FILES}


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _text_items(skill: Skill) -> list[tuple[str, str]]:
    """Every piece of advice-bearing prose, with the field it came from."""
    a = skill.applicability
    items = [("summary", skill.summary)]
    items += [("guidance", s) for s in skill.guidance]
    items += [("when_to_use", s) for s in a.when_to_use]
    items += [("when_not_to_use", s) for s in a.when_not_to_use]
    items += [("expected_outcomes", s) for s in skill.expected_outcomes]
    items += [("risks", s) for s in skill.risks]
    for ex in skill.examples:
        items += [("examples.seeker", ex.seeker), ("examples.supporter", ex.supporter)]
    return items


def test_the_default_folder_ships_skills_and_a_readme():
    assert DEFAULT_DIR.is_dir()
    assert DEFAULT_DIR.joinpath("README.md").is_file()
    others = [f.name for f in DEFAULT_DIR.iterdir()
              if f.is_file() and not f.name.endswith(".yaml") and f.name != "README.md"]
    assert not others, f"unexpected files in the default bank: {others}"


@pytest.mark.parametrize("file", SKILL_FILES, ids=lambda f: f.name)
def test_each_file_is_a_valid_skill_named_after_its_id(file):
    data, skill = _load(file)
    assert file.name == f"{skill.id}.yaml"
    assert skill.status == "active"
    assert "status" in data, "write the status explicitly so the file reads on its own"


def test_bank_size_and_unique_names(skills):
    active = [s for s in skills.values() if s.status == "active"]
    assert len(active) >= 30
    names = [s.name.casefold() for s in skills.values()]
    assert len(names) == len(set(names)), "two skills share a name"
    assert len({s.id for s in skills.values()}) == len(skills)


def test_all_stages_strategies_and_required_situations_are_covered(skills):
    stages = {st for s in skills.values() for st in s.applicability.stages}
    assert stages == {"exploration", "comforting", "action"}
    strategies = {st for s in skills.values() for st in s.strategies}
    assert strategies == set(STRATEGIES), f"missing strategies: {set(STRATEGIES) - strategies}"
    situations = {sit for s in skills.values() for sit in s.applicability.situations}
    assert REQUIRED_SITUATIONS <= situations, f"missing situations: {REQUIRED_SITUATIONS - situations}"
    generic = [s.id for s in skills.values() if not s.applicability.situations]
    assert len(generic) >= 10, "the bank needs generic skills that fit any situation"


@pytest.mark.parametrize("file", SKILL_FILES, ids=lambda f: f.name)
def test_applicability_uses_the_vocabulary(file):
    a = _load(file)[1].applicability
    assert set(a.situations) <= SITUATION_VOCABULARY, f"unknown situations {set(a.situations) - SITUATION_VOCABULARY}"
    for word in [*a.situations, *a.emotions]:
        assert word == word.lower().strip() and word, f"{word!r} must be a lowercase word or phrase"
    assert len(a.emotions) <= 4, "long emotion lists over-filter retrieval; leave it empty for any"
    assert a.min_intensity <= a.max_intensity
    assert len(a.stages) == len(set(a.stages)) and len(a.situations) == len(set(a.situations))


@pytest.mark.parametrize("file", SKILL_FILES, ids=lambda f: f.name)
def test_every_field_has_real_content(file):
    data, skill = _load(file)
    a = skill.applicability
    assert 3 <= len(skill.guidance) <= 6
    assert 2 <= len(a.when_to_use) <= 4
    assert 2 <= len(a.when_not_to_use) <= 4
    assert 2 <= len(skill.expected_outcomes) <= 3
    assert 2 <= len(skill.risks) <= 4
    assert 1 <= len(skill.examples) <= 2
    assert skill.provenance.sources, "name the literature the skill draws on"
    for text in _strings(data):
        assert text.strip(), "empty string"
        assert not PLACEHOLDER.search(text), f"placeholder-like text: {text!r}"
        assert not ABSOLUTE_PATH.search(text), f"machine path in text: {text!r}"
    for field, text in _text_items(skill):
        assert len(text.split()) >= 4, f"{field} is too thin to be useful: {text!r}"
    for field in ("guidance", "when_to_use", "when_not_to_use", "expected_outcomes", "risks"):
        values = [v.casefold() for v in getattr(skill, field, None) or getattr(a, field)]
        assert len(values) == len(set(values)), f"{field} repeats an item"


@pytest.mark.parametrize("file", SKILL_FILES, ids=lambda f: f.name)
def test_risks_say_how_to_avoid_them(file):
    skill = _load(file)[1]
    for risk in skill.risks:
        # each risk names what goes wrong and how to avoid it, joined by ';' or a dash
        assert re.search(r";|—| - ", risk), f"risk without a way to avoid it: {risk!r}"


@pytest.mark.parametrize("file", SKILL_FILES, ids=lambda f: f.name)
def test_skills_route_crises_to_the_safety_gate(file):
    skill = _load(file)[1]
    for step in skill.guidance:
        assert not CRISIS.search(step), f"a guidance step deals with a crisis itself: {step!r}"
    for ex in skill.examples:
        assert not CRISIS.search(ex.supporter), f"an example reply handles a crisis: {ex.supporter!r}"
    for item in skill.applicability.when_to_use:
        assert not CRISIS.search(item), f"a skill must never be chosen for a crisis: {item!r}"
    for field, text in _text_items(skill):
        if CRISIS.search(text) and not field.startswith("examples"):
            assert ROUTED.search(text), f"{field} mentions a crisis without handing it to the safety gate: {text!r}"
    if skill.status == "active":
        assert any(ROUTED.search(t) for t in skill.applicability.when_not_to_use), \
            f"{skill.id}: when_not_to_use must say that crises go to the safety gate"


def test_the_built_in_bank_seeds_a_new_bank(tmp_path, skills):
    from escgraph.skills_bank.store import SkillBank

    bank = SkillBank.default(tmp_path / "bank")
    head = bank.get_version("head")
    assert head.id == "v1"
    assert set(bank.skills()) == set(skills)
