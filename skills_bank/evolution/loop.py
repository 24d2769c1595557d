"""The self-evolution loop (ESC-Skills; ARCHITECTURE.md §6): simulate → analyse → propose → verify → commit, in rounds.

The loop lives with the skills bank and reaches the simulation runner and the analyst model only through the two
small protocols below, so there is no import cycle; ``escgraph evolve`` wires in the real ones.

Everything the loop decides is written to ``evolution.json`` in the output folder (atomically, after every step)
and every simulation is its own resumable run folder, so a killed evolution resumes where it stopped without
redoing finished simulations. A round's commit carries a marker, so a kill between committing and recording the
commit never commits twice.

Why one module: every step of a round is a method of one ``_Evolution`` object that shares its state, token
budget and log, and the protocols it is driven through sit beside it, so the loop's whole contract reads in one
place.
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
from escgraph.files import atomic_write
from escgraph.skills_bank.evolution.edits import (
    SkillEdit,
    apply_edit,
    apply_edits,
    cited_seeker_lines,
    edits_to_changes,
    validate_edit,
)
from escgraph.skills_bank.evolution.state import (
    FORMAT,
    STATE_FILE,
    BaseRun,
    ConfirmationRecord,
    EvolutionError,
    EvolutionState,
    HoldoutResult,
    JudgeHealth,
    Proposal,
    RoundState,
    VerificationRecord,
    read_state,
)
from escgraph.skills_bank.evolution.traces import Finding, TraceAnalysis, analyse_traces
from escgraph.skills_bank.evolution.verify import (
    KeyPlan,
    VerifyPolicy,
    plan_fresh_keys,
    plan_keys,
    stat_seed,
    Verification,
    verify_candidate,
)
from escgraph.stats import holm, paired
from escgraph.skills_bank.schema import Skill
from escgraph.skills_bank.store import SkillBank

__all__ = ["SimulationResult", "Simulator", "Analyst", "EvolutionSettings", "EvolutionError", "evolve", "run_evolution",
           "load_state", "read_state", "EvolutionState", "STATE_FILE", "PROFILES_FILE"]

PROFILES_FILE = "profiles.json"  # the seekers themselves (the state only holds digests), for replays

@dataclass
class SimulationResult:
    episodes: dict[str, Any]  # episode id -> finished episode (EpisodeResult-shaped)
    summary: dict[str, Any]  # at least sage_score, success, failure, episodes
    tokens: int


class Simulator(Protocol):
    def config(self) -> dict[str, Any]:
        """What decides the simulations' results (graph, models, settings, seeds, ...): hashed with the evolution."""

    def simulate(self, out_dir: Path, profiles: Sequence[SeekerProfile], bank_path: Path, bank_version: str, *,
                 keys: Sequence[tuple[str, int]] | None = None) -> SimulationResult:
        """Run (or resume, or just read back) ``profiles`` against the bank version into ``out_dir``: every
        profile × trial, or only the ``(profile id, trial)`` pairs in ``keys`` (trials beyond the simulator's own
        count are fresh seeds). Episode ids must depend only on the profile, the trial and the simulator's fixed
        seeds, never on the bank."""


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
    force_judge: bool = Field(default=False, description="accept edits even when the base run's judge is unhealthy")
    budget_tokens: int | None = Field(default=None, ge=1, description="stop starting new steps past this; not hashed")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def load_state(out_dir: str | Path) -> dict[str, Any]:
    """The evolution recorded in ``out_dir`` as plain JSON data (:func:`read_state` gives the typed records)."""
    return read_state(out_dir).model_dump()


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
        self.state: EvolutionState  # set by start()

    # -- state ------------------------------------------------------------------------------------------------
    def config(self, start_version: str) -> dict[str, Any]:
        # how far to go (rounds, budget) is not hashed: a finished evolution may be resumed with more rounds
        return {"settings": self.settings.model_dump(mode="json", exclude={"budget_tokens", "rounds"}),
                "simulator": self.simulator.config(), "analyst": self.analyst.config(),
                "profiles": _profiles_digest(self.profiles), "holdout": _profiles_digest(self.holdout),
                "start_version": start_version}

    def save(self) -> None:
        self.state.updated = _now()
        atomic_write(self.out / STATE_FILE, self.state.to_json())

    def tokens(self) -> int:
        return sum(int(v) for v in self.state.tokens.values())

    def spend(self, step: str, tokens: int) -> None:
        self.state.tokens[step] = int(tokens)

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
            self.state = read_state(self.out)
            config = self.config(self.state.start_version)
            if config != self.state.config:
                changed = sorted(k for k in config if config[k] != self.state.config.get(k))
                raise EvolutionError(f"{self.out} was started with different settings ({', '.join(changed)}); "
                                     f"resume with the same options or choose another --out")
            if Path(self.state.bank_path).resolve() != self.bank.path.resolve():
                raise EvolutionError(f"{self.out} evolves the bank at {self.state.bank_path}, not {self.bank.path}")
            self.log(f"resuming evolution in {self.out}")
            return
        self.out.mkdir(parents=True, exist_ok=True)
        start = self.bank.head
        config = self.config(start)
        self.state = EvolutionState(
            format=FORMAT, format_version=2, created=_now(), bank_path=str(self.bank.path), start_version=start,
            config=config, config_hash=hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16],
            status="running", rounds=[], tokens={}, holdout=None)
        atomic_write(self.out / PROFILES_FILE, json.dumps(
            {"profiles": [p.model_dump(mode="json") for p in self.profiles],
             "holdout": [p.model_dump(mode="json") for p in self.holdout]}, indent=1, ensure_ascii=False) + "\n")
        self.save()

    # -- steps ------------------------------------------------------------------------------------------------
    def simulate(self, key: str, folder: str, profile_ids: Sequence[str], vid: str, *, budgeted: bool = True,
                 keys: Sequence[tuple[str, int]] | None = None, bank: SkillBank | None = None) -> SimulationResult:
        if budgeted and key not in self.state.tokens:
            self.check_budget(folder)
        bank = bank or self.bank
        what = f"{len(keys)} episode(s)" if keys is not None else f"{len(profile_ids)} profile(s)"
        self.log(f"simulate {folder}: {what}, bank {vid}")
        result = self.simulator.simulate(self.out / folder, [self.by_id[p] for p in profile_ids], bank.path,
                                         f"{vid}@{bank_fingerprint(bank.skills(vid))}",
                                         **({"keys": list(keys)} if keys is not None else {}))
        self.spend(key, result.tokens)
        return result

    def run_round(self, number: int) -> bool:
        """One round; returns whether the bank changed (else the next round would replay the same thing)."""
        rounds = self.state.rounds
        if len(rounds) < number:
            rounds.append(RoundState(round=number, start_version=self.bank.head, base=None, analysis=None,
                                     proposals=None, confirmation=None, committed=None, done=False))
            self.save()
        rs = rounds[number - 1]
        if rs.done:
            return rs.committed is not None
        tag = f"round-{number}"
        base = self.simulate(f"{tag}/base", f"{tag}/base", [p.id for p in self.profiles], rs.start_version)
        if rs.base is None:
            rs.base = BaseRun(folder=f"{tag}/base", summary=base.summary)
            self.save()
        base_skills = self.bank.skills(rs.start_version)
        if rs.analysis is None:
            s = self.settings
            analysis = analyse_traces(base.episodes.values(), low_gain=s.low_gain,
                                      units_per_episode=s.units_per_episode, min_units=s.min_units,
                                      group_gap=s.group_gap, max_findings=s.max_findings)
            rs.analysis = analysis.to_dict()
            self.log(f"{tag}: {len(analysis.selected)} failed/low-gain episode(s), "
                     f"{len(analysis.findings)} finding(s)")
            self.save()
        analysis = TraceAnalysis.from_dict(rs.analysis)
        if rs.proposals is None:
            rs.proposals = self.propose(tag, analysis, base_skills)
            self.save()
        self.check_judge(tag, rs, base)
        pending = [p for p in rs.proposals if p.status in ("pending", "tested")]
        if pending:
            first_fresh = 1 + max(int(e.trial) for e in base.episodes.values())
            for p in pending:
                if p.plan is None:
                    edit = p.skill_edit()
                    p.plan = plan_keys(base.episodes.values(), [r.episode_id for r in edit.evidence],
                                       self.settings.policy, first_fresh_trial=first_fresh,
                                       salt=f"{self.state.config_hash}:{tag}").to_dict()
            self.save()
            plans = [p.key_plan() for p in pending]
            union = list(dict.fromkeys(k for plan in plans for k in plan.all()))
            control = self.simulate(f"{tag}/verify/control", f"{tag}/verify/control",
                                    sorted({pid for pid, _ in union}), rs.start_version, keys=union)
            arms = {}
            for proposal, plan in zip(pending, plans):
                edit = proposal.skill_edit()
                content, _ = apply_edit(base_skills, edit)
                arms[edit.id] = self.arm(tag, f"{tag}/verify/{edit.id}", content, plan, edit.id, edit.summary())
                if proposal.status == "pending":
                    proposal.status = "tested"  # its arm is complete; the verdict waits for the whole round
                    self.save()
            self.decide(tag, pending, plans, control, arms)
            self.save()
        accepted = self.settle(tag, rs, base, base_skills)
        if accepted and rs.committed is None:
            rs.committed = self.commit(number, rs, accepted, base_skills)
            self.save()
        rs.done = True
        self.save()
        from escgraph.skills_bank.evolution.report import write_evolution_report

        write_evolution_report(self.state, self.out, self.bank)  # readable while later rounds run
        return rs.committed is not None

    def check_judge(self, tag: str, rs: RoundState, base: SimulationResult) -> None:
        """Refuse to verify (so to accept) edits when the base run's judge is unhealthy, unless forced."""
        health = base.summary.get("judge_health") or {}
        if rs.judge_health is None:
            rs.judge_health = JudgeHealth(healthy=health.get("healthy"),
                                          warnings=list(health.get("warnings") or []), forced=False)
        if health.get("healthy") is not False:
            return
        warnings = "; ".join(w.rstrip(". ") for w in health.get("warnings") or []) or "see the base run's report"
        if self.settings.force_judge:
            if not rs.judge_health.forced:
                rs.judge_health.forced = True
                self.log(f"{tag}: the judge is unhealthy ({warnings}); verifying anyway because of --force-judge")
            return
        for p in rs.proposals or []:
            if p.status == "pending":
                p.settle("rejected", "judge health",
                         [f"not verified: the judge of the base run is unhealthy ({warnings}); its scores "
                          f"cannot tell a helpful edit from a harmful one. Use a stronger --judge-model, "
                          f"or pass --force-judge to verify anyway"])
                self.log(f"{tag}: {p.id} not verified: the judge is unhealthy (--force-judge overrides)")

    def propose(self, tag: str, analysis: TraceAnalysis, skills: Mapping[str, Skill]) -> list[Proposal]:
        refs = cited_seeker_lines(analysis)  # the cited turns and the seeker lines around them (copied-text check)
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
                proposals.append(Proposal(edit=edit.model_dump(mode="json"), status=status,
                                          stage="validation" if problems else None, reasons=problems,
                                          verification=None))
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

    def arm(self, tag: str, folder: str, content: Mapping[str, Skill], plan: KeyPlan, name: str,
            message: str) -> SimulationResult:
        """The candidate arm: ``content`` in a branch bank, simulated on exactly the plan's keys."""
        branch = self.branch(tag, name, content, message)
        self.log(f"verify {name}: {len(plan.target)} target + {len(plan.regression)} regression episode(s), "
                 f"against the control arm")
        keys = plan.all()
        return self.simulate(folder, folder, sorted({pid for pid, _ in keys}), branch.head, keys=keys, bank=branch)

    def episode_ids(self, arm: SimulationResult, keys: Sequence[tuple[str, int]]) -> list[str]:
        by_key = {(e.profile_id, int(e.trial)): eid for eid, e in arm.episodes.items()}
        return [by_key.get((pid, t), f"{pid}#{t}#?") for pid, t in keys]

    def decide(self, tag: str, proposals: list[Proposal], plans: list[KeyPlan], control: SimulationResult,
               arms: Mapping[str, SimulationResult]) -> None:
        """Test every proposal of the round against the control arm, Holm-adjust the target p-values over them,
        then accept or reject each."""
        def verdict(p: Proposal, plan: KeyPlan, adjusted: float | None) -> Verification:
            return verify_candidate(control.episodes, arms[p.id].episodes, self.episode_ids(control, plan.target),
                                    self.episode_ids(control, plan.regression), self.settings.policy,
                                    self.reply_flagged, seed=stat_seed(self.state.config_hash, p.id),
                                    p_adjusted=adjusted)

        raw = [verdict(p, plan, None) for p, plan in zip(proposals, plans)]
        adjusted = holm([v.metrics.get("target_p") for v in raw])
        for p, plan, first, adj in zip(proposals, plans, raw, adjusted):
            final = first if adj is None else verdict(p, plan, adj)
            p.verification = VerificationRecord(**final.to_dict(), folder=f"{tag}/verify/{p.id}",
                                                control=f"{tag}/verify/control")
            p.settle("accepted" if final.accepted else "rejected", None if final.accepted else "verification",
                     final.reasons)
            self.log(f"{tag}: {p.id} {p.status}: " + "; ".join(final.reasons))

    def settle(self, tag: str, rs: RoundState, base: SimulationResult,
               skills: Mapping[str, Skill]) -> list[Proposal]:
        """The accepted proposals that go into the round's commit: one per skill (the best), confirmed together
        on fresh seeds against a fresh control arm."""
        def gain(p: Proposal) -> float:
            return (p.verification.metrics if p.verification else {}).get("target_delta") or 0.0

        accepted = sorted((p for p in rs.proposals or [] if p.status == "accepted"), key=lambda p: -gain(p))
        kept, seen = [], set()
        for p in accepted:
            sid = p.skill_id
            if sid in seen:
                p.settle("superseded", "combination", [f"another accepted edit of {sid} improved its target group more"])
                continue
            seen.add(sid)
            kept.append(p)
        if not kept:
            return []
        if rs.confirmation is None:
            rs.confirmation = self.confirm(tag, rs.start_version, kept, base, skills)
            self.save()
        confirmation = rs.confirmation
        if not confirmation.accepted:
            for p in kept:
                p.settle("rejected", "confirmation", [*p.reasons, "the accepted edit(s) failed the confirmation on "
                                                      "fresh seeds: " + "; ".join(confirmation.reasons)])
            self.log(f"{tag}: confirmation on fresh seeds failed; nothing is committed this round")
            return []
        return kept

    def confirm(self, tag: str, start_version: str, kept: list[Proposal], base: SimulationResult,
                skills: Mapping[str, Skill]) -> ConfirmationRecord:
        """Verify the accepted set jointly once more, on fresh seeds, control arm against the combined bank."""
        edits = [p.skill_edit() for p in kept]
        content, _ = apply_edits(skills, edits)
        policy = self.settings.policy
        used = 1 + max([int(e.trial) for e in base.episodes.values()]
                       + [t for p in kept for _, t in p.key_plan().all()])
        target_profiles = list(dict.fromkeys(pid for p in kept for pid, _ in p.key_plan().target))
        # One edit's regression was checked in verification; only a combination can interact, so only then is a
        # fresh regression sample worth its cost (the target test is what guards against a lucky verification).
        confirm_policy = policy if len(kept) > 1 else policy.model_copy(update={"regression_size": 0})
        plan = plan_fresh_keys(target_profiles, [p.id for p in self.profiles], confirm_policy,
                               first_fresh_trial=used, salt=f"{self.state.config_hash}:{tag}:confirm")
        keys = plan.all()
        profile_ids = sorted({pid for pid, _ in keys})
        control = self.simulate(f"{tag}/confirm/control", f"{tag}/confirm/control", profile_ids, start_version,
                                keys=keys)
        candidate = self.arm(tag, f"{tag}/confirm/candidate", content, plan, "combined",
                             "; ".join(e.summary() for e in edits))
        verdict = verify_candidate(control.episodes, candidate.episodes, self.episode_ids(control, plan.target),
                                   self.episode_ids(control, plan.regression), policy, self.reply_flagged,
                                   seed=stat_seed(self.state.config_hash, tag, "confirm"))
        self.log(f"{tag}: confirmation of {', '.join(e.id for e in edits)} on fresh seeds "
                 f"{'passed' if verdict.accepted else 'failed'}: " + "; ".join(verdict.reasons))
        return ConfirmationRecord(**verdict.to_dict(), edits=[e.id for e in edits], plan=plan.to_dict(),
                                  folder=f"{tag}/confirm")

    def commit(self, number: int, rs: RoundState, accepted: list[Proposal],
               base_skills: Mapping[str, Skill]) -> str:
        marker = f"{self.state.config_hash}:{self.state.created}:round-{number}"
        for version in self.bank.versions():  # a kill after the commit but before it was recorded
            if version.number <= int(rs.start_version[1:]):
                break
            if (version.meta.get("evolution") or {}).get("marker") == marker:
                return version.id
        edits = [p.skill_edit() for p in accepted]
        content, field_changes = apply_edits(base_skills, edits)
        meta_edits = []
        for p, edit in zip(accepted, edits):
            metrics = {k: v for k, v in (p.verification.metrics if p.verification else {}).items() if k != "deltas"}
            meta_edits.append({
                "id": edit.id, "kind": edit.kind, "skill_id": edit.skill_id, "finding": edit.finding,
                "rationale": edit.rationale, "evidence": [r.model_dump() for r in edit.evidence],
                "fields": [c.model_dump(mode="json") for c in field_changes if c.skill_id == edit.skill_id],
                "verification": metrics})
        confirmation = rs.confirmation
        meta = {"evolution": {"marker": marker, "round": number, "folder": str(self.out),
                              "metrics_before": {k: v for k, v in rs.base.summary.items()
                                                 if k != "judge_health"},
                              "edits": meta_edits,
                              "confirmation": {k: v for k, v in confirmation.metrics.items() if k != "deltas"}
                              if confirmation else None}}
        message = f"evolution round {number}: " + "; ".join(e.summary() for e in edits)
        version = self.bank.commit(edits_to_changes(base_skills, content), author="escgraph evolve",
                                   message=message, kind="evolution", meta=meta)
        self.log(f"round {number}: committed {version.id} ({message})")
        return version.id

    def run_holdout(self) -> None:
        if not self.holdout:
            return
        start, final = self.state.skill_diff_versions()
        ids = [p.id for p in self.holdout]
        before = self.simulate("holdout/start", "holdout/start", ids, start, budgeted=False)
        after = before if final == start else self.simulate("holdout/final", "holdout/final", ids, final,
                                                            budgeted=False)
        self.state.holdout = HoldoutResult(
            start_version=start, final_version=final, start=before.summary, final=after.summary, profiles=ids,
            paired=holdout_paired(before, after, seed=stat_seed(self.state.config_hash, "holdout"))
            if final != start else None)
        self.save()


def holdout_paired(start: SimulationResult, final: SimulationResult, *, seed: int) -> dict[str, Any]:
    """Final minus start on the held-out episode keys both finished: SAGE score, success and turns, paired."""
    shared = [eid for eid, e in start.episodes.items() if eid in final.episodes
              and e.final_emotion is not None and final.episodes[eid].final_emotion is not None]
    def series(value: Callable[[Any], float]) -> list[float]:
        return [value(final.episodes[e]) - value(start.episodes[e]) for e in shared]

    return {"n": len(shared),
            "sage_score": paired(series(lambda e: float(e.final_emotion)), seed=seed).to_dict(),
            "success_rate": paired(series(lambda e: float(e.outcome == "success")), seed=seed + 1).to_dict(),
            "mean_turns": paired(series(lambda e: float(e.seeker_turns)), seed=seed + 2).to_dict()}


def run_evolution(bank: SkillBank, profiles: Sequence[SeekerProfile], simulator: Simulator, analyst: Analyst, *,
                  out_dir: str | Path, settings: EvolutionSettings | None = None,
                  holdout: Sequence[SeekerProfile] = (), resume: bool = False,
                  reply_flagged: Callable[[str], bool] | None = None,
                  log: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """:func:`evolve`, returning the evolution state as the JSON data written to ``evolution.json``
    (``evolve(...).model_dump()``)."""
    return evolve(bank, profiles, simulator, analyst, out_dir=out_dir, settings=settings, holdout=holdout,
                  resume=resume, reply_flagged=reply_flagged, log=log).model_dump()


def evolve(bank: SkillBank, profiles: Sequence[SeekerProfile], simulator: Simulator, analyst: Analyst, *,
           out_dir: str | Path, settings: EvolutionSettings | None = None,
           holdout: Sequence[SeekerProfile] = (), resume: bool = False,
           reply_flagged: Callable[[str], bool] | None = None,
           log: Callable[[str], None] = lambda message: None) -> EvolutionState:
    """Evolve ``bank`` for ``settings.rounds`` rounds; returns the evolution state as typed records (what
    ``evolution.json`` holds; :func:`read_state` reads that file back the same way).

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
    evo.state.status = "running"
    try:
        for number in range(1, settings.rounds + 1):
            changed = evo.run_round(number)
            if not changed:
                evo.state.status = "converged"
                evo.log(f"round {number} changed nothing; later rounds would replay it: stopping")
                break
        else:
            evo.state.status = "done"
    except _Budget as stop:
        evo.state.status = "budget"
        evo.state.stopped_before = str(stop)
    evo.save()
    evo.run_holdout()
    evo.state.finished = _now()
    evo.save()
    from escgraph.skills_bank.evolution.report import write_evolution_report

    write_evolution_report(evo.state, evo.out, bank)
    return evo.state
