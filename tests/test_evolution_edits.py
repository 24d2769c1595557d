"""Evolution edits and the quality screen, without any simulation."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from escgraph.skills_bank.evolution import SkillEdit, apply_edit, screen_text, validate_edit
from escgraph.skills_bank.evolution.edits import edits_to_changes

sys.path.insert(0, str(Path(__file__).parent))
import evolve_fakes as world  # noqa: E402

SKILLS = {s.id: s for s in world.bank_skills()}
REFS = {("avoid-1#0#1", 1), ("avoid-1#0#1", 3)}
CITE = [{"episode_id": "avoid-1#0#1", "turn": 1}]


def edit(**fields) -> SkillEdit:
    return SkillEdit.model_validate({"kind": "amend", "skill_id": "press-for-details", "rationale": "falls",
                                     "evidence": CITE, **fields})


@pytest.mark.parametrize("text, category", [
    ("Tell the seeker they are overreacting.", "minimising"),
    ("Remind them it's not a big deal.", "minimising"),
    ("Explain that it is your fault for staying.", "blaming"),
    ("Say they clearly have depression.", "diagnosing"),
    ("Suggest a few drinks to relax before bed.", "unsafe_advice"),
    ("Advise them to stop taking their medication.", "unsafe_advice"),
    ("Do not refer them to crisis lines.", "safety_conflict"),
    ("Handle suicidal talk yourself.", "safety_conflict"),
])
def test_screen_catches_each_category(text, category):
    assert [h.category for h in screen_text(text)] == [category]


@pytest.mark.parametrize("text", [
    "Avoid telling them they are overreacting.",
    "Never say it is not a big deal.",
    "Do not diagnose; reflect what you hear instead.",
    "Gently ask what happened and let them set the pace.",
    "If they mention self-harm, the safety gate takes over.",
])
def test_screen_lets_cautions_and_kind_guidance_through(text):
    assert screen_text(text) == []


def test_amend_records_each_field_before_and_after_and_the_evidence():
    new_step = "Ask permission before asking for details."
    after, changes = apply_edit(SKILLS, edit(set={"guidance": [new_step, *SKILLS["press-for-details"].guidance]}))
    assert after["press-for-details"].guidance[0] == new_step
    assert [c.field for c in changes] == ["guidance"]
    assert changes[0].before == SKILLS["press-for-details"].guidance
    assert after["press-for-details"].provenance.episodes == ["avoid-1#0#1"]
    assert SKILLS["press-for-details"].guidance[0] != new_step  # the input is not mutated


@pytest.mark.parametrize("fields, problem", [
    ({"skill_id": "no-such-skill", "set": {"summary": "x" * 20}}, "unknown skill"),
    ({"set": {"status": "retired"}}, "cannot be amended"),
    ({"set": {}}, "at least one field"),
    ({"set": {"guidance": ["only one step"]}}, "invalid"),
    ({"set": {"summary": "Tell the seeker they are overreacting about small things."}}, "overreacting"),
    ({"evidence": [{"episode_id": "open-1#0#2", "turn": 1}], "set": {"summary": "A kinder summary of it."}},
     "did not select"),
    ({"kind": "add", "skill_id": "reflect-the-feeling", "skill": SKILLS["reflect-the-feeling"]}, "already exists"),
])
def test_invalid_edits_are_rejected_with_a_reason(fields, problem):
    reasons = validate_edit(edit(**fields), SKILLS, REFS)
    assert reasons and any(problem in r for r in reasons), reasons


def test_retiring_the_last_active_skill_is_refused():
    one = {"press-for-details": SKILLS["press-for-details"]}
    assert any("no active skill" in r for r in validate_edit(edit(kind="retire"), one, REFS))
    assert validate_edit(edit(kind="retire"), SKILLS, REFS) == []


def test_added_skill_is_screened_in_full_and_becomes_a_bank_change():
    bad = SKILLS["reflect-the-feeling"].model_copy(update={"id": "cheer-up", "guidance": [
        "Tell them to cheer up.", "Say others have it worse."]})
    reasons = validate_edit(edit(kind="add", skill_id="cheer-up", skill=bad), SKILLS, REFS)
    assert len(reasons) == 2 and all("minimises" in r for r in reasons)
    good = SKILLS["reflect-the-feeling"].model_copy(update={"id": "name-the-worry"})
    assert validate_edit(edit(kind="add", skill_id="name-the-worry", skill=good), SKILLS, REFS) == []
    after, _ = apply_edit(SKILLS, edit(kind="add", skill_id="name-the-worry", skill=good))
    changes = edits_to_changes(SKILLS, after)
    assert [s.id for s in changes.put] == ["name-the-worry"] and not changes.retire


@pytest.mark.parametrize("text", ["", "x", ". +] } 20:39 | Sender (A) - A { Re", "1 sentence."])
def test_unreadable_text_is_rejected_before_testing(text):
    reasons = validate_edit(edit(set={"risks": [*SKILLS["press-for-details"].risks, text]}), SKILLS, REFS)
    assert reasons and "risks" in reasons[0]


def test_an_added_skill_with_an_empty_example_is_rejected():
    data = SKILLS["reflect-the-feeling"].model_dump()
    data.update(id="new-one", examples=[{"seeker": "", "supporter": "A.B."}])
    from escgraph.skills_bank.schema import Skill

    reasons = validate_edit(edit(kind="add", skill_id="new-one", skill=Skill.model_validate(data)), SKILLS, REFS)
    assert any("examples" in r and "empty" in r for r in reasons)
