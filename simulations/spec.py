"""Run spec: everything that decides a simulation's results, pinned, hashed and stored with them (ARCHITECTURE.md §6).

A run is graph × profiles × trials with a base seed. Episode seeds come from sha256 over the run id, base seed,
profile id and trial — never Python's salted ``hash()`` — so the same spec always yields the same episodes.
Settings that change only *how* a run executes (concurrency, executor, retry and outage policy) are left out of
the hash, so a run may be resumed with more workers. Credentials in ``base_url`` are redacted from the stored (and
hashed) config.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from escgraph.llm import ModelSettings, redact_url
from escgraph.profiles import SeekerProfile

__all__ = ["SageSettings", "RunSpec", "EpisodeKey", "episode_seed", "SIM_ROLES", "DEFAULT_SETTINGS"]

SIM_ROLES: tuple[str, ...] = ("counselor", "seeker", "judge")

# Pinned decoding per role (unpinned judge settings are the top reproducibility complaint against SAGE).
# The judge decodes greedily; the seeker samples a little so trials differ, reproducibly through the seed.
DEFAULT_SETTINGS: dict[str, ModelSettings] = {
    "counselor": ModelSettings(temperature=0.7, max_tokens=160, top_p=0.95, repeat_penalty=1.3),
    "seeker": ModelSettings(temperature=0.7, max_tokens=96, top_p=0.95, repeat_penalty=1.3),
    "judge": ModelSettings(temperature=0.0, max_tokens=320, top_p=1.0, repeat_penalty=1.1),
}


class SageSettings(BaseModel):
    """The SAGE protocol's numbers (defaults from ARCHITECTURE.md §5); all recorded with the run."""

    model_config = ConfigDict(extra="forbid")

    initial_emotion: float = Field(default=40, ge=0, le=100, description="used when a profile sets none")
    change_limit: float = Field(default=10, gt=0, description="each turn's change is clipped to ±this")
    success_at: float = Field(default=100, description="emotion at which the seeker is satisfied (and the cap)")
    failure_below: float = Field(default=10, description="emotion below which the seeker gives up")
    bands: dict[str, float] = Field(default_factory=lambda: {"S": 100, "A": 70, "B": 40, "C": 10, "F": 0})

    def band(self, emotion: float) -> str:
        for name, floor in sorted(self.bands.items(), key=lambda kv: -kv[1]):
            if emotion >= floor:
                return name
        return min(self.bands, key=self.bands.get)


@dataclass(frozen=True)
class EpisodeKey:
    profile_id: str
    trial: int
    seed: int

    @property
    def episode_id(self) -> str:
        return f"{self.profile_id}#{self.trial}#{self.seed}"


def episode_seed(run_id: str, base_seed: int, profile_id: str, trial: int) -> int:
    digest = hashlib.sha256(f"{run_id}\x1f{base_seed}\x1f{profile_id}\x1f{trial}".encode()).hexdigest()
    return int(digest[:8], 16)  # 32 bits: every backend accepts it as a sampling seed


class RunSpec(BaseModel):
    """A simulation run. ``models`` maps a role to a model spec; seeker and judge default to the counselor's."""

    model_config = ConfigDict(extra="forbid")

    run_id: str = Field(default="run", min_length=1, max_length=200)
    graph: str = "sweetiechat"
    graph_options: dict[str, Any] = Field(
        default_factory=dict,
        description="JSON-serialisable keyword options for the graph builder (e.g. a planner folder); hashed")
    models: dict[str, str] = Field(default_factory=lambda: {"counselor": "local"})
    base_url: str | list[str] | None = Field(
        default=None, description="OpenAI-compatible server(s) for provider:model specs; several: calls go to the "
                                  "least-loaded healthy one. Redacted of credentials, then hashed")
    role_base_urls: dict[str, str | list[str]] = Field(
        default_factory=dict, description="per-role server(s), overriding base_url for that role; hashed when set")
    settings: dict[str, ModelSettings] = Field(default_factory=lambda: dict(DEFAULT_SETTINGS))
    safety_model: str | None = Field(
        default=None, description="model spec for the safety gate's second opinion on ambiguous messages (a capable "
                                  "chat model or a Llama-Guard-style guard); None: rules and embeddings only. Hashed "
                                  "when set")
    safety_format: Literal["structured", "llama_guard"] = Field(
        default="structured", description="how the safety model is asked: a structured-output schema, or the "
                                          "guard classification prompt answered safe/unsafe")
    profiles_source: str = "builtin"
    profiles: list[SeekerProfile]
    trials: int = Field(default=1, ge=1, le=1000)
    trial_keys: list[tuple[str, int]] | None = Field(
        default=None,
        description="play only these (profile id, trial) pairs instead of every profile × trial; a trial may be "
                    "beyond `trials` (a fresh seed). Evolution's verification arms use it; hashed when set")
    seed: int = 0
    max_turns: int = Field(default=10, ge=1, le=100, description="judged seeker turns before the run stops")
    bank_version: str | None = Field(default=None, description="frozen skills-bank version (id@content-hash)")
    bank_path: str | None = Field(default=None, description="skills-bank folder; None = the user's default bank")
    sage: SageSettings = Field(default_factory=SageSettings)
    # -- execution only (not hashed) --
    concurrency: int = Field(default=4, ge=1, le=4096)
    executor: Literal["local", "process", "ray"] = "local"
    ray_address: str | None = Field(default=None, description="ray executor: None starts a local Ray on 127.0.0.1; "
                                                              "'auto' or 'ray://host:port' joins a cluster")
    ray_num_gpus: float = Field(default=0.0, ge=0, description="ray executor: GPUs reserved per episode actor")
    call_retries: int = Field(default=2, ge=0, le=20, description="retries of a failed step, with backoff")
    backoff: float = Field(default=1.0, ge=0, description="first retry delay in seconds; doubles each retry")
    step_timeout: float = Field(default=900.0, gt=0, description="seconds before a step counts as timed out")
    requeues: int = Field(default=2, ge=0, le=100, description="times an infra-errored episode is re-queued")
    max_outage: float = Field(default=300.0, ge=0, description="stop the run once the model server has not "
                                                               "answered (connection errors, timeouts) for this "
                                                               "many seconds; 0: never stop")

    # the bank's folder is where it lives, not what it holds: its version (with content hash) is what is hashed
    _EXECUTION_ONLY = frozenset({"concurrency", "executor", "call_retries", "backoff", "step_timeout", "requeues",
                                 "max_outage", "bank_path", "ray_address", "ray_num_gpus"})

    @field_validator("models")
    @classmethod
    def _known_roles(cls, models: dict[str, str]) -> dict[str, str]:
        unknown = set(models) - set(SIM_ROLES)
        if unknown:
            raise ValueError(f"unknown model role(s) {sorted(unknown)}; roles are {list(SIM_ROLES)}")
        if not models.get("counselor"):
            raise ValueError("a counselor model spec is required")
        return models

    @field_validator("base_url", mode="before")
    @classmethod
    def _server_list(cls, urls: Any) -> Any:
        return _servers(urls)

    @field_validator("role_base_urls", mode="before")
    @classmethod
    def _known_url_roles(cls, urls: Any) -> Any:
        if not isinstance(urls, dict):
            return urls
        unknown = set(urls) - set(SIM_ROLES) - {"safety"}
        if unknown:
            raise ValueError(f"role_base_urls: unknown role(s) {sorted(unknown)}; roles are "
                             f"{list(SIM_ROLES) + ['safety']}")
        return {role: _servers(value) for role, value in urls.items() if _servers(value)}

    @field_validator("safety_model")
    @classmethod
    def _safety_spec(cls, spec: str | None) -> str | None:
        if spec is not None and not spec.strip():
            raise ValueError("safety_model: give a model spec, or leave it unset for rules and embeddings only")
        return spec.strip() if spec else spec

    @model_validator(mode="after")
    def _fill_roles(self) -> "RunSpec":
        if self.safety_format != "structured" and self.safety_model is None:
            raise ValueError(f"safety_format {self.safety_format!r} needs a safety_model (the guard to ask)")
        for role in SIM_ROLES:
            self.models.setdefault(role, self.models["counselor"])
            self.settings.setdefault(role, DEFAULT_SETTINGS[role])
        if not self.profiles:
            raise ValueError("a run needs at least one profile")
        ids = [p.id for p in self.profiles]
        if len(set(ids)) != len(ids):
            raise ValueError("profile ids must be unique within a run")
        if self.trial_keys is not None:
            known = set(ids)
            unknown = sorted({pid for pid, _ in self.trial_keys if pid not in known})
            if unknown:
                raise ValueError(f"trial_keys name profile(s) not in the run: {', '.join(unknown[:5])}")
            if any(trial < 0 for _, trial in self.trial_keys):
                raise ValueError("trial_keys: a trial number must be 0 or more")
            if len(set(self.trial_keys)) != len(self.trial_keys):
                raise ValueError("trial_keys: each (profile id, trial) pair may appear once")
            if not self.trial_keys:
                raise ValueError("trial_keys: give at least one (profile id, trial) pair, or leave it unset")
        return self

    def episodes(self) -> list[EpisodeKey]:
        """Every episode of the run, in a stable order (profile order, then trial; or ``trial_keys`` order)."""
        if self.trial_keys is not None:
            return [EpisodeKey(pid, t, episode_seed(self.run_id, self.seed, pid, t)) for pid, t in self.trial_keys]
        return [EpisodeKey(p.id, t, episode_seed(self.run_id, self.seed, p.id, t))
                for p in self.profiles for t in range(self.trials)]

    def profile(self, profile_id: str) -> SeekerProfile:
        return next(p for p in self.profiles if p.id == profile_id)

    def result_config(self) -> dict[str, Any]:
        """The part of the spec that decides results (what the hash covers)."""
        config = self.model_dump(mode="json", exclude=set(self._EXECUTION_ONLY), exclude_none=False)
        config["base_url"] = _redacted(config.get("base_url"))  # credentials are neither stored nor hashed
        if config.get("role_base_urls"):
            config["role_base_urls"] = {role: _redacted(urls) for role, urls in config["role_base_urls"].items()}
        else:
            config.pop("role_base_urls", None)  # runs without per-role servers keep the hash they had before
        if config.get("safety_model") is None:  # runs without a safety model keep the hash they had before
            config.pop("safety_model", None)
            config.pop("safety_format", None)
        if config.get("trial_keys") is None:
            config.pop("trial_keys", None)  # runs of every profile × trial keep the hash they had before the field
        return config

    def base_url_for(self, role: str) -> str | list[str] | None:
        """The server(s) a role's model calls: its own ``role_base_urls`` entry, else ``base_url``."""
        return self.role_base_urls.get(role) or self.base_url

    def config_hash(self) -> str:
        canonical = json.dumps(self.result_config(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _servers(urls: Any) -> Any:
    """One URL as a string (the hash runs had before lists), several as a list; "a,b" is a list of two."""
    if isinstance(urls, str):
        urls = [u.strip() for u in urls.split(",")]
    if isinstance(urls, (list, tuple)):
        urls = [u.strip() if isinstance(u, str) else u for u in urls if u != ""]
        if any(not isinstance(u, str) for u in urls):
            return urls  # pydantic names the bad item
        if len(set(urls)) != len(urls):
            raise ValueError("a server URL is given twice")
        return None if not urls else urls[0] if len(urls) == 1 else list(urls)
    return urls


def _redacted(urls: str | list[str] | None) -> str | list[str] | None:
    if isinstance(urls, list):
        return [redact_url(u) for u in urls]
    return redact_url(urls)
