"""A scripted, noisy world for measuring the evolution loop's decisions (false-positive rate and power).

The world: every episode follows the skill ``press-for-details`` each turn. Open seekers feel a little better
after it (``open_effect`` per turn), avoidant seekers worse (``avoidant_effect``). When the skill's guidance holds
the :data:`HELPFUL_STEP` marker, avoidant seekers gain ``effect / turns`` more per turn, so the edit is worth about
``effect`` points of final emotion on its target group (less where the score hits a bound). Any other amendment
changes nothing: a **null edit**.

The judge's change each turn is that effect plus uniform noise of ±``noise`` drawn from a generator seeded by
``noise_seed`` — independent of the episode seeds, as with a sampling model or a sampling judge — then clipped and
applied with the SAGE rules (start 40, cap 100, failure below 10). So re-running an episode key gives a fresh
draw, and selecting episodes for being low (or high) selects noise.

:class:`ScriptedSimulator` implements the evolution loop's ``Simulator`` protocol without models or graphs, so a
whole evolution takes milliseconds; a folder it has filled is read back, never replayed (as the runner does on
resume). :func:`scripted_analyst` proposes one amendment of ``press-for-details`` per finding, through the real
:class:`~escgraph.agents.skill_analyst.SkillAnalyst` on a fake model.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from escgraph.llm import FakeChatModel
from escgraph.profiles import SeekerProfile
from escgraph.simulations.results import EpisodeResult, TurnRecord
from escgraph.simulations.spec import SageSettings, episode_seed
from escgraph.skills_bank.evolution.loop import SimulationResult
from escgraph.skills_bank.schema import Skill
from escgraph.skills_bank.store import SkillBank

__all__ = ["WorldSettings", "ScriptedSimulator", "scripted_skill", "StudyResult", "acceptance_study", "scripted_analyst", "world_profiles",
           "world_skills",
           "HELPFUL_STEP", "NULL_STEP", "SKILL_ID"]

SKILL_ID = "press-for-details"
HELPFUL_STEP = "With avoidant seekers, do not press for details; let them set the pace."
NULL_STEP = "Ask one more question about the timeline of events."


@dataclass(frozen=True)
class WorldSettings:
    effect: float = 10.0  # points of final emotion the helpful edit adds on the avoidant group (before bounds)
    noise: float = 4.0  # half-width of the judge's uniform noise per turn
    turns: int = 4
    open_effect: float = 6.0
    side_effect: float = 0.0  # points of final emotion the helpful edit adds on the open seekers (negative: harm)
    avoidant_effect: float = -3.0
    noise_seed: int = 0
    run_id: str = "scripted"
    seed: int = 0
    trials: int = 1


def world_profiles(n: int = 12, avoidant: int = 3) -> list[SeekerProfile]:
    problems = ["job loss", "breakup", "academic pressure", "grief"]
    return [SeekerProfile(id=f"{'avoid' if i < avoidant else 'open'}-{i}", situation=f"I am struggling with "
                          f"{problems[i % len(problems)]} and it keeps me up at night.",
                          problem_type=problems[i % len(problems)], emotion_type="sadness",
                          personality="avoidant" if i < avoidant else "open", hidden_intent="wants to be heard",
                          initial_emotion=40) for i in range(n)]


def scripted_skill(skill_id: str, name: str, steps: list[str]) -> Skill:
    """A complete, screen-passing skill whose behaviour in a scripted world is set by its guidance ``steps``."""
    return Skill.model_validate({
        "id": skill_id, "name": name, "summary": f"{name}: helps the seeker tell their story",
        "guidance": steps,
        "applicability": {"when_to_use": ["the seeker has started to describe a problem"],
                          "when_not_to_use": ["the seeker is in danger"],
                          "stages": ["exploration", "comforting", "action"]},
        "expected_outcomes": ["the seeker feels heard"], "risks": ["sounding scripted"],
        "strategies": ["Question"], "examples": [{"seeker": "It went badly.", "supporter": "What happened?"}]})


def world_skills() -> list[Skill]:
    return [scripted_skill(SKILL_ID, "Press for details", ["Press the seeker for the details of what happened.",
                                                           "Ask follow-up questions until the whole story is out."]),
            scripted_skill("reflect-the-feeling", "Reflect the feeling", ["Name the feeling you hear.",
                                                                          "Check whether you understood it."])]


class ScriptedSimulator:
    """The ``Simulator`` protocol over the scripted world; the noise generator is shared by every simulation."""

    def __init__(self, world: WorldSettings = WorldSettings()) -> None:
        self.world = world
        self.rng = random.Random(world.noise_seed)
        self.sage = SageSettings()
        self.episodes_played = 0

    def config(self) -> dict[str, Any]:
        w = self.world
        return {"world": "scripted", "effect": w.effect, "noise": w.noise, "turns": w.turns, "run_id": w.run_id,
                "seed": w.seed, "trials": w.trials, "open_effect": w.open_effect,
                "avoidant_effect": w.avoidant_effect, "side_effect": w.side_effect}

    def _helpful(self, bank_path: Path, bank_version: str) -> bool:
        skills = SkillBank.open(bank_path).skills(bank_version.split("@", 1)[0])
        skill = skills.get(SKILL_ID)
        return skill is not None and any(HELPFUL_STEP in step for step in skill.guidance)

    def _episode(self, profile: SeekerProfile, trial: int, helpful: bool) -> EpisodeResult:
        w, sage = self.world, self.sage
        seed = episode_seed(w.run_id, w.seed, profile.id, trial)
        avoidant = profile.personality == "avoidant"
        if avoidant:
            effect = w.avoidant_effect + (w.effect / w.turns if helpful else 0.0)
        else:
            effect = w.open_effect + (w.side_effect / w.turns if helpful else 0.0)
        emotion = float(profile.initial_emotion)
        turns = [TurnRecord(idx=0, speaker="seeker", text=profile.situation, emotion_after=emotion)]
        outcome = "max_turns"
        for _ in range(w.turns):
            turns.append(TurnRecord(idx=len(turns), speaker="counselor", text="Tell me more about what happened.",
                                    strategy="Question", extra={"skill_id": SKILL_ID, "stage": "exploration"}))
            change = max(-sage.change_limit, min(sage.change_limit, effect + self.rng.uniform(-w.noise, w.noise)))
            before, emotion = emotion, max(0.0, min(sage.success_at, emotion + change))
            turns.append(TurnRecord(idx=len(turns), speaker="seeker", text="I don't know what to say.",
                                    emotion_before=before, emotion_after=emotion, change=round(change, 3),
                                    judge={"meaning": "a question", "serves_goal": "yes" if change >= 0 else "no",
                                           "inner_reaction": "calmer" if change >= 0 else "pushed",
                                           "feeling": "calmer" if change >= 0 else "cornered",
                                           "change": round(change)}))
            if emotion >= sage.success_at:
                outcome = "success"
            elif emotion < sage.failure_below:
                outcome = "failure"
            else:
                continue
            break
        self.episodes_played += 1
        return EpisodeResult(episode_id=f"{profile.id}#{trial}#{seed}", profile_id=profile.id, trial=trial, seed=seed,
                             status="done", profile=profile.model_dump(mode="json", exclude_none=True),
                             outcome=outcome, initial_emotion=float(profile.initial_emotion), final_emotion=emotion,
                             seeker_turns=sum(t.speaker == "seeker" for t in turns) - 1, turns=turns)

    def simulate(self, out_dir: Path, profiles: Sequence[SeekerProfile], bank_path: Path, bank_version: str, *,
                 keys: Sequence[tuple[str, int]] | None = None) -> SimulationResult:
        out_dir = Path(out_dir)
        saved = out_dir / "episodes.json"
        if saved.exists():
            episodes = [_episode_from(d) for d in json.loads(saved.read_text(encoding="utf-8"))]
        else:
            by_id = {p.id: p for p in profiles}
            wanted = list(keys) if keys is not None else [(p.id, t) for p in profiles
                                                          for t in range(self.world.trials)]
            helpful = self._helpful(bank_path, bank_version)
            episodes = [self._episode(by_id[pid], int(trial), helpful) for pid, trial in wanted]
            out_dir.mkdir(parents=True, exist_ok=True)
            saved.write_text(json.dumps([e.to_dict() for e in episodes]), encoding="utf-8")
        finals = [e.final_emotion for e in episodes]
        summary = {"sage_score": round(sum(finals) / len(finals), 4), "episodes": len(episodes),
                   "finished": len(episodes), "success": sum(e.outcome == "success" for e in episodes),
                   "failure": sum(e.outcome == "failure" for e in episodes), "bank_version": bank_version}
        return SimulationResult(episodes={e.episode_id: e for e in episodes}, summary=summary, tokens=0)


def _episode_from(data: dict[str, Any]) -> EpisodeResult:
    turns = [TurnRecord(**t) for t in data.pop("turns")]
    return EpisodeResult(**data, turns=turns)


def scripted_analyst(step: str = HELPFUL_STEP) -> Any:
    """The real skill analyst on a fake model that always proposes ``step`` as the new first guidance step."""
    from escgraph.agents.skill_analyst import SkillAnalyst

    def respond(messages: Any, schema: Any) -> Any:
        if getattr(getattr(schema, "source", schema), "__name__", "") == "AmendmentDraft":
            return {"action": "amend", "diagnosis": "Pressing avoidant seekers for details makes them withdraw.",
                    "new_first_step": step, "new_risk": "Pressing avoidant seekers makes them shut down.",
                    "avoid_when": "The seeker avoids talking about what happened."}
        return None

    return SkillAnalyst(FakeChatModel(responder=respond), spec="fake")



@dataclass
class StudyResult:
    """How often one-round evolutions in the scripted world committed the analyst's edit."""

    accepted: int
    evolutions: int
    stages: dict[str, int]  # where the edit ended: accepted, or the stage that rejected it
    episodes: int  # scripted episodes simulated over all evolutions

    @property
    def rate(self) -> float:
        return self.accepted / self.evolutions if self.evolutions else 0.0

    def interval(self, confidence: float = 0.95) -> tuple[float, float]:
        from escgraph.stats import binomial_interval

        return binomial_interval(self.accepted, self.evolutions, confidence)

    def describe(self) -> str:
        low, high = self.interval()
        return (f"accepted in {self.accepted} of {self.evolutions} evolutions ({self.rate:.1%}, 95% CI "
                f"{low:.1%} to {high:.1%})")


def acceptance_study(step: str, evolutions: int, folder: str | Path, *, world: WorldSettings = WorldSettings(),
                     policy: Any = None, profiles: int = 12, avoidant: int = 3, first: int = 0) -> StudyResult:
    """Run ``evolutions`` one-round evolutions whose analyst proposes ``step``; evolution ``i`` uses episode base
    seed ``i`` and noise seed ``10_000 + i`` (independent of each other and of the episode seeds)."""
    from dataclasses import replace

    from escgraph.skills_bank.evolution import EvolutionSettings, VerifyPolicy, run_evolution

    settings = EvolutionSettings(rounds=1, policy=policy or VerifyPolicy())
    accepted, episodes, stages = 0, 0, {}
    for i in range(first, first + evolutions):
        root = Path(folder) / f"evolution-{i}"
        bank = SkillBank.create(root / "bank", world_skills(), author="study", message="scripted world")
        simulator = ScriptedSimulator(replace(world, seed=i, noise_seed=10_000 + i))
        state = run_evolution(bank, world_profiles(profiles, avoidant), simulator, scripted_analyst(step),
                              out_dir=root / "evolution", settings=settings)
        rs = state["rounds"][0]
        accepted += rs["committed"] is not None
        episodes += simulator.episodes_played
        for p in rs["proposals"] or [{"status": "no proposal", "stage": None}]:
            where = p["status"] if p["status"] == "accepted" else f"{p['status']} at {p.get('stage')}"
            stages[where] = stages.get(where, 0) + 1
    return StudyResult(accepted, evolutions, stages, episodes)
