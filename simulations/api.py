"""Simulate and evolve any graph from Python: ``run_simulation(graph=..., profiles=..., models=..., out=...)``.

``graph`` is a registered name, an import reference (``package.module:attribute``) or the graph itself: a compiled
graph, a ``StateGraph`` or a builder function. ``models`` maps roles (counselor, seeker, judge; seeker and judge
default to the counselor's) to model specs or chat-model objects. What the run records must let it be replayed:
a graph object is recorded by the import reference that reaches it (found among the loaded modules' globals),
model objects by their class and model name. The ``process`` and ``ray`` executors rebuild graph and models in
their workers, so they need an importable graph (not one defined in ``__main__``) and specs, not objects.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel

from escgraph.graphs.registry import graph_info_for, registered_name
from escgraph.profiles import SeekerProfile
from escgraph.simulations import runner
from escgraph.simulations.results import RunData
from escgraph.simulations.spec import SIM_ROLES, RunSpec

if TYPE_CHECKING:
    from escgraph.skills_bank.evolution import EvolutionState

__all__ = ["run_simulation", "arun_simulation", "run_evolution", "graph_reference"]


def graph_reference(graph: Any) -> str | None:
    """``"module:attribute"`` under which ``graph`` can be imported again, or None (defined in ``__main__``, or
    made inside a function)."""
    if isinstance(graph, str):
        return graph
    module = getattr(graph, "__module__", None)
    qualname = getattr(graph, "__qualname__", None)
    if callable(graph) and module and qualname and "<" not in qualname and module != "__main__" \
            and not hasattr(graph, "ainvoke") and not hasattr(graph, "add_node"):
        return f"{module}:{qualname}"
    for name, mod in list(sys.modules.items()):
        if name == "__main__" or mod is None or name.startswith(("_", "langchain", "langgraph", "pydantic")):
            continue
        try:
            for attr, value in list(vars(mod).items()):
                if value is graph and not attr.startswith("_"):
                    return f"{name}:{attr}"
        except TypeError:
            continue
    return None


def _graph_name(graph: Any) -> tuple[str, Any]:
    """(what the spec records, the object to run or None when the spec's name suffices)."""
    if isinstance(graph, str):
        return graph, None
    reference = graph_reference(graph)
    registered = registered_name(graph)
    return registered or reference or f"object:{type(graph).__name__}", graph


def _model_label(model: BaseChatModel) -> str:
    name = getattr(model, "model_name", None) or getattr(model, "model", None)
    return f"object:{type(model).__name__}" + (f":{name}" if isinstance(name, str) else "")


def _profiles(profiles: Any, n: int | None, seed: int) -> tuple[list[SeekerProfile], str]:
    if isinstance(profiles, (str, Path)):
        from escgraph.simulations.profiles import resolve_profiles

        return resolve_profiles(str(profiles), n=n, seed=seed), str(profiles)
    chosen = [p if isinstance(p, SeekerProfile) else SeekerProfile.model_validate(p) for p in profiles]
    return (chosen[:n] if n else chosen), "inline"


def _models(models: Mapping[str, Any] | str | None) -> tuple[dict[str, str], dict[str, BaseChatModel] | None]:
    """(specs to record, objects to run or None when every role is a spec)."""
    if models is None:
        return {"counselor": "local"}, None
    if isinstance(models, (str, BaseChatModel)):
        models = {"counselor": models}
    unknown = set(models) - set(SIM_ROLES)
    if unknown:
        raise ValueError(f"models: unknown role(s) {sorted(unknown)}; roles are {list(SIM_ROLES)}")
    if "counselor" not in models:
        raise ValueError("models: a counselor model is required")
    if all(isinstance(m, str) for m in models.values()):
        return dict(models), None
    objects: dict[str, BaseChatModel] = {}
    for role in SIM_ROLES:
        value = models.get(role, models.get("seeker") if role == "judge" else None) or models["counselor"]
        if isinstance(value, str):
            from escgraph.llm import load_chat_model

            value = load_chat_model(value)
        objects[role] = value
    labels = {role: models[role] if isinstance(models.get(role), str) else _model_label(objects[role])
              for role in SIM_ROLES if role in models}
    return labels, objects


def make_spec(graph: Any, profiles: Any, models: Any = None, *, n: int | None = None, seed: int = 0,
              **spec_options: Any) -> tuple[RunSpec, Any, dict[str, BaseChatModel] | None]:
    """The run spec for these arguments, with the graph and model objects that travel beside it."""
    name, graph_object = _graph_name(graph)
    chosen, source = _profiles(profiles, n, seed)
    specs, objects = _models(models)
    spec = RunSpec(graph=name, profiles=chosen, profiles_source=source, models=specs, seed=seed, **spec_options)
    if spec.executor != "local":
        if objects is not None:
            raise ValueError(f"the {spec.executor} executor builds its models in its workers: give model specs "
                             f"(e.g. 'openai:gpt-4o-mini', 'py:package.module:factory'), not objects")
        if graph_object is not None and name.startswith("object:"):
            raise ValueError(f"the {spec.executor} executor imports the graph in its workers: define it at module "
                             f"level of an importable module and pass it (or 'package.module:attribute')")
        graph_object = None  # the workers import it by its reference
    return spec, graph_object, objects


async def arun_simulation(*, graph: Any, profiles: Any, out: str | Path, models: Any = None, n: int | None = None,
                          trials: int = 1, max_turns: int = 10, seed: int = 0, run_id: str = "run",
                          resume: bool = False, force: bool = False, progress: Any = None,
                          write_report: bool = True, **spec_options: Any) -> RunData:
    """Run SAGE self-play of ``profiles`` against ``graph`` into the folder ``out``; returns the run's data.

    ``profiles``: SeekerProfile objects or dicts, a profiles file, ``"builtin"`` or ``"generated"`` (``n``
    picks how many). Other keyword options are :class:`~escgraph.simulations.spec.RunSpec` fields
    (``concurrency``, ``executor``, ``base_url``, ``bank_path``, ``graph_options``, ...).
    """
    spec, graph_object, objects = make_spec(graph, profiles, models, n=n, seed=seed, trials=trials,
                                            max_turns=max_turns, run_id=run_id, **spec_options)
    return await runner.arun_simulation(spec, out, models=objects, graph=graph_object, resume=resume, force=force,
                                        progress=progress, write_report=write_report)


def run_simulation(**kwargs: Any) -> RunData:
    """Synchronous twin of :func:`arun_simulation` (same keyword arguments)."""
    return asyncio.run(arun_simulation(**kwargs))


def run_evolution(*, graph: Any = "skilled", profiles: Any, bank: str | Path, out: str | Path, models: Any = None,
                  analyst: Any = None, holdout: Sequence[Any] = (), n: int | None = None, seed: int = 0,
                  settings: Any = None, resume: bool = False, log: Any = print,
                  **spec_options: Any) -> EvolutionState:
    """Evolve the skills bank at ``bank`` against ``graph``; returns the evolution state as typed records
    (:class:`~escgraph.skills_bank.evolution.EvolutionState`, also written to ``out/evolution.json``:
    ``state.status``, ``state.rounds[0].proposals``, ``state.final_version()``; ``state.model_dump()`` is that
    file's JSON data).

    ``analyst`` is a chat model or spec for the skill analyst (default: the counselor's). ``settings`` is an
    :class:`~escgraph.skills_bank.evolution.EvolutionSettings` (rounds, verification policy, budget).
    """
    from escgraph.agents.critic import reply_safety_problem
    from escgraph.agents.skill_analyst import SkillAnalyst
    from escgraph.llm import load_chat_model
    from escgraph.simulations.evolve_adapter import RunnerSimulator
    from escgraph.skills_bank.evolution import evolve
    from escgraph.skills_bank.store import SkillBank

    spec_options.setdefault("run_id", "evolve")
    template, graph_object, objects = make_spec(graph, profiles, models, n=n, seed=seed, **spec_options)
    if graph_object is not None and not graph_info_for(graph_object, name=template.graph).uses_skills_bank:
        raise ValueError("the graph does not say it uses the skills bank (uses_skills_bank = True), so evolving "
                         "the bank cannot change it")
    pinned = {"temperature": 0.0, "seed": seed, "max_tokens": 400}  # the analyst decodes greedily
    analyst = analyst if analyst is not None else (objects or {}).get("counselor", template.models["counselor"])
    analyst_model = load_chat_model(analyst, base_url=template.base_url_for("counselor"), **pinned) \
        if isinstance(analyst, str) else analyst
    label = analyst if isinstance(analyst, str) else _model_label(analyst_model)
    held, _ = _profiles(holdout, None, seed) if holdout else ([], "")
    simulator = RunnerSimulator(template, models=objects, graph=graph_object)
    return evolve(SkillBank.default(bank), template.profiles, simulator,
                  SkillAnalyst(analyst_model, spec=label, settings=pinned), out_dir=out, settings=settings,
                  holdout=held, resume=resume, reply_flagged=lambda text: reply_safety_problem(text) is not None,
                  log=log)
