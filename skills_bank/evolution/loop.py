"""The self-evolution loop (ESC-Skills; DESIGN.md §6): simulate → analyse → propose → verify → commit, in rounds.

The loop lives with the skills bank and reaches the simulation runner and the analyst model only through the two
small protocols below, so there is no import cycle; ``escgraph evolve`` wires in the real ones.

Everything the loop decides is written to ``evolution.json`` in the output folder (atomically, after every step)
and every simulation is its own resumable run folder, so a killed evolution resumes where it stopped without
redoing finished simulations. A round's commit carries a marker, so a kill between committing and recording the
commit never commits twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from escgraph.profiles import SeekerProfile
from escgraph.skills_bank import bank_fingerprint
from escgraph.skills_bank._bankfiles import atomic_write
from escgraph.skills_bank.evolution.edits import SkillEdit, apply_edit, apply_edits, edits_to_changes, validate_edit
from escgraph.skills_bank.evolution.traces import Finding, TraceAnalysis, analyse_traces
from escgraph.skills_bank.evolution.verify import VerifyPolicy, pick_regression_sample, verify_candidate
from escgraph.skills_bank.schema import Skill
from escgraph.skills_bank.store import SkillBank

__all__ = ["SimulationResult", "Simulator", "Analyst", "EvolutionSettings", "EvolutionError", "run_evolution",
           "load_state", "STATE_FILE", "PROFILES_FILE"]

STATE_FILE = "evolution.json"
PROFILES_FILE = "profiles.json"  # the seekers themselves (the state only holds digests), for replays
FORMAT = "escgraph-evolution"


class EvolutionError(ValueError):
    """The evolution cannot start or resume (bad settings, a folder holding another evolution, ...)."""


@dataclass
class SimulationResult:
    episodes: dict[str, Any]  # episode id -> finished episode (EpisodeResult-shaped)
    summary: dict[str, Any]  # at least sage_score, success, failure, episodes
    tokens: int


class Simulator(Protocol):
    def config(self) -> dict[str, Any]:
        """What decides the simulations' results (graph, models, settings, seeds, ...): hashed with the evolution."""

    def simulate(self, out_dir: Path, profiles: Sequence[SeekerProfile], bank_path: Path,
                 bank_version: str) -> SimulationResult:
        """Run (or resume, or just read back) ``profiles`` against the bank version into ``out_dir``. Episode ids
        must depend only on the profile, the trial and the simulator's fixed seeds, never on the bank."""


class Analyst(Protocol):
    def config(self) -> dict[str, Any]: ...

    def propose(self, finding: Finding, skills: Mapping[str, Skill]) -> tuple[list[SkillEdit], int]:
        """Edits answering ``finding`` (citing its turns) and the tokens spent."""


class EvolutionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rounds: int = Field(default=1, ge=1, le=100, description="rounds to run at most; not hashed")
    low_gain: float = Field(default=0.0, description="an episode gaining at most this much counts as low-gain")
    units_per_episode: int = Field(default=3, ge=1)
    min_units: int = Field(default=2, ge=1, description="falls a finding needs")
    group_gap: float = Field(default=3.0, ge=0)
    max_findings: int = Field(default=3, ge=1, description="findings the analyst is asked about per round")
    policy: VerifyPolicy = Field(default_factory=VerifyPolicy)
    budget_tokens: int | None = Field(default=None, ge=1, description="stop starting new steps past this; not hashed")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def load_state(out_dir: str | Path) -> dict[str, Any]:
    path = Path(out_dir) / STATE_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvolutionError(f"{out_dir} holds no evolution ({STATE_FILE} is missing)") from None
    except (OSError, ValueError) as exc:
        raise EvolutionError(f"{path} is unreadable: {exc}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise EvolutionError(f"{path} is not an escgraph evolution file")
    return state


def _profiles_digest(profiles: Sequence[SeekerProfile]) -> list[str]:
    return [f"{p.id}:{hashlib.sha256(p.model_dump_json().encode()).hexdigest()[:10]}" for p in profiles]


class _Budget(Exception):
    pass


class _Evolution:
    def __init__(self, bank: SkillBank, profiles: Sequence[SeekerProfile], holdout: Sequence[SeekerProfile],
                 simulator: Simulator, analyst: Analyst, settings: EvolutionSettings, out_dir: Path,
                 reply_flagged: Callable[[str], bool] | None, log: Callable[[str], None]) -> None:
        self.bank, self.profiles, self.holdout = bank, list(profiles), list(holdout)
        self.by_id = {p.id: p for p in [*self.profiles, *self.holdout]}
        self.simulator, self.analyst, self.settings = simulator, analyst, settings
        self.out, self.reply_flagged, self.log = out_dir, reply_flagged, log
        self.state: dict[str, Any] = {}

    # -- state ------------------------------------------------------------------------------------------------
    def config(self, start_version: str) -> dict[str, Any]:
        # how far to go (rounds, budget) is not hashed: a finished evolution may be resumed with more rounds
        return {"settings": self.settings.model_dump(mode="json", exclude={"budget_tokens", "rounds"}),
                "simulator": self.simulator.config(), "analyst": self.analyst.config(),
                "profiles": _profiles_digest(self.profiles), "holdout": _profiles_digest(self.holdout),
                "start_version": start_version}

    def save(self) -> None:
        self.state["updated"] = _now()
        atomic_write(self.out / STATE_FILE, json.dumps(self.state, indent=1, ensure_ascii=False) + "\n")

    def tokens(self) -> int:
        return sum(int(v) for v in self.state["tokens"].values())

    def spend(self, step: str, tokens: int) -> None:
        self.state["tokens"][step] = int(tokens)

    def check_budget(self, step: str) -> None:
        budget = self.settings.budget_tokens
        if budget is not None and self.tokens() >= budget:
            self.log(f"token budget reached ({self.tokens()} >= {budget}); not starting {step}")
            raise _Budget(step)

    def pinned(self, vid: str) -> str:
        return f"{vid}@{bank_fingerprint(self.bank.skills(vid))}"

    def start(self, resume: bool) -> None:
        path = self.out / STATE_FILE
        if path.exists():
            if not resume:
                raise EvolutionError(f"{self.out} already holds an evolution; pass --resume to continue it or "
                                     f"choose another --out")
            self.state = load_state(self.out)
            config = self.config(self.state["start_version"])
            if config != self.state["config"]:
                changed = sorted(k for k in config if config[k] != self.state["config"].get(k))
                raise EvolutionError(f"{self.out} was started with different settings ({', '.join(changed)}); "
                                     f"resume with the same options or choose another --out")
            if Path(self.state["bank_path"]).resolve() != self.bank.path.resolve():
                raise EvolutionError(f"{self.out} evolves the bank at {self.state['bank_path']}, not {self.bank.path}")
            self.log(f"resuming evolution in {self.out}")
            return
        self.out.mkdir(parents=True, exist_ok=True)
        start = self.bank.head
        config = self.config(start)
        self.state = {"format": FORMAT, "format_version": 1, "created": _now(), "bank_path": str(self.bank.path),
                      "start_version": start, "config": config,
                      "config_hash": hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16],
                      "status": "running", "rounds": [], "tokens": {}, "holdout": None}
        atomic_write(self.out / PROFILES_FILE, json.dumps(
            {"profiles": [p.model_dump(mode="json") for p in self.profiles],
             "holdout": [p.model_dump(mode="json") for p in self.holdout]}, indent=1, ensure_ascii=False) + "\n")
        self.save()

    # -- steps ------------------------------------------------------------------------------------------------
    def simulate(self, key: str, folder: str, profile_ids: Sequence[str], vid: str, *,
                 budgeted: bool = True) -> SimulationResult:
        if budgeted and key not in self.state["tokens"]:
            self.check_budget(folder)
        self.log(f"simulate {folder}: {len(profile_ids)} profile(s), bank {vid}")
        result = self.simulator.simulate(self.out / folder, [self.by_id[p] for p in profile_ids],
                                         self.bank.path, self.pinned(vid))
        self.spend(key, result.tokens)
        return result

    def run_round(self, number: int) -> bool:
        """One round; returns whether the bank changed (else the next round would replay the same thing)."""
        rounds = self.state["rounds"]
        if len(rounds) < number:
            rounds.append({"round": number, "start_version": self.bank.head, "base": None, "analysis": None,
                           "proposals": None, "combined": None, "committed": None, "done": False})
            self.save()
        rs = rounds[number - 1]
        if rs["done"]:
            return rs["committed"] is not None
        tag = f"round-{number}"
        base = self.simulate(f"{tag}/base", f"{tag}/base", [p.id for p in self.profiles], rs["start_version"])
        if rs["base"] is None:
            rs["base"] = {"folder": f"{tag}/base", "summary": base.summary}
            self.save()
        base_skills = self.bank.skills(rs["start_version"])
        if rs["analysis"] is None:
            s = self.settings
            analysis = analyse_traces(base.episodes.values(), low_gain=s.low_gain,
                                      units_per_episode=s.units_per_episode, min_units=s.min_units,
                                      group_gap=s.group_gap, max_findings=s.max_findings)
            rs["analysis"] = analysis.to_dict()
            self.log(f"{tag}: {len(analysis.selected)} failed/low-gain episode(s), "
                     f"{len(analysis.findings)} finding(s)")
            self.save()
        analysis = TraceAnalysis.from_dict(rs["analysis"])
        if rs["proposals"] is None:
            rs["proposals"] = self.propose(tag, analysis, base_skills)
            self.save()
        for proposal in rs["proposals"]:
            if proposal["status"] == "pending":
                self.verify(tag, proposal, base, base_skills)
                self.save()
        accepted = self.settle(tag, rs, base, base_skills)
        if accepted and rs["committed"] is None:
            rs["committed"] = self.commit(number, rs, accepted, base_skills)
            self.save()
        rs["done"] = True
        self.save()
        from escgraph.skills_bank.evolution.report import write_evolution_report

        write_evolution_report(self.state, self.out, self.bank)  # readable while later rounds run
        return rs["committed"] is not None

    def propose(self, tag: str, analysis: TraceAnalysis, skills: Mapping[str, Skill]) -> list[dict[str, Any]]:
        refs = analysis.refs()
        proposals, n = [], 0
        for finding in analysis.findings:
            self.check_budget(f"{tag} analyst")
            edits, tokens = self.analyst.propose(finding, skills)
            self.spend(f"{tag}/analyst/{finding.id}", tokens)
            for edit in edits:
                n += 1
                edit = edit.model_copy(update={"id": f"{tag.replace('round-', 'r')}-p{n}", "finding": finding.id})
                problems = validate_edit(edit, skills, refs)
                status = "rejected" if problems else "pending"
                self.log(f"{tag}: proposal {edit.id} {edit.summary()}: "
                         + ("rejected before testing: " + "; ".join(problems) if problems else "to verify"))
                proposals.append({"edit": edit.model_dump(mode="json"), "status": status,
                                  "stage": "validation" if problems else None, "reasons": problems,
                                  "verification": None})
        return proposals

    def branch(self, tag: str, name: str, content: Mapping[str, Skill], message: str) -> SkillBank:
        """A throw-away bank holding ``content`` (re-used on resume when it already holds exactly that)."""
        folder = self.out / tag / "branches" / name
        if (folder / "bank.yaml").exists():
            branch = SkillBank.open(folder)
            if branch.skills() == dict(content):
                return branch
            raise EvolutionError(f"branch {folder} holds other content than {name}; remove it and resume")
        return SkillBank.create(folder, content, author="escgraph evolve", message=message, kind="evolution")

    def candidate_run(self, tag: str, name: str, content: Mapping[str, Skill], targets: list[str],
                      regression: list[str], base: SimulationResult, message: str) -> dict[str, Any]:
        branch = self.branch(tag, name, content, message)
        wanted = targets + regression
        profile_ids = sorted({base.episodes[e].profile_id for e in wanted})
        folder = f"{tag}/verify/{name}"
        if folder not in self.state["tokens"]:
            self.check_budget(folder)
        self.log(f"verify {name}: {len(targets)} target + {len(regression)} regression episode(s)")
        result = self.simulator.simulate(self.out / folder, [self.by_id[p] for p in profile_ids], branch.path,
                                         f"{branch.head}@{bank_fingerprint(branch.skills())}")
        self.spend(folder, result.tokens)
        verdict = verify_candidate(base.episodes, result.episodes, targets, regression, self.settings.policy,
                                   self.reply_flagged)
        return {**verdict.to_dict(), "folder": folder}

    def verify(self, tag: str, proposal: dict[str, Any], base: SimulationResult,
               skills: Mapping[str, Skill]) -> None:
        edit = SkillEdit.model_validate(proposal["edit"])
        content, _ = apply_edit(skills, edit)
        targets = sorted({r.episode_id for r in edit.evidence})
        regression = pick_regression_sample(base.episodes.values(), set(targets),
                                            self.settings.policy.regression_size)
        verdict = self.candidate_run(tag, edit.id, content, targets, regression, base, edit.summary())
        proposal["verification"] = verdict
        proposal["status"] = "accepted" if verdict["accepted"] else "rejected"
        proposal["stage"] = None if verdict["accepted"] else "verification"
        proposal["reasons"] = verdict["reasons"]
        self.log(f"{tag}: {edit.id} {'accepted' if verdict['accepted'] else 'rejected'}: "
                 + "; ".join(verdict["reasons"]))

    def settle(self, tag: str, rs: dict[str, Any], base: SimulationResult,
               skills: Mapping[str, Skill]) -> list[dict[str, Any]]:
        """The accepted proposals that go into the round's commit: one per skill (the best), and only a set
        that also passes verification together."""
        def gain(p: dict[str, Any]) -> float:
            return p["verification"]["metrics"].get("target_delta", 0.0)

        accepted = sorted((p for p in rs["proposals"] if p["status"] == "accepted"), key=lambda p: -gain(p))
        kept, seen = [], set()
        for p in accepted:
            sid = p["edit"]["skill_id"]
            if sid in seen:
                p.update(status="superseded", stage="combination",
                         reasons=[f"another accepted edit of {sid} improved its target group more"])
                continue
            seen.add(sid)
            kept.append(p)
        if len(kept) > 1:
            if rs["combined"] is None:
                edits = [SkillEdit.model_validate(p["edit"]) for p in kept]
                content, _ = apply_edits(skills, edits)
                targets = sorted({r.episode_id for e in edits for r in e.evidence})
                regression = pick_regression_sample(base.episodes.values(), set(targets),
                                                    self.settings.policy.regression_size)
                rs["combined"] = self.candidate_run(tag, "combined", content, targets, regression, base,
                                                    "; ".join(e.summary() for e in edits))
                self.save()
            if not rs["combined"]["accepted"]:
                best, rest = kept[0], kept[1:]
                for p in rest:
                    p.update(status="superseded", stage="combination",
                             reasons=[f"the accepted edits together failed verification "
                                      f"({'; '.join(rs['combined']['reasons'])}); only {best['edit']['id']} kept"])
                kept = [best]
        return kept

    def commit(self, number: int, rs: dict[str, Any], accepted: list[dict[str, Any]],
               base_skills: Mapping[str, Skill]) -> str:
        marker = f"{self.state['config_hash']}:{self.state['created']}:round-{number}"
        for version in self.bank.versions():  # a kill after the commit but before it was recorded
            if version.number <= int(rs["start_version"][1:]):
                break
            if (version.meta.get("evolution") or {}).get("marker") == marker:
                return version.id
        edits = [SkillEdit.model_validate(p["edit"]) for p in accepted]
        content, field_changes = apply_edits(base_skills, edits)
        meta_edits = []
        for p, edit in zip(accepted, edits):
            meta_edits.append({
                "id": edit.id, "kind": edit.kind, "skill_id": edit.skill_id, "finding": edit.finding,
                "rationale": edit.rationale, "evidence": [r.model_dump() for r in edit.evidence],
                "fields": [c.model_dump(mode="json") for c in field_changes if c.skill_id == edit.skill_id],
                "verification": p["verification"]["metrics"]})
        combined = rs.get("combined")
        meta = {"evolution": {"marker": marker, "round": number, "folder": str(self.out),
                              "metrics_before": rs["base"]["summary"], "edits": meta_edits,
                              "combined_verification": combined["metrics"] if combined else None}}
        message = f"evolution round {number}: " + "; ".join(e.summary() for e in edits)
        version = self.bank.commit(edits_to_changes(base_skills, content), author="escgraph evolve",
                                   message=message, kind="evolution", meta=meta)
        self.log(f"round {number}: committed {version.id} ({message})")
        return version.id

    def run_holdout(self) -> None:
        if not self.holdout:
            return
        start = self.state["start_version"]
        final = next((r["committed"] for r in reversed(self.state["rounds"]) if r.get("committed")), start)
        ids = [p.id for p in self.holdout]
        before = self.simulate("holdout/start", "holdout/start", ids, start, budgeted=False)
        after = before if final == start else self.simulate("holdout/final", "holdout/final", ids, final,
                                                            budgeted=False)
        self.state["holdout"] = {"start_version": start, "final_version": final, "start": before.summary,
                                 "final": after.summary, "profiles": ids}
        self.save()


def run_evolution(bank: SkillBank, profiles: Sequence[SeekerProfile], simulator: Simulator, analyst: Analyst, *,
                  out_dir: str | Path, settings: EvolutionSettings | None = None,
                  holdout: Sequence[SeekerProfile] = (), resume: bool = False,
                  reply_flagged: Callable[[str], bool] | None = None,
                  log: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """Evolve ``bank`` for ``settings.rounds`` rounds; returns the evolution state (also in ``evolution.json``).

    ``holdout`` profiles are never used during the rounds; at the end the starting and final bank versions are
    compared on them. The token budget stops new rounds and proposals, never the held-out comparison.
    """
    settings = settings or EvolutionSettings()
    if not profiles:
        raise EvolutionError("evolution needs at least one profile")
    if overlap := sorted({p.id for p in profiles} & {p.id for p in holdout}):
        raise EvolutionError(f"held-out profiles must not be used during evolution: {', '.join(overlap[:5])}")
    evo = _Evolution(bank, profiles, holdout, simulator, analyst, settings, Path(out_dir), reply_flagged, log)
    evo.start(resume)
    evo.state["status"] = "running"
    try:
        for number in range(1, settings.rounds + 1):
            changed = evo.run_round(number)
            if not changed:
                evo.state["status"] = "converged"
                evo.log(f"round {number} changed nothing; later rounds would replay it: stopping")
                break
        else:
            evo.state["status"] = "done"
    except _Budget as stop:
        evo.state["status"] = "budget"
        evo.state["stopped_before"] = str(stop)
    evo.save()
    evo.run_holdout()
    evo.state["finished"] = _now()
    evo.save()
    from escgraph.skills_bank.evolution.report import write_evolution_report

    write_evolution_report(evo.state, evo.out, bank)
    return evo.state


def edits_of(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every proposal of every round, in order (for reports)."""
    return [p for r in state.get("rounds", []) for p in (r.get("proposals") or [])]


def skill_diff_versions(state: Mapping[str, Any]) -> tuple[str, str]:
    final = next((r["committed"] for r in reversed(state.get("rounds", [])) if r.get("committed")),
                 state["start_version"])
    return state["start_version"], final


__all__ += ["edits_of", "skill_diff_versions"]
