"""``escgraph evolve``: refine a skills bank from failed simulated dialogues, verified by re-simulation."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from escgraph.cli._app import CLIError, app
from escgraph.cli._run_options import (BaseUrlOption, CounselorUrlOption, Executor, ExecutorOption, JudgeModelOption,
                                       JudgeUrlOption, ModelOption, RayAddressOption, RayGpusOption, SafetyFormat,
                                       SafetyFormatOption, SafetyModelOption, SafetyUrlOption, SeekerModelOption,
                                       SeekerUrlOption, run_options, safety_options)

if TYPE_CHECKING:
    from escgraph.skills_bank.evolution.state import EvolutionState


@app.command("evolve")
def evolve(
    graph: str = typer.Option("skilled", "--graph", "-g", help="A registered graph that uses the skills bank."),
    bank: Path = typer.Option(None, "--bank", help="Skills-bank folder to evolve (default: yours)."),
    rounds: int = typer.Option(1, "--rounds", min=1, max=100, help="Rounds of simulate → analyse → propose → "
                                                                  "verify → commit."),
    profiles: str = typer.Option("builtin", "--profiles", help="'builtin', 'generated' or a profiles file."),
    n: int = typer.Option(None, "--n", min=1, help="Use N profiles (built-in: spread over problem types)."),
    holdout_profiles: str = typer.Option("builtin", "--holdout-profiles",
                                         help="Held-out profiles for the final start-vs-final comparison: a "
                                              "file, or 'builtin' (built-in profiles not used in evolution)."),
    holdout_n: int = typer.Option(3, "--holdout-n", min=0, help="How many held-out profiles (0: no comparison)."),
    budget_tokens: int = typer.Option(None, "--budget-tokens", min=1,
                                      help="Stop starting rounds and proposals past this many tokens (the final "
                                           "held-out comparison still runs)."),
    concurrency: int = typer.Option(4, "--concurrency", "-c", min=1, help="Episodes in flight per simulation."),
    executor: ExecutorOption = Executor.local,
    ray_address: RayAddressOption = None,
    ray_num_gpus: RayGpusOption = 0.0,
    out: Path = typer.Option(Path("evolve-run"), "--out", "-o", help="Folder for the evolution log, every "
                                                                     "simulation and evolution.html."),
    resume: bool = typer.Option(False, "--resume", help="Continue the evolution in --out."),
    trials: int = typer.Option(1, "--trials", min=1, help="Episodes per profile."),
    max_turns: int = typer.Option(10, "--max-turns", min=1, max=100, help="Judged seeker turns per episode."),
    model: ModelOption = "local",
    seeker_model: SeekerModelOption = None,
    judge_model: JudgeModelOption = None,
    analyst_model: str = typer.Option(None, "--analyst-model", help="Analyst model spec (default: --model)."),
    base_url: BaseUrlOption = None,
    counselor_base_url: CounselorUrlOption = None,
    seeker_base_url: SeekerUrlOption = None,
    judge_base_url: JudgeUrlOption = None,
    safety_model: SafetyModelOption = None,
    safety_format: SafetyFormatOption = SafetyFormat.structured,
    safety_base_url: SafetyUrlOption = None,
    seed: int = typer.Option(0, "--seed", help="Base seed: every simulation of the evolution replays the same "
                                               "episode seeds."),
    margin: float = typer.Option(3.0, "--margin", min=0, help="Mean paired gain (candidate − control, points) the "
                                                               "target group must reach, besides p < --alpha."),
    tolerance: float = typer.Option(6.0, "--tolerance", min=0, help="Points the regression sample's lower "
                                                                    "confidence bound may fall below zero."),
    regression_size: int = typer.Option(16, "--regression-size", min=0,
                                        help="Episodes of other profiles, drawn at random, re-run in both arms."),
    verify_trials: int = typer.Option(3, "--verify-trials", min=0, max=100,
                                      help="Fresh trials per target profile added to the cited episodes."),
    alpha: float = typer.Option(0.05, "--alpha", min=0.001, max=0.49,
                                help="One-sided level of the target test (Holm over a round's proposals)."),
    force_judge: bool = typer.Option(False, "--force-judge",
                                     help="Verify and accept edits even when the judge's health checks fail."),
    max_findings: int = typer.Option(3, "--max-findings", min=1, help="Findings sent to the analyst per round."),
    min_units: int = typer.Option(2, "--min-units", min=1, help="Emotion falls a finding needs."),
    low_gain: float = typer.Option(0.0, "--low-gain", help="Episodes whose emotion rose by at most this much "
                                                           "count as low-gain (analysed like failures)."),
) -> None:
    """Self-evolution: simulate, find where seekers got worse, propose skill edits, keep the verified ones."""
    from rich.console import Console

    from escgraph.cli.simulate_cmd import progress_display
    from escgraph.graphs import UnknownGraphError, get_graph_info
    from escgraph.llm import ModelSpecError
    from escgraph.profiles import ProfileError
    from escgraph.simulations.faults import ExecutorStartError, RunStopped
    from escgraph.simulations.profiles import holdout_profiles as pick_holdout
    from escgraph.simulations.profiles import resolve_profiles
    from escgraph.simulations.spec import RunSpec
    from escgraph.simulations.store import RunStoreError
    from escgraph.skills_bank.bankfiles import SkillBankError
    from escgraph.skills_bank.evolution import EvolutionError, EvolutionSettings, VerifyPolicy, run_evolution
    from escgraph.skills_bank.store import SkillBank

    console = Console(stderr=True)
    seeker_model = seeker_model or model
    try:
        where = run_options(executor=executor, ray_address=ray_address, ray_num_gpus=ray_num_gpus,
                            base_url=base_url, counselor_base_url=counselor_base_url,
                            seeker_base_url=seeker_base_url, judge_base_url=judge_base_url,
                            safety_base_url=safety_base_url) | safety_options(safety_model, safety_format,
                                                                              safety_base_url)
        if not get_graph_info(graph).uses_skills_bank:
            raise CLIError(f"graph {graph!r} does not use the skills bank, so evolving the bank cannot change it; "
                           f"use --graph skilled")
        chosen = resolve_profiles(profiles, n=n, seed=seed)
        held = pick_holdout(holdout_profiles, n=holdout_n, exclude={p.id for p in chosen}, seed=seed) \
            if holdout_n else []
        the_bank = SkillBank.default(bank)
        template = RunSpec(run_id="evolve", graph=graph, profiles=chosen, **where,
                           profiles_source=profiles, models={"counselor": model, "seeker": seeker_model,
                                                             "judge": judge_model or seeker_model},
                           trials=trials, seed=seed, max_turns=max_turns, concurrency=concurrency)
        settings = EvolutionSettings(rounds=rounds, budget_tokens=budget_tokens, max_findings=max_findings,
                                     min_units=min_units, low_gain=low_gain, force_judge=force_judge,
                                     policy=VerifyPolicy(margin=margin, tolerance=tolerance, alpha=alpha,
                                                         regression_size=regression_size,
                                                         verify_trials=verify_trials))
    except (UnknownGraphError, ProfileError, SkillBankError, ValueError, OSError) as exc:
        message = exc.errors()[0]["msg"] if hasattr(exc, "errors") else str(exc)
        raise CLIError(message) from None

    from escgraph.agents.critic import reply_safety_problem
    from escgraph.agents.skill_analyst import SkillAnalyst
    from escgraph.llm import load_chat_model
    from escgraph.simulations.evolve_adapter import RunnerSimulator

    analyst_spec = analyst_model or model
    try:
        pinned = {"temperature": 0.0, "seed": seed, "max_tokens": 400}  # the analyst decodes greedily
        analyst_url = template.base_url_for("counselor")
        analyst = SkillAnalyst(load_chat_model(analyst_spec, base_url=analyst_url, **pinned), spec=analyst_spec,
                               settings=pinned)
    except ModelSpecError as exc:
        raise CLIError(str(exc)) from None
    simulator = RunnerSimulator(template, progress_factory=lambda folder: progress_display(console))
    console.print(f"evolve: bank {the_bank.path} ({the_bank.head}) · graph {graph} · {len(chosen)} profiles × "
                  f"{trials} trial(s) · {len(held)} held out · ≤{rounds} round(s) · counselor {model} · seeker "
                  f"{seeker_model} · judge {template.models['judge']} · analyst {analyst_spec}", soft_wrap=True)
    try:
        state = run_evolution(the_bank, chosen, simulator, analyst, out_dir=out, settings=settings, holdout=held,
                              resume=resume, reply_flagged=lambda text: reply_safety_problem(text) is not None,
                              log=lambda message: console.print(f"[bold]·[/bold] {message}", soft_wrap=True))
    except RunStopped as exc:  # a refused model request or an outage: finished steps are saved
        raise CLIError(f"{exc} — continue with: escgraph evolve ... --out {out} --resume",
                       code=exc.exit_code) from None
    except (EvolutionError, RunStoreError, ModelSpecError, SkillBankError, ExecutorStartError) as exc:
        raise CLIError(str(exc)) from None
    except KeyboardInterrupt:
        raise CLIError(f"interrupted; finished steps are saved — continue with: escgraph evolve ... --out {out} "
                       f"--resume", code=130) from None
    from escgraph.skills_bank.evolution import EvolutionState

    _print_outcome(console, EvolutionState.coerce(state), out)


def _print_outcome(console, state: EvolutionState, out: Path) -> None:  # noqa: ANN001
    from rich.table import Table

    table = Table(title=f"evolution {out.name}: {state.status}")
    for column in ("round", "bank", "SAGE score", "findings", "accepted", "rejected"):
        table.add_column(column)
    for r in state.rounds:
        summary = r.base.summary if r.base else {}
        proposals = r.proposals or []
        score = summary.get("sage_score")
        table.add_row(str(r.round), r.start_version + (f" → {r.committed}" if r.committed else ""),
                      "n/a" if score is None else f"{score:.1f}", str(len(r.findings())),
                      str(sum(p.status == "accepted" for p in proposals)),
                      str(sum(p.status != "accepted" for p in proposals)))
    console.print(table)
    for r in state.rounds:
        health = r.judge_health
        if health is not None and health.healthy is False:
            how = "verified anyway (--force-judge)" if health.forced else "edits were not verified"
            console.print(f"[yellow]round {r.round}: the judge is unhealthy; {how}:[/yellow]", soft_wrap=True)
            for warning in health.warnings:
                console.print(f"  - {warning}", soft_wrap=True, markup=False, style="yellow")
    held = state.holdout
    if held:
        start, final = held.start.get("sage_score"), held.final.get("sage_score")
        line = (f"held-out ({len(held.profiles)} profiles): {held.start_version} "
                f"{'n/a' if start is None else f'{start:.1f}'} → {held.final_version} "
                f"{'n/a' if final is None else f'{final:.1f}'}")
        sage = (held.paired or {}).get("sage_score") or {}
        if sage.get("n"):
            low, high = sage.get("ci_low"), sage.get("ci_high")
            line += (f"; paired Δ {sage['mean']:+.1f} (95% CI {'?' if low is None else f'{low:+.1f}'} to "
                     f"{'?' if high is None else f'{high:+.1f}'}, p {sage['p_two_sided']:.3f}, "
                     f"{sage['n']} episodes)")
        console.print(line, soft_wrap=True)
    console.print(f"report: {out / 'evolution.html'}\nlog: {out / 'evolution.json'}", soft_wrap=True)


@app.command("evolve-replay")
def evolve_replay(
    evolution: Path = typer.Argument(..., help="Folder of a finished evolution (holds evolution.json)."),
    round_number: int = typer.Option(..., "--round", "-r", min=1, help="The round to replay."),
    out: Path = typer.Option(None, "--out", "-o", help="Folder for the replay (default: EVOLUTION/replay-round-N)."),
    concurrency: int = typer.Option(4, "--concurrency", "-c", min=1, help="Episodes in flight per simulation."),
) -> None:
    """Replay one evolution round from its recorded bank version, profiles, settings, seeds and model specs, in a
    scratch bank, and say whether it came out the same."""
    from rich.console import Console

    from escgraph.agents.critic import reply_safety_problem
    from escgraph.agents.skill_analyst import SkillAnalyst
    from escgraph.llm import ModelSpecError, load_chat_model
    from escgraph.simulations.evolve_adapter import RunnerSimulator
    from escgraph.simulations.faults import ExecutorStartError, RunStopped
    from escgraph.simulations.spec import RunSpec
    from escgraph.simulations.store import RunStoreError
    from escgraph.skills_bank.bankfiles import SkillBankError
    from escgraph.skills_bank.evolution import EvolutionError, read_state, recorded_profiles, replay_round

    console = Console(stderr=True)
    out = out or evolution / f"replay-round-{round_number}"
    try:
        state = read_state(evolution)
        profiles = recorded_profiles(evolution)
        template = RunSpec.model_validate({**state.config["simulator"], "profiles": profiles,
                                           "concurrency": concurrency})
        analyst_cfg = state.config["analyst"]
        pinned = dict(analyst_cfg.get("settings") or {})
        analyst = SkillAnalyst(load_chat_model(analyst_cfg["model"], base_url=template.base_url_for("counselor"), **pinned),
                               spec=analyst_cfg["model"], settings=pinned)
        result = replay_round(evolution, round_number, RunnerSimulator(template), analyst, replay_dir=out,
                              profiles=profiles,
                              reply_flagged=lambda text: reply_safety_problem(text) is not None,
                              log=lambda message: console.print(f"[bold]·[/bold] {message}", soft_wrap=True))
    except (EvolutionError, RunStoreError, RunStopped, ModelSpecError, SkillBankError, ExecutorStartError, ValueError,
            KeyError) as exc:
        message = exc.errors()[0]["msg"] if hasattr(exc, "errors") else str(exc)
        raise CLIError(f"cannot replay: {message}") from None
    if result["identical"]:
        console.print(f"round {round_number} replayed identically (base SAGE "
                      f"{result['replayed']['base']['sage_score']}, {len(result['replayed']['proposals'])} "
                      f"proposal(s), same verdicts and committed skills)")
    else:
        console.print(f"round {round_number} replayed with differences:")
        for line in result["differences"]:
            console.print(f"  - {line}", soft_wrap=True, markup=False)
    console.print(f"replay: {out / 'replay.json'} · evolution: {out / 'evolution' / 'evolution.html'}",
                  soft_wrap=True)
