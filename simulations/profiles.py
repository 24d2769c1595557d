"""Seeker profiles for simulations: the built-in bank, a seeded generator, and one resolver for both and files.

The bank (``data/profiles.yaml``) is hand-written and fixed per release, so runs on it stay comparable. The
generator combines parts (``data/profile_parts.yaml``: persona × problem × personality × hidden intent) into as
many distinct profiles as a sweep needs: a seed always gives the same profiles in the same order, and a smaller
``n`` gives a prefix of a larger one. Both use the same labels for problem types and personalities, so reports
group them alike.
"""

from __future__ import annotations

import functools
import random
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict

from escgraph.profiles import Persona, ProfileError, SeekerProfile, load_profiles

__all__ = ["builtin_profiles", "generate_profiles", "resolve_profiles"]

_PACKAGE = "escgraph.simulations"
_ROLES = ("student", "worker", "retired")


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)  # a typo in the parts file fails loudly


class _PersonaPart(_Part):
    age: int
    gender: str
    occupation: str
    description: str
    role: Literal["student", "worker", "retired"]


class _ProblemPart(_Part):
    problem_type: str
    emotion_type: str
    situation: str
    first_talk: str
    roles: tuple[Literal["student", "worker", "retired"], ...] = _ROLES
    min_age: int = 0
    max_age: int = 200
    initial_emotion: int = 40

    def fits(self, persona: _PersonaPart) -> bool:
        return persona.role in self.roles and self.min_age <= persona.age <= self.max_age


class _Personality(_Part):
    label: str
    behaviour: str


class _Parts(_Part):
    personas: tuple[_PersonaPart, ...]
    problems: tuple[_ProblemPart, ...]
    personalities: tuple[_Personality, ...]
    intents: tuple[str, ...]

    @functools.cached_property
    def pairs(self) -> list[tuple[_PersonaPart, _ProblemPart]]:
        """Persona × problem pairs that make sense together (no exam stress for a retired fisherman)."""
        return [(persona, problem) for persona in self.personas for problem in self.problems if problem.fits(persona)]

    @property
    def combinations(self) -> int:
        return len(self.pairs) * len(self.personalities) * len(self.intents)


@functools.cache
def _bank() -> tuple[SeekerProfile, ...]:
    with resources.as_file(resources.files(_PACKAGE).joinpath("data", "profiles.yaml")) as path:
        return tuple(load_profiles(path))


@functools.cache
def _parts() -> _Parts:
    text = resources.files(_PACKAGE).joinpath("data", "profile_parts.yaml").read_text(encoding="utf-8")
    return _Parts.model_validate(yaml.safe_load(text))


def builtin_profiles() -> list[SeekerProfile]:
    """The built-in bank of hand-written English seeker profiles, in file order."""
    # Copies: a caller editing a profile must not change the cached bank for everyone else in the process.
    return [profile.model_copy(deep=True) for profile in _bank()]


def _with_article(noun: str) -> str:
    # Good enough because the parts file only uses occupations whose first letter decides the article.
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _build(k: int, seed: int, persona: _PersonaPart, problem: _ProblemPart, personality: _Personality,
           intent: str) -> SeekerProfile:
    fields = {"age": persona.age, "gender": persona.gender, "occupation": persona.occupation,
              "a_occupation": _with_article(persona.occupation)}
    return SeekerProfile(
        id=f"gen-{seed}-{k}",
        situation=problem.situation.format_map(fields),
        # The label alone is too terse for a simulated seeker to act out; the behaviour rides in the description.
        persona=Persona(age=persona.age, gender=persona.gender, occupation=persona.occupation,
                        description=f"{persona.description}; in conversation, {personality.behaviour}"),
        problem_type=problem.problem_type,
        emotion_type=problem.emotion_type,
        personality=personality.label,
        hidden_intent=intent,
        first_talk=problem.first_talk.format_map(fields),
        initial_emotion=problem.initial_emotion,
        language="en",
    )


def generate_profiles(n: int, seed: int = 0) -> list[SeekerProfile]:
    """``n`` distinct profiles (no persona × problem × personality × intent combination twice) for ``seed``.

    Ids are ``gen-<seed>-<k>`` with k from 1. Raises ``ValueError`` if ``n`` is below 1 or above the number of
    distinct combinations.
    """
    parts = _parts()
    total = parts.combinations
    if not 1 <= n <= total:
        raise ValueError(f"n must be between 1 and {total} (the distinct persona × problem × personality × "
                         f"intent combinations), got {n}")
    # Shuffling every combination index (tens of thousands of ints: milliseconds) rather than sampling keeps
    # generate_profiles(10, s) a prefix of generate_profiles(20, s), so growing a sweep keeps its first profiles.
    order = list(range(total))
    random.Random(seed).shuffle(order)
    per_pair = len(parts.personalities) * len(parts.intents)
    profiles = []
    for k, index in enumerate(order[:n], start=1):
        pair, rest = divmod(index, per_pair)
        personality, intent = divmod(rest, len(parts.intents))
        persona, problem = parts.pairs[pair]
        profiles.append(_build(k, seed, persona, problem, parts.personalities[personality], parts.intents[intent]))
    return profiles


def _spread_over_problem_types(profiles: list[SeekerProfile]) -> list[SeekerProfile]:
    """Reorder round-robin across problem types, keeping bank order within a type."""
    groups: dict[str, list[SeekerProfile]] = {}
    for profile in profiles:
        groups.setdefault(profile.problem_type or "", []).append(profile)
    spread = []
    for rank in range(max(len(g) for g in groups.values())):
        spread += [g[rank] for g in groups.values() if rank < len(g)]
    return spread


def resolve_profiles(source: str, *, n: int | None = None, seed: int = 0) -> list[SeekerProfile]:
    """Profiles for a run from ``source``: ``"builtin"``, ``"generated"`` (needs ``n``) or a YAML/JSON file path.

    ``n`` takes the first n profiles of a file; of the built-in bank it takes n spread over problem types (one of
    each type in turn, in bank order), so a short run is not all one problem. For ``"generated"`` it is how many
    to make, with ``seed``.
    A file named ``builtin`` or ``generated`` can be given as ``./builtin``. File errors are ``ProfileError``s
    naming the file, the profile and the field; a bad ``n`` is a ``ValueError``.
    """
    if n is not None and n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if source == "generated":
        if n is None:
            raise ValueError("profiles 'generated' needs n, the number of profiles to generate")
        return generate_profiles(n, seed)
    if source == "builtin":
        profiles = _spread_over_problem_types(builtin_profiles())
    else:
        profiles = load_profiles(Path(source).expanduser())
        if not profiles:
            raise ProfileError(f"{source}: the file holds no profiles")
    if n is None:
        return profiles
    if n > len(profiles):
        raise ValueError(f"n is {n} but {source!r} has only {len(profiles)} profiles")
    return profiles[:n]


def holdout_profiles(source: str, *, n: int | None, exclude: set[str], seed: int = 0) -> list[SeekerProfile]:
    """Held-out profiles: from the built-in bank, ``n`` profiles (spread over problem types) whose ids are not in
    ``exclude``; from a file, its first ``n`` (overlap with ``exclude`` is the caller's error to report)."""
    if source != "builtin":
        return resolve_profiles(source, n=n, seed=seed)
    rest = [p for p in _spread_over_problem_types(builtin_profiles()) if p.id not in exclude]
    if n is not None and n > len(rest):
        raise ValueError(f"only {len(rest)} built-in profiles are left to hold out, not {n}")
    return rest if n is None else rest[:n]
