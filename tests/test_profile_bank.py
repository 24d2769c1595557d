"""The built-in seeker bank, the seeded profile generator and resolve_profiles (offline, fast)."""

from __future__ import annotations

import re

import pytest

from escgraph.profiles import ProfileError, SeekerProfile
from escgraph.simulations import profiles as profiles_module
from escgraph.simulations.profiles import builtin_profiles, generate_profiles, resolve_profiles

NAMED_PROBLEM_TYPES = [
    "ongoing depression", "job crisis", "breakup", "problems with friends", "academic pressure", "procrastination",
    "alcohol", "issues with parents", "sleep problems", "appearance anxiety", "bullying", "issues with children",
    "grief", "loneliness", "caregiving",
]
_WORDS = re.compile(r"[a-z']{4,}")


def _combo(p: SeekerProfile) -> tuple:
    return (p.persona.age, p.persona.occupation, p.problem_type, p.personality, p.hidden_intent)


def _content(p: SeekerProfile) -> dict:
    return p.model_dump(exclude={"id"})


# ---------------------------------------------------------------------------------------------- the bank
def test_module_exports():
    assert set(profiles_module.__all__) == {"builtin_profiles", "generate_profiles", "resolve_profiles"}


def test_bank_is_large_with_unique_kebab_case_ids():
    bank = builtin_profiles()
    assert len(bank) >= 64
    ids = [p.id for p in bank]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", i) for i in ids)


@pytest.mark.parametrize("problem_type", NAMED_PROBLEM_TYPES)
def test_bank_covers_each_named_problem_type_at_least_three_times(problem_type):
    assert sum(p.problem_type == problem_type for p in builtin_profiles()) >= 3


def test_bank_varies_personality_intent_age_and_uses_short_labels():
    bank = builtin_profiles()
    assert len({p.personality for p in bank}) >= 6
    assert len({p.hidden_intent for p in bank}) >= 5
    ages = [p.persona.age for p in bank]
    assert min(ages) <= 15 and max(ages) >= 75 and all(14 <= a <= 80 for a in ages)
    # controlled vocabularies: short lowercase labels that reports can group by
    for p in bank:
        for label in (p.problem_type, p.personality, p.emotion_type):
            assert label == label.lower() and len(label.split()) <= 4, (p.id, label)


def test_bank_fills_every_optional_field_explicitly():
    for p in builtin_profiles():
        assert p.model_fields_set == set(SeekerProfile.model_fields), p.id
        assert all(getattr(p.persona, f) not in (None, "") for f in ("age", "gender", "occupation", "description"))
        assert p.language == "en" and 25 <= p.initial_emotion <= 55, p.id
    assert sum(p.initial_emotion == 40 for p in builtin_profiles()) > len(builtin_profiles()) / 2


def test_first_talk_does_not_give_away_the_hidden_intent():
    for p in builtin_profiles():
        talk = p.first_talk.lower()
        assert p.hidden_intent.lower() not in talk, p.id
        intent = set(_WORDS.findall(p.hidden_intent.lower())) - {"wants", "that", "their", "they"}
        assert len(intent & set(_WORDS.findall(talk))) < max(2, len(intent) * 0.75), p.id
        assert len(p.first_talk) <= 160, p.id


def test_bank_and_generated_profiles_do_not_trip_the_safety_gate():
    """Profiles are ordinary distress; a crisis-like opening would test the safety gate instead of the graph."""
    from escgraph.agents.safety import SafetyDetector

    detector = SafetyDetector(use_embeddings=False)  # rules only: no model load, deterministic
    profiles = builtin_profiles() + generate_profiles(600, seed=0)
    texts = [t for p in profiles for t in (p.situation, p.first_talk)]
    flagged = [t for t, v in zip(texts, detector.check_many(texts), strict=True) if v.crisis]
    assert flagged == []


def test_builtin_profiles_returns_copies():
    first = builtin_profiles()
    first[0].situation = "edited"
    assert builtin_profiles()[0].situation != "edited"


# ------------------------------------------------------------------------------------------- generator
def test_generator_is_deterministic_per_seed_and_prefix_stable():
    a, b = generate_profiles(40, seed=7), generate_profiles(40, seed=7)
    assert [p.model_dump() for p in a] == [p.model_dump() for p in b]
    assert [p.id for p in a] == [f"gen-7-{k}" for k in range(1, 41)]
    other = generate_profiles(40, seed=8)
    assert [_content(p) for p in a] != [_content(p) for p in other]
    assert [_content(p) for p in generate_profiles(10, seed=7)] == [_content(p) for p in a[:10]]


def test_generator_makes_distinct_natural_complete_profiles():
    generated = generate_profiles(2000, seed=3)
    assert len({_combo(p) for p in generated}) == len(generated)
    for p in generated:
        assert "{" not in p.situation + p.first_talk and " a a" not in p.situation and " a e" not in p.situation
        assert p.hidden_intent.lower() not in p.first_talk.lower()
        assert p.model_fields_set == set(SeekerProfile.model_fields)
    assert {p.problem_type for p in generated} >= set(NAMED_PROBLEM_TYPES)
    assert len({p.personality for p in generated}) >= 8 and len({p.hidden_intent for p in generated}) >= 6
    # parts pair only what fits: no exam stress in retirement, no divorce at fifteen
    for p in generated:
        if p.problem_type in ("academic pressure", "divorce", "job crisis", "retirement"):
            assert (p.problem_type == "academic pressure") == ("student" in p.persona.occupation), p.id
            assert p.problem_type != "divorce" or p.persona.age >= 28
            assert p.problem_type != "retirement" or p.persona.occupation.startswith("retired")


@pytest.mark.parametrize("n", [0, -3, 10**9])
def test_generator_rejects_bad_n(n):
    with pytest.raises(ValueError, match="combinations"):
        generate_profiles(n)


# --------------------------------------------------------------------------------------- resolve_profiles
def test_resolve_builtin_and_generated():
    five = resolve_profiles("builtin", n=5)
    assert len({p.problem_type for p in five}) == 5  # a short run samples different problems
    assert five[0].id == builtin_profiles()[0].id
    assert sorted(p.id for p in resolve_profiles("builtin")) == sorted(p.id for p in builtin_profiles())
    generated = resolve_profiles("generated", n=4, seed=2)
    assert [p.id for p in generated] == ["gen-2-1", "gen-2-2", "gen-2-3", "gen-2-4"]


@pytest.mark.parametrize(("source", "n", "message"), [
    ("builtin", 0, "at least 1"),
    ("generated", None, "needs n"),
    ("generated", -1, "at least 1"),
    ("builtin", 100_000, "only"),
])
def test_resolve_rejects_bad_n(source, n, message):
    with pytest.raises(ValueError, match=message):
        resolve_profiles(source, n=n)


def test_resolve_user_file_with_minimal_profiles(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "- id: a\n  situation: I failed my driving test again.\n"
        "- id: b\n  situation: My cat is ill.\n  persona: a retired baker who lives alone\n"
        "- id: c\n  situation: Work is too much.\n  persona: {age: 30}\n  personality: guarded\n",
        encoding="utf-8",
    )
    profiles = resolve_profiles(str(path))
    assert [p.id for p in profiles] == ["a", "b", "c"]
    assert profiles[0].initial_emotion == 40 and profiles[0].language == "en" and profiles[0].first_talk is None
    assert profiles[1].persona.description == "a retired baker who lives alone"
    assert [p.id for p in resolve_profiles(str(path), n=2)] == ["a", "b"]
    json_path = tmp_path / "mine.json"
    json_path.write_text('[{"id": "j", "situation": "s", "initial_emotion": 30}]', encoding="utf-8")
    assert resolve_profiles(str(json_path))[0].initial_emotion == 30


@pytest.mark.parametrize(("text", "names"), [
    ("- id: ok\n  situation: fine\n- id: broken\n  persona: {age: 40}\n", ["broken", "situation"]),
    ("- id: ok\n  situation: fine\n- id: broken\n  situation: x\n  initial_emotion: lots\n",
     ["broken", "initial_emotion"]),
    ("- id: ok\n  situation: fine\n- situation: no id here\n", ["#1", "id"]),
    ("- id: ok\n  situation: fine\n  mood: grumpy\n", ["ok", "mood"]),
])
def test_resolve_malformed_file_names_entry_and_field(tmp_path, text, names):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        resolve_profiles(str(path))
    assert all(name in str(info.value) for name in names), str(info.value)
    assert "bad.yaml" in str(info.value)


@pytest.mark.parametrize("text", ["[]\n", "not: a list\n", "- id: [unclosed\n"])
def test_resolve_rejects_empty_or_unreadable_files(tmp_path, text):
    path = tmp_path / "odd.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError, match="odd.yaml"):
        resolve_profiles(str(path))


def test_resolve_missing_file_is_a_profile_error(tmp_path):
    with pytest.raises(ProfileError, match="cannot read"):
        resolve_profiles(str(tmp_path / "nope.yaml"))
