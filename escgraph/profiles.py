"""Seeker profile schema (ARCHITECTURE.md section 5): what a simulated seeker plays.

Lives in core because agents (the simulated seeker) and simulations (profile banks, runners) both use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = ["SeekerProfile", "Persona", "ProfileError", "load_profiles"]


class ProfileError(ValueError):
    """A profile file cannot be read or a profile in it is invalid (the message names which)."""


class Persona(BaseModel):
    model_config = ConfigDict(extra="allow")

    age: int | None = Field(default=None, ge=5, le=120)
    gender: str | None = None
    occupation: str | None = None
    description: str | None = None

    def describe(self) -> str:
        parts = []
        if self.age:
            parts.append(f"{self.age}-year-old")
        if self.gender:
            parts.append(self.gender)
        parts.append(self.occupation or "person")
        text = "a " + " ".join(parts)
        return f"{text} ({self.description})" if self.description else text


class SeekerProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    situation: str = Field(min_length=1)
    persona: Persona = Field(default_factory=Persona)
    problem_type: str | None = None
    emotion_type: str | None = None
    personality: str | None = None
    hidden_intent: str | None = None
    first_talk: str | None = None
    initial_emotion: int = Field(default=40, ge=0, le=100)
    language: str = "en"

    @field_validator("persona", mode="before")
    @classmethod
    def _persona_from_text(cls, value: Any) -> Any:
        return {"description": value} if isinstance(value, str) else value


def load_profiles(path: str | Path) -> list[SeekerProfile]:
    """Load a list of profiles: ``.json`` files as strict JSON, anything else as YAML. Errors name the file and,
    for a parse error, the line and column; for a bad profile, the profile and the field. Input limits (size,
    nesting, no YAML aliases) are those of :mod:`escgraph.datafiles`."""
    from escgraph.datafiles import MAX_PROFILE_BYTES, DataFileError, parse_by_suffix, read_text

    path = Path(path)
    try:
        data = parse_by_suffix(read_text(path, max_bytes=MAX_PROFILE_BYTES), path)
    except OSError as exc:
        raise ProfileError(f"cannot read profiles from {path}: {exc.strerror or exc}") from None
    except DataFileError as exc:
        raise ProfileError(str(exc)) from None
    if isinstance(data, dict) and "profiles" in data:
        data = data["profiles"]
    if not isinstance(data, list):
        raise ProfileError(f"{path}: expected a list of profiles, got {type(data).__name__}")
    profiles, seen = [], set()
    for i, item in enumerate(data):
        try:
            profile = SeekerProfile.model_validate(item)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            ident = str(item.get("id", f"#{i}"))[:80] if isinstance(item, dict) else f"#{i}"
            raise ProfileError(_one_line(f"{path}: profile {ident}: field {where!r}: {err['msg']}")) from None
        if profile.id in seen:
            raise ProfileError(_one_line(f"{path}: duplicate profile id {profile.id!r}"))
        seen.add(profile.id)
        profiles.append(profile)
    return profiles


def _one_line(text: str) -> str:
    return " ".join(text.split())
