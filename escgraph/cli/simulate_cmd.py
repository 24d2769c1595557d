"""``escgraph simulate`` (SAGE self-play runs) and ``escgraph report`` (HTML report of a run folder)."""

from __future__ import annotations

from pathlib import Path

import typer

from escgraph.cli._app import CLIError, app
from escgraph.cli._run_options import (BaseUrlOption, CounselorUrlOption, Executor, ExecutorOption, JudgeModelOption,
                                       JudgeUrlOption, ModelOption, RayAddressOption, RayGpusOption, SafetyFormat,
                                       SafetyFormatOption, SafetyModelOption, SafetyUrlOption, SeekerModelOption,
                                       SeekerUrlOption, run_options, safety_options)


class _RichProgress:
    """The runner's progress events as one rich progress bar: done / running / failed, tokens, ETA."""

    def __init__(self, console) -> None:  # noqa: ANN001 - rich Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
            TimeRemainingColumn

        self.progress = Progress(
            TextColumn("[bold]episodes"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False)
        self.task = None
        self.running = self.failed = self.infra = self.requeued = self.tokens = 0

    def __enter__(self) -> "_RichProgress":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self.progress.__exit__(*exc)

    def _status(self) -> str:
        return (f"running {self.running} · failed {self.failed} · infra-errors {self.infra} · "
                f"retried {self.requeued} · tokens {self.tokens:,}")

    def start(self, total: int, finished: int) -> None:
        self.task = self.progress.add_task("run", total=total, completed=finished, status=self._status())

    def episode_started(self, key) -> None:  # noqa: ANN001
        self.running += 1
        self.progress.update(self.task, status=self._status())

    def episode_requeued(self, key, error: str) -> None:  # noqa: ANN001
        self.running -= 1
        self.requeued += 1
        self.progress.console.print(f"[yellow]re-queued[/yellow] {key.episode_id}: {error[:160]}")
        self.progress.update(self.task, status=self._status())

    def episode_finished(self, result) -> None:  # noqa: ANN001
        self.running -= 1
        self.failed += result.outcome == "failure"
        self.infra += result.status == "infra_error"
        self.tokens += sum(u.get("total_tokens", 0) for u in result.tokens.values())
        self.progress.update(self.task, advance=1, status=self._status())


class _PlainProgress:
    """Progress as plain lines (logs, ``nohup``, CI): at most one every ``every`` seconds, plus the first and the
    last, each with counts, tokens, elapsed time and ETA. A progress bar prints nothing when stderr is a file."""

    def __init__(self, console, every: float = 30.0) -> None:  # noqa: ANN001 - rich Console
        import time

        self.console, self.every, self.clock = console, every, time.monotonic
        self.total = self.done = self.at_start = 0
        self.running = self.failed = self.infra = self.requeued = self.tokens = 0
        self.began = self.last = 0.0

    def __enter__(self) -> "_PlainProgress":
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        if self.total and self.done < self.total:  # stopped early: say where (a finished run printed its last line)
            self._line(force=True)

    def _line(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self.last < self.every:
            return
        self.last = now
        elapsed = now - self.began
        played = self.done - self.at_start
        eta = "?" if not played else _clock(elapsed / played * (self.total - self.done))
        self.console.print(f"episodes {self.done}/{self.total} · running {self.running} · failed {self.failed} · "
                           f"infra-errors {self.infra} · retried {self.requeued} · tokens {self.tokens:,} · "
                           f"elapsed {_clock(elapsed)} · ETA {eta}", highlight=False, soft_wrap=True)

    def start(self, total: int, finished: int) -> None:
        self.total, self.done, self.at_start = total, finished, finished
        self.began = self.clock()
        self.last = self.began - self.every  # the first line is printed at once
        self._line()

    def episode_started(self, key) -> None:  # noqa: ANN001
        self.running += 1

    def episode_requeued(self, key, error: str) -> None:  # noqa: ANN001
        self.running -= 1
        self.requeued += 1
        self.console.print(f"re-queued {key.episode_id}: {error[:160]}", highlight=False, markup=False)

    def episode_finished(self, result) -> None:  # noqa: ANN001
        self.running -= 1
        self.done += 1
        self.failed += result.outcome == "failure"
        self.infra += result.status == "infra_error"
        self.tokens += sum(u.get("total_tokens", 0) for u in result.tokens.values())
        self._line(force=self.done == self.total)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else \
        f"{seconds // 60}m{seconds % 60:02d}s"


def progress_display(console, every: float = 30.0):  # noqa: ANN001, ANN201
    """A progress bar on a terminal, plain lines at most every ``every`` seconds otherwise."""
    return _RichProgress(console) if console.is_terminal else _PlainProgress(console, every)


@app.command("simulate")
def simulate(
    graph: str = typer.Option("sweetiechat", "--graph", "-g", help="Registered graph to simulate against."),
    profiles: str = typer.Option("builtin", "--profiles",
                                 help="'builtin', 'generated', or a YAML/JSON profiles file."),
    n: int = typer.Option(None, "--n", min=1, help="Use N profiles (built-in: spread over problem types; "
                                                      "a file: its first N; generated: make N)."),
    trials: int = typer.Option(1, "--trials", min=1, help="Episodes per profile."),
    max_turns: int = typer.Option(10, "--max-turns", min=1, max=100, help="Judged seeker turns per episode."),
    concurrency: int = typer.Option(4, "--concurrency", "-c", min=1, help="Episodes in flight (or workers)."),
    executor: ExecutorOption = Executor.local,
    ray_address: RayAddressOption = None,
    ray_num_gpus: RayGpusOption = 0.0,
    model: ModelOption = "local",
    seeker_model: SeekerModelOption = None,
    judge_model: JudgeModelOption = None,
    base_url: BaseUrlOption = None,
    counselor_base_url: CounselorUrlOption = None,
    seeker_base_url: SeekerUrlOption = None,
    judge_base_url: JudgeUrlOption = None,
    safety_model: SafetyModelOption = None,
    safety_format: SafetyFormatOption = SafetyFormat.structured,
    safety_base_url: SafetyUrlOption = None,
    seed: int = typer.Option(0, "--seed", help="Base seed; episode seeds derive from it and the run id."),
    run_id: str = typer.Option("default", "--run-id", help="Episode seeds derive from the run id and --seed: "
                                                            "keep both to compare graphs on identical seekers."),
    out: Path = typer.Option(Path("sim-run"), "--out", "-o", help="Run folder for run.sqlite, summary.json, "
                                                                  "report.html."),
    bank: Path = typer.Option(None, "--bank", help="Skills-bank folder for graphs that use one (default: yours)."),
    bank_version: str = typer.Option("head", "--bank-version", help="Bank version to freeze for the run."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out: skip finished episodes."),
    force: bool = typer.Option(False, "--force", help="With --resume: accept a changed config."),
    planner: str = typer.Option(None, "--planner", help="Strategy planner folder (or llm:<spec>) for graphs that "
                                                        "choose a strategy; its content hash is part of the run."),
    planner_mode: str = typer.Option(None, "--planner-mode", help="'planner' or 'hybrid' (default: the graph's)."),
    kg: Path = typer.Option(None, "--kg", help="Knowledge-graph file (escgraph kg import-heal) for graphs that "
                                               "retrieve cases (kemi); pinned by content hash."),
    step_timeout: float = typer.Option(900.0, "--step-timeout", min=0.001,
                                       help="Seconds one step (a counselor turn, a judgement, a seeker reply) may "
                                            "take; also each API request's timeout."),
    max_outage: float = typer.Option(300.0, "--max-outage", min=0,
                                     help="Stop the run once the model server has not answered (connection errors, "
                                          "timeouts) for this many seconds; 0: never stop."),
    call_retries: int = typer.Option(2, "--call-retries", min=0, max=20,
                                     help="Retries of a failed step (transient errors only), with backoff."),
    requeues: int = typer.Option(2, "--requeues", min=0, max=100,
                                 help="Times an episode whose step kept failing is re-queued before it is recorded "
                                      "as an infra error."),
    as_json: bool = typer.Option(False, "--json", help="Print summary.json on stdout when the run ends."),
    progress_every: float = typer.Option(30.0, "--progress-every", min=0,
                                         help="When stderr is not a terminal: seconds between progress lines."),
) -> None:
    """Run SAGE self-play: simulated seekers (who judge every reply) against a graph; write a report.

    Exit codes: 0 the run finished, every episode scored; 2 an error to fix (options, run folder in use or damaged,
    disk full, the model server refused a request); 3 every episode ended as an infra error, so nothing was
    scored; 4 stopped because the model server did not answer for --max-outage seconds; 5 the run finished but
    some episodes ended as infra errors (the report leaves them out); 130 interrupted. After 2, 3, 4, 5 or 130 the
    finished episodes are saved: run the same command again with --resume (it retries the infra errors).
    """
    from escgraph.cli.chat_cmd import kg_options, planner_options
    from pydantic import ValidationError
    from rich.console import Console

    from escgraph.graphs import UnknownGraphError, get_graph_info
    from escgraph.llm import ModelSpecError
    from escgraph.profiles import ProfileError
    from escgraph.simulations.faults import ExecutorStartError, RunStopped
    from escgraph.simulations.profiles import resolve_profiles
    from escgraph.simulations.runner import arun_simulation
    from escgraph.simulations.spec import RunSpec
    from escgraph.simulations.store import RunStoreError, RunWriteError

    console = Console(stderr=True)
    seeker_model = seeker_model or model
    try:
        where = run_options(executor=executor, ray_address=ray_address, ray_num_gpus=ray_num_gpus,
                            base_url=base_url, counselor_base_url=counselor_base_url,
                            seeker_base_url=seeker_base_url, judge_base_url=judge_base_url,
                            safety_base_url=safety_base_url) | safety_options(safety_model, safety_format,
                                                                              safety_base_url)
        info = get_graph_info(graph)
        chosen = resolve_profiles(profiles, n=n, seed=seed)
        pinned = _pin_bank(bank, bank_version) if info.uses_skills_bank else None
        spec = RunSpec(run_id=run_id, graph=graph, profiles=chosen, **where,
                       profiles_source=profiles, models={"counselor": model, "seeker": seeker_model,
                                                         "judge": judge_model or seeker_model},
                       trials=trials, seed=seed, max_turns=max_turns, concurrency=concurrency,
                       step_timeout=step_timeout, max_outage=max_outage, call_retries=call_retries,
                       requeues=requeues, bank_version=pinned, bank_path=str(bank) if bank else None,
                       graph_options={**planner_options(graph, planner, planner_mode, pin=True),
                                      **kg_options(graph, kg, pin=True)})
    except (UnknownGraphError, ProfileError, ValueError) as exc:
        message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise CLIError(message) from None

    import asyncio

    episodes = len(spec.episodes())
    console.print(f"simulate: {graph} · {len(chosen)} profiles × {trials} trial(s) = {episodes} episodes · "
                  f"≤{max_turns} turns · counselor {model} · seeker {seeker_model} · judge {spec.models['judge']}"
                  + (f" · skills bank {pinned}" if pinned else ""))
    resume_hint = f"resume with: escgraph simulate ... --out {out} --resume"
    try:
        with progress_display(console, progress_every) as progress:
            run = asyncio.run(arun_simulation(spec, out, resume=resume, force=force, progress=progress))
    except RunStopped as exc:
        raise CLIError(f"{exc} — {resume_hint}", code=exc.exit_code) from None
    except RunWriteError as exc:
        raise CLIError(f"{exc} — {resume_hint}") from None
    except (RunStoreError, ModelSpecError, ExecutorStartError) as exc:
        raise CLIError(str(exc)) from None
    except KeyboardInterrupt:
        raise CLIError(f"interrupted; finished episodes are saved — {resume_hint}", code=130) from None
    _print_summary(console, out)
    if as_json:
        typer.echo((out / "summary.json").read_text(encoding="utf-8"))
    infra = [e for e in run.episodes if e.status == "infra_error"]
    if run.episodes and len(infra) == len(run.episodes):
        raise CLIError(f"all {len(infra)} episodes are infra errors, so nothing was scored; first error: "
                       f"{infra[0].error or 'unknown'} — fix the model or server, then {resume_hint}", code=3)
    if infra:
        raise CLIError(f"{len(infra)} of {len(run.episodes)} episodes ended as infra errors and are not scored; "
                       f"first error: {infra[0].error or 'unknown'} — {resume_hint}", code=5)


def _pin_bank(bank: Path | None, version: str) -> str:
    """Freeze the bank version a run uses (id and content hash), or fail with one clear line."""
    from escgraph.skills_bank import pin_version

    try:
        return pin_version(bank, version)
    except (ValueError, OSError, KeyError, LookupError) as exc:
        raise CLIError(f"skills bank: {exc}") from None


def _interval(summary: dict) -> str:
    ci = summary.get("sage_score_ci") or {}
    if ci.get("ci_low") is None or ci.get("ci_high") is None:
        return ""
    return f" (95% CI {ci['ci_low']:.1f} to {ci['ci_high']:.1f}, over {ci.get('clusters')} " \
           f"{'profiles' if 'profiles' in str(ci.get('method')) else 'episodes'})"


def _print_summary(console, out: Path) -> None:  # noqa: ANN001
    import json

    from rich.table import Table

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    table = Table(title=f"run {out.name}", show_header=False)
    score = summary.get("sage_score")
    bias, turns = summary.get("preference_bias_B"), summary.get("mean_turns")
    rows = [
        ("SAGE score (mean final emotion)", "n/a" if score is None else f"{score:.1f}" + _interval(summary)),
        ("episodes scored", str(summary.get("status", {}).get("done", 0))),
        ("success / failure", f"{summary.get('success') or 0} / {summary.get('failure') or 0}"),
        ("mean turns", "n/a" if turns is None else f"{turns:.1f}"),
        ("infra errors (not scored)", str(summary.get("status", {}).get("infra_error", 0))),
        ("preference bias B", "n/a" if bias is None else f"{bias:.3f}"),
        ("tokens", ", ".join(f"{role} {u.get('total_tokens', 0):,}" for role, u in summary.get("tokens", {}).items())),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    _print_health(console, summary.get("judge_health"))
    console.print(f"report: {out / 'report.html'}\nsummary: {out / 'summary.json'}\nresults: {out / 'run.sqlite'}")


def _print_health(console, health: dict | None) -> None:  # noqa: ANN001
    """Judge-health figures in two lines, then each warning: red past a threshold, yellow for a smoke test."""
    from rich.markup import escape

    from escgraph.simulations.health import SMOKE_TEST_WARNING, health_lines

    if not health:
        return
    for line in health_lines(health):
        console.print(escape(line), highlight=False, soft_wrap=True)
    for warning in health.get("warnings") or []:
        colour = "yellow" if warning == SMOKE_TEST_WARNING else "red"
        console.print(f"[{colour}]warning: {escape(warning)}[/{colour}]", highlight=False, soft_wrap=True)


@app.command("report")
def report(
    run_dir: Path = typer.Argument(..., help="A run folder written by `escgraph simulate` (with --compare: the "
                                             "candidate, B)."),
    compare: Path = typer.Option(None, "--compare", help="A baseline run folder (A) to compare against: deltas "
                                                         "are RUN_DIR − baseline, paired on shared episodes."),
    out: Path = typer.Option(None, "--out", "-o", help="HTML file to write (default: RUN_DIR/report.html)."),
) -> None:
    """Write one self-contained HTML report for a run (optionally compared with a baseline run)."""
    import json

    from escgraph.files import atomic_write
    from escgraph.simulations.comparison import compare_runs
    from escgraph.simulations.metrics import summarize
    from escgraph.simulations.report import render_report
    from escgraph.simulations.store import RunStoreError, load_run

    try:
        run = load_run(run_dir)
        other = load_run(compare) if compare else None
    except RunStoreError as exc:
        raise CLIError(str(exc)) from None
    target = out or (run_dir / ("report.html" if other is None else f"compare-{compare.resolve().name}.html"))
    try:
        comparison = compare_runs(other, run) if other is not None else None
        atomic_write(target, render_report(run, compare=other, out=target, comparison=comparison))
        if other is None:
            atomic_write(run_dir / "summary.json", json.dumps(summarize(run), indent=2, ensure_ascii=False))
    except OSError as exc:
        raise CLIError(f"cannot write {target}: {exc.strerror or exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # data the reader's checks did not foresee
        files = " or ".join(str(folder / "run.sqlite") for folder in ([run_dir] + ([compare] if compare else [])))
        raise CLIError(f"cannot build the report: a value in {files} is not what a run writes "
                       f"({type(exc).__name__}: {exc})") from None
    if comparison is not None:
        _print_comparison(comparison)
    typer.echo(str(target))


def _print_comparison(c: dict) -> None:
    """A few lines on stderr (stdout stays the report's path): the deltas with intervals, flips, the design."""
    from escgraph.simulations.comparison import format_p

    k = c["keys"]
    design = (f"paired on {k['paired']} shared episodes" if c["design"] == "paired" else
              f"UNPAIRED: {k['finished_both']} shared episode(s) finished in both, fewer than 2")
    lines = [f"compare: B = {c['b']['run_name']} (candidate) vs A = {c['a']['run_name']} (baseline), {design}; "
             f"{k['only_a']} only in A, {k['only_b']} only in B, {k['unfinished']} unfinished"]
    for name, row in c["metrics"].items():
        if row["mean"] is None:
            lines.append(f"  {row['label']}: nothing to compare")
            continue
        scale, unit = (100, " pp") if name == "success_rate" else (1, "")
        ci = (f"{row['confidence']:.0%} CI {scale * row['ci_low']:+.1f} to {scale * row['ci_high']:+.1f}"
              if row["ci_low"] is not None and row["ci_high"] is not None else "no interval (too few pairs)")
        lines.append(f"  {row['label']} Δ {scale * row['mean']:+.1f}{unit} ({ci}, {format_p(row['p_two_sided'])}, "
                     f"{row['design']})")
    lines.append(f"  flipped outcomes: {len(c['flipped'])}")
    typer.echo("\n".join(lines), err=True)
