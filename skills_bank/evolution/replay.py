"""Replaying one evolution round: same starting skills, profiles, settings, seeds and models, in a fresh folder.

The round's starting bank version is copied into a scratch bank (the evolving bank is never touched), and a
one-round evolution runs there with the settings recorded in ``evolution.json``. Simulations depend only on the
profile, the trial, the fixed seeds and the skills' content, so with deterministic models (fakes, greedy local
decoding, a seeded server) the replay reproduces the round: the same base scores, findings, verdicts and committed
content. :func:`compare_rounds` says what, if anything, came out differently.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from escgraph.profiles import SeekerProfile
from escgraph.skills_bank import bank_fingerprint
from escgraph.files import atomic_write
from escgraph.skills_bank.evolution.loop import (
    PROFILES_FILE,
    Analyst,
    EvolutionError,
    EvolutionSettings,
    Simulator,
    _profiles_digest,
    run_evolution,
)
from escgraph.skills_bank.evolution.state import EvolutionState, read_state
from escgraph.skills_bank.store import SkillBank

__all__ = ["replay_round", "compare_rounds", "recorded_profiles", "REPLAY_FILE"]

REPLAY_FILE = "replay.json"


def recorded_profiles(out_dir: str | Path) -> list[SeekerProfile]:
    """The evolution profiles saved with an evolution (checked against the digests in its state)."""
    state = read_state(out_dir)
    path = Path(out_dir) / PROFILES_FILE
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        profiles = [SeekerProfile.model_validate(p) for p in saved["profiles"]]
    except FileNotFoundError:
        raise EvolutionError(f"{out_dir} has no {PROFILES_FILE} (evolutions started by older escgraph versions lack "
                             f"it); replay from Python with replay_round(..., profiles=the evolution's profiles)") \
            from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EvolutionError(f"{path} is unreadable: {exc}") from None
    if _profiles_digest(profiles) != state.config["profiles"]:
        raise EvolutionError(f"{path} does not match the profiles recorded in the evolution (edited?)")
    return profiles


def _round_outcome(state: EvolutionState, number: int, bank: SkillBank) -> dict[str, Any]:
    rs = state.rounds[number - 1]
    base = rs.base.summary if rs.base else {}
    return {
        "start_content": bank_fingerprint(bank.skills(rs.start_version)),
        "base": {k: base.get(k) for k in ("sage_score", "success", "failure", "finished")},
        "findings": [(f.get("skill_id"), f.get("trait"), f.get("value"), sorted(f.get("episodes") or []))
                     for f in rs.findings()],
        "proposals": [(p.edit.get("kind"), p.edit.get("skill_id"), p.status,
                       p.verification.metrics if p.verification else None) for p in rs.proposals or []],
        "committed_content": bank_fingerprint(bank.skills(rs.committed)) if rs.committed else None,
    }


def compare_rounds(original: Mapping[str, Any], replayed: Mapping[str, Any]) -> list[str]:
    """What differs between two round outcomes (empty: the replay reproduced the round)."""
    labels = {"start_content": "starting skills", "base": "base simulation", "findings": "findings",
              "proposals": "proposals and verdicts", "committed_content": "committed skills"}
    return [f"{labels[k]}: recorded {json.dumps(original[k], default=str)}, replayed "
            f"{json.dumps(replayed[k], default=str)}" for k in labels if original[k] != replayed[k]]


def replay_round(out_dir: str | Path, number: int, simulator: Simulator, analyst: Analyst, *,
                 replay_dir: str | Path, profiles: Sequence[SeekerProfile] | None = None,
                 reply_flagged: Callable[[str], bool] | None = None,
                 log: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """Replay round ``number`` of the evolution in ``out_dir`` into ``replay_dir``; returns (and writes to
    ``replay_dir/replay.json``) the recorded and replayed outcomes and their differences.

    ``simulator`` and ``analyst`` must have the configuration recorded in the evolution (models, seeds, graph,
    settings); ``profiles`` default to the ones saved with it.
    """
    state = read_state(out_dir)
    rounds = state.rounds
    if not 1 <= number <= len(rounds):
        raise EvolutionError(f"{out_dir} has {len(rounds)} round(s); there is no round {number} to replay")
    if not rounds[number - 1].done:
        raise EvolutionError(f"round {number} of {out_dir} has not finished; resume the evolution first")
    config = state.config
    for name, current in (("simulator", simulator.config()), ("analyst", analyst.config())):
        if current != config[name]:
            changed = sorted(k for k in set(current) | set(config[name]) if current.get(k) != config[name].get(k))
            raise EvolutionError(f"the {name} differs from the one the evolution used ({', '.join(changed)}); "
                                 f"a replay needs the same settings")
    profiles = list(profiles) if profiles is not None else recorded_profiles(out_dir)
    if _profiles_digest(profiles) != config["profiles"]:
        raise EvolutionError("these profiles are not the ones the evolution used")
    replay_dir = Path(replay_dir)
    if (replay_dir / REPLAY_FILE).exists():
        raise EvolutionError(f"{replay_dir} already holds a replay; choose another folder")
    original_bank = SkillBank.open(state.bank_path)
    start = rounds[number - 1].start_version
    scratch_path = replay_dir / "bank"
    if (scratch_path / "bank.yaml").exists():  # an interrupted replay: continue on the same scratch bank
        scratch = SkillBank.open(scratch_path)
    else:
        scratch = SkillBank.create(scratch_path, original_bank.skills(start), author="escgraph evolve-replay",
                                   message=f"round {number} of {out_dir} starts from {start}")
    settings = EvolutionSettings.model_validate({**config["settings"], "rounds": 1})
    log(f"replaying round {number} (from {start}) in {replay_dir}")
    replayed_state = run_evolution(scratch, profiles, simulator, analyst, out_dir=replay_dir / "evolution",
                                   settings=settings, resume=(replay_dir / "evolution").exists(),
                                   reply_flagged=reply_flagged, log=log)
    recorded = _round_outcome(state, number, original_bank)
    replayed = _round_outcome(EvolutionState.coerce(replayed_state), 1, scratch)
    differences = compare_rounds(recorded, replayed)
    result = {"evolution": str(out_dir), "round": number, "start_version": start,
              "identical": not differences, "differences": differences,
              "recorded": recorded, "replayed": replayed}
    atomic_write(replay_dir / REPLAY_FILE, json.dumps(result, indent=1, default=str) + "\n")
    return result
