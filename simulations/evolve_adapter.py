"""The simulation runner behind the evolution loop's ``Simulator`` protocol (the skills bank never imports the
runner; ``escgraph evolve`` hands it one of these).

Every simulation of an evolution shares one run id and base seed, so an episode id — profile, trial and the seed
derived from them — means the same seeker and sampling seed in the base run, every verification run and the
held-out runs: differences come from the bank alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from escgraph.profiles import SeekerProfile
from escgraph.simulations.metrics import summarize
from escgraph.simulations.runner import arun_simulation, load_role_models
from escgraph.simulations.spec import RunSpec
from escgraph.skills_bank.evolution.loop import SimulationResult

__all__ = ["RunnerSimulator"]

_SUMMARY_KEYS = ("sage_score", "score_std", "episodes", "finished", "infra_error", "success", "failure",
                 "goodbye", "max_turns", "success_rate", "failure_rate", "mean_turns", "bank_version",
                 "by_personality", "by_problem_type", "judge_health")


class RunnerSimulator:
    """Runs evolution simulations with the settings of ``template`` (its profiles are replaced per call).

    ``models`` are ready chat models by role (tests, custom models); by default they are loaded once from the
    template's model specs and reused by every simulation (not with the process or ray executors, whose workers load their own).
    """

    def __init__(self, template: RunSpec, *, models: Mapping[str, BaseChatModel] | None = None,
                 progress_factory: Any = None, graph: Any = None) -> None:
        self.template = template
        self._graph = graph  # a graph object to run instead of building template.graph (local executor)
        self._models = dict(models) if models is not None else None
        self._progress_factory = progress_factory

    def config(self) -> dict[str, Any]:
        cfg = self.template.result_config()
        for key in ("profiles", "profiles_source", "bank_version"):
            cfg.pop(key, None)
        return cfg

    def _models_for_run(self) -> dict[str, BaseChatModel] | None:
        if self.template.executor in ("process", "ray"):
            return None
        if self._models is None:
            self._models = load_role_models(self.template)
        return self._models

    def simulate(self, out_dir: Path, profiles: Sequence[SeekerProfile], bank_path: Path, bank_version: str, *,
                 keys: Sequence[tuple[str, int]] | None = None) -> SimulationResult:
        update: dict[str, Any] = {"profiles": list(profiles), "bank_path": str(bank_path),
                                  "bank_version": bank_version}
        if keys is not None:
            update["trial_keys"] = [(str(pid), int(trial)) for pid, trial in keys]
        spec = self.template.model_copy(update=update)
        spec = RunSpec.model_validate(spec.model_dump())  # re-validate: profile ids unique, roles filled
        out_dir = Path(out_dir)
        resume = (out_dir / "run.sqlite").exists()
        progress = self._progress_factory(out_dir) if self._progress_factory else None
        if progress is not None:
            with progress as bar:
                run = asyncio.run(arun_simulation(spec, out_dir, models=self._models_for_run(), resume=resume,
                                                  progress=bar, graph=self._graph))
        else:
            run = asyncio.run(arun_simulation(spec, out_dir, models=self._models_for_run(), resume=resume,
                                              graph=self._graph))
        summary = summarize(run)
        tokens = sum(int(usage.get("total_tokens", 0)) for e in run.episodes for usage in e.tokens.values())
        return SimulationResult(episodes={e.episode_id: e for e in run.finished},
                                summary={k: summary.get(k) for k in _SUMMARY_KEYS}, tokens=tokens)
