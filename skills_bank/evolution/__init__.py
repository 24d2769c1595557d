"""Self-evolution of the skills bank (ESC-Skills, ARCHITECTURE.md §6).

- ``traces``: select failed / low-gain episodes, the turns where emotion fell, grouped by skill and seeker traits;
- ``edits``: typed, evidence-citing edits (add, amend, flag unsafe, retire), validated before testing;
- ``screen``: the quality-bar screen over every field (blaming, minimising, diagnosing, unsafe advice, safety-gate
  conflicts, instructions to the model, links, contacts not in the crisis resources, doses, copied seeker text);
- ``verify``: accept a candidate bank only if, against a control arm on the same episode keys, a paired test shows
  it helps and nothing regresses;
- ``state``: the typed records of ``evolution.json`` (rounds, proposals, verdicts, confirmation, holdout);
- ``loop``: the resumable rounds, committing accepted edits as new bank versions with provenance;
- ``replay``: replay one round from its recorded settings and compare;
- ``report``: the HTML evolution report.
"""

from escgraph.skills_bank.evolution.edits import (
    AMENDABLE_FIELDS,
    EvidenceRef,
    FieldChange,
    SkillEdit,
    apply_edit,
    validate_edit,
)
from escgraph.skills_bank.evolution.loop import (
    STATE_FILE,
    Analyst,
    EvolutionError,
    EvolutionSettings,
    SimulationResult,
    Simulator,
    evolve,
    load_state,
    run_evolution,
)
from escgraph.skills_bank.evolution.replay import compare_rounds, recorded_profiles, replay_round
from escgraph.skills_bank.evolution.state import (
    BaseRun,
    ConfirmationRecord,
    EvolutionState,
    HoldoutResult,
    JudgeHealth,
    Proposal,
    RoundState,
    VerificationRecord,
    read_state,
)
from escgraph.skills_bank.evolution.screen import ScreenHit, screen_text
from escgraph.skills_bank.evolution.traces import Finding, TraceAnalysis, analyse_traces
from escgraph.skills_bank.evolution.verify import Verification, VerifyPolicy, verify_candidate

__all__ = [
    "AMENDABLE_FIELDS",
    "Analyst",
    "BaseRun",
    "ConfirmationRecord",
    "EvidenceRef",
    "EvolutionError",
    "EvolutionSettings",
    "EvolutionState",
    "FieldChange",
    "Finding",
    "HoldoutResult",
    "JudgeHealth",
    "Proposal",
    "RoundState",
    "STATE_FILE",
    "ScreenHit",
    "SimulationResult",
    "Simulator",
    "SkillEdit",
    "TraceAnalysis",
    "Verification",
    "VerificationRecord",
    "VerifyPolicy",
    "analyse_traces",
    "compare_rounds",
    "recorded_profiles",
    "replay_round",
    "apply_edit",
    "evolve",
    "load_state",
    "read_state",
    "run_evolution",
    "screen_text",
    "validate_edit",
    "verify_candidate",
]
