"""The evolution's state, as typed records: what ``evolution.json`` holds and the loop, report and replay read.

One :class:`EvolutionState` per evolution folder; one :class:`RoundState` per round, holding its base run, trace
analysis, :class:`Proposal` list (each with its :class:`VerificationRecord`), the round's
:class:`ConfirmationRecord` and its commit; and a :class:`HoldoutResult` once the held-out comparison ran.

The file's exact shape is part of the format (old folders resume, ``evolve-replay`` reads them), so the records dump
back byte for byte what they were loaded from: fields are declared in the order a run first writes the keys, a
key a step has not written yet (a proposal's ``plan``, a round's ``judge_health``, the state's ``updated``,
``stopped_before``, ``finished``) stays absent until it is set, a file's own key order is kept (a resumed run may
have added ``stopped_before`` after ``finished``), and keys this code does not know are kept in place. Free-form parts (simulation summaries, the trace analysis, the
edit, verification metrics, the hashed config) stay plain JSON values.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, model_serializer, model_validator

from escgraph.skills_bank.evolution.edits import SkillEdit
from escgraph.skills_bank.evolution.verify import KeyPlan

__all__ = ["EvolutionError", "EvolutionState", "RoundState", "BaseRun", "JudgeHealth", "Proposal",
           "VerificationRecord", "ConfirmationRecord", "HoldoutResult", "read_state", "STATE_FILE", "FORMAT"]

STATE_FILE = "evolution.json"
FORMAT = "escgraph-evolution"


class EvolutionError(ValueError):
    """The evolution cannot start or resume (bad settings, a folder holding another evolution, ...)."""


class _Record(BaseModel):
    """A part of the state. A key is written when it was read or set (a field's default alone never adds one:
    files from before a key existed dump back unchanged); keys this code does not know are kept; keys read from a
    file keep that file's order, and keys set since follow them in the order the fields are declared."""

    model_config = ConfigDict(extra="allow")
    _read_order: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _remember_order(cls, data: Any, handler: Any) -> Any:
        record = handler(data)
        if isinstance(data, dict):
            record._read_order = tuple(data)
        return record

    @model_serializer(mode="wrap")
    def _written_keys(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        for name, info in type(self).model_fields.items():
            if name not in self.model_fields_set and not info.is_required():
                data.pop(name, None)
        if self._read_order:
            read = [k for k in self._read_order if k in data]
            data = {**{k: data[k] for k in read}, **{k: v for k, v in data.items() if k not in self._read_order}}
        return data


class BaseRun(_Record):
    """The round's base simulation: every evolution profile against the round's starting bank."""

    folder: str
    summary: dict[str, Any]


class JudgeHealth(_Record):
    """Whether the base run's judge looked healthy, and whether edits were verified anyway (``--force-judge``)."""

    healthy: bool | None
    warnings: list[str]
    forced: bool = False


class VerificationRecord(_Record):
    """A proposal's verdict against the control arm (``verify_candidate``), and where both arms ran."""

    accepted: bool
    reasons: list[str] = []
    metrics: dict[str, Any] = {}
    folder: str | None = None
    control: str | None = None


class ConfirmationRecord(_Record):
    """The accepted set verified together on fresh seeds before the round's commit."""

    accepted: bool
    reasons: list[str]
    metrics: dict[str, Any]
    edits: list[str] = []
    plan: dict[str, Any] | None = None
    folder: str | None = None


class Proposal(_Record):
    """One analyst edit and its fate: validation, verification, combination, confirmation."""


    edit: dict[str, Any]  # SkillEdit as JSON; see skill_edit()
    status: str  # pending, tested (its arm ran), accepted, rejected, superseded
    stage: str | None = None  # where a rejected or superseded edit stopped
    reasons: list[str] = []
    verification: VerificationRecord | None = None
    plan: dict[str, Any] | None = None  # KeyPlan as JSON, once planned; see key_plan()

    @property
    def id(self) -> str:
        return self.edit["id"]

    @property
    def skill_id(self) -> str:
        return self.edit["skill_id"]

    def skill_edit(self) -> SkillEdit:
        return SkillEdit.model_validate(self.edit)

    def key_plan(self) -> KeyPlan:
        if self.plan is None:
            raise ValueError(f"proposal {self.id} has no verification plan")
        return KeyPlan.from_dict(self.plan)

    def settle(self, status: str, stage: str | None, reasons: list[str]) -> None:
        self.status, self.stage, self.reasons = status, stage, reasons


class RoundState(_Record):

    round: int
    start_version: str
    base: BaseRun | None = None
    analysis: dict[str, Any] | None = None  # TraceAnalysis.to_dict()
    proposals: list[Proposal] | None = None
    confirmation: ConfirmationRecord | None = None
    committed: str | None = None  # the bank version the round committed
    done: bool = False
    judge_health: JudgeHealth | None = None

    def findings(self) -> list[dict[str, Any]]:
        return list((self.analysis or {}).get("findings") or [])


class HoldoutResult(_Record):
    """The starting and final bank versions compared on the held-out profiles."""

    start_version: str
    final_version: str
    start: dict[str, Any]  # simulation summaries
    final: dict[str, Any]
    profiles: list[str]
    paired: dict[str, Any] | None = None  # final − start per shared episode key (holdout_paired)


class EvolutionState(_Record):
    """Everything ``evolution.json`` records: the evolution's settings (hashed), its rounds, tokens and holdout."""


    format: Literal["escgraph-evolution"] = FORMAT
    format_version: int = 2
    created: str
    bank_path: str
    start_version: str
    config: dict[str, Any]
    config_hash: str
    status: str = "running"  # running, done, converged, budget
    rounds: list[RoundState] = []
    tokens: dict[str, int] = {}  # step -> tokens spent
    holdout: HoldoutResult | None = None
    updated: str | None = None
    stopped_before: str | None = None  # the step the token budget stopped
    finished: str | None = None

    def final_version(self) -> str:
        """The last committed bank version (the starting one when no round committed)."""
        return next((r.committed for r in reversed(self.rounds) if r.committed), self.start_version)

    def skill_diff_versions(self) -> tuple[str, str]:
        """The bank versions the evolution's skill diff runs between."""
        return self.start_version, self.final_version()

    def to_json(self) -> str:
        """``evolution.json``'s text (the format every escgraph version has written)."""
        return json.dumps(self.model_dump(), indent=1, ensure_ascii=False) + "\n"

    def __getitem__(self, key: str) -> Any:
        """``state["rounds"]``: the JSON data's entry, as when ``escgraph.simulations.run_evolution`` returned a dict
        (deprecated: read the attribute, or ``model_dump()`` for the whole dict)."""
        warnings.warn("EvolutionState[key] is deprecated: read the attribute (state.rounds) or use "
                      "state.model_dump()[key]", DeprecationWarning, stacklevel=2)
        return self.model_dump()[key]

    @classmethod
    def coerce(cls, state: "EvolutionState | dict[str, Any]") -> "EvolutionState":
        return state if isinstance(state, EvolutionState) else cls.model_validate(state)


def read_state(out_dir: str | Path) -> EvolutionState:
    """The evolution recorded in ``out_dir`` (:class:`EvolutionError` when there is none or it is unreadable)."""
    path = Path(out_dir) / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvolutionError(f"{out_dir} holds no evolution ({STATE_FILE} is missing)") from None
    except (OSError, ValueError) as exc:
        raise EvolutionError(f"{path} is unreadable: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise EvolutionError(f"{path} is not an escgraph evolution file")
    try:
        return EvolutionState.model_validate(data)
    except ValidationError as exc:
        raise EvolutionError(f"{path} is unreadable: {exc}") from None
