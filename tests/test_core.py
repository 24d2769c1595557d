"""Core pieces: prompts as data, profiles, message checks, the public surface."""

from __future__ import annotations

import pytest

import escgraph
from escgraph.messages import InvalidMessageError, clean_seeker_message, decode_line
from escgraph.profiles import ProfileError, load_profiles
from escgraph.prompts import PromptError, load_data, load_prompt
from escgraph.types import STRATEGIES

PUBLIC = {
    "__version__", "ESCState", "ESCContext", "STRATEGIES", "Strategy", "SafetyVerdict", "SeekerProfile",
    "load_profiles", "load_chat_model", "FakeChatModel", "AgentNode", "SafetyGate", "SafetyDetector",
    "StrategyCounselor", "Supporter", "SimulatedSeeker", "route_after_safety", "build_graph", "list_graphs",
    "register_graph", "open_sqlite_checkpointer", "SeekerStateTracker", "SkillRetrieverNode",
    "SkillStrategyCounselor", "Critic", "add_critic_loop", "Debater", "CounselorCreator", "KnowledgeRetrieverNode",
    "InitiativeDecider", "with_seeker_memory",
}


def test_public_surface_is_pinned_and_importable():
    assert set(escgraph.__all__) == PUBLIC
    for name in escgraph.__all__:
        assert getattr(escgraph, name) is not None


def test_prompts_are_versioned_data_and_render_strictly():
    for name in ("strategy_counselor", "supporter", "seeker"):
        prompt = load_prompt(name)
        assert prompt.version and prompt.system
    with pytest.raises(PromptError, match="needs values for"):
        load_prompt("supporter").render("system", strategy="Question")
    with pytest.raises(PromptError, match="no prompt named"):
        load_prompt("does_not_exist")


def test_every_strategy_has_guidance():
    strategies = load_data("strategies")["strategies"]
    assert set(strategies) == set(STRATEGIES)
    assert all(s["definition"] and s["instruction"] and s["stage"] for s in strategies.values())


def test_profiles_load_and_errors_name_the_profile_and_field(tmp_path):
    good = tmp_path / "p.yaml"
    good.write_text("- id: a\n  situation: lost my job\n  persona: tired night-shift nurse\n  initial_emotion: 30\n")
    [profile] = load_profiles(good)
    assert profile.persona.description == "tired night-shift nurse" and profile.initial_emotion == 30
    bad = tmp_path / "bad.yaml"
    bad.write_text("- id: a\n  situation: x\n- id: b\n  situation: y\n  initial_emotion: 400\n")
    with pytest.raises(ProfileError, match="profile b: field 'initial_emotion'"):
        load_profiles(bad)
    dup = tmp_path / "dup.json"
    dup.write_text('[{"id": "a", "situation": "x"}, {"id": "a", "situation": "y"}]')
    with pytest.raises(ProfileError, match="duplicate profile id 'a'"):
        load_profiles(dup)
    with pytest.raises(ProfileError, match="field 'situation'"):
        (tmp_path / "m.yaml").write_text("- id: c\n")
        load_profiles(tmp_path / "m.yaml")


def test_message_checks():
    assert clean_seeker_message("  hi\x00 there\x1b  ") == "hi there"
    with pytest.raises(InvalidMessageError, match="empty message"):
        clean_seeker_message(" \x07 ")
    with pytest.raises(InvalidMessageError, match="message too long: 5,000 characters"):
        clean_seeker_message("a" * 5000)
    with pytest.raises(InvalidMessageError, match=r"line 3: input is not valid UTF-8 \(byte 0xff at offset 2\)"):
        decode_line(b"ab\xff", 3)
