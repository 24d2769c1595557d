"""``escgraph selfplay``: a short self-play run of simulated seekers against a graph, written as a report."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import typer

from escgraph.cli._app import CLIError, app


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so an interrupted run never leaves a half-written report."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@app.command("selfplay")
def selfplay(
    graph: str = typer.Option("sweetiechat", "--graph", "-g", help="Registered graph name."),
    model: str = typer.Option("local", "--model", "-m", help="Counselor model spec."),
    seeker_model: str = typer.Option(None, "--seeker-model", help="Seeker model spec (default: --model)."),
    profiles: Path = typer.Option(None, "--profiles", help="YAML/JSON profile list (default: 3 demo profiles)."),
    turns: int = typer.Option(3, "--turns", min=1, max=20, help="Seeker turns per profile."),
    out: Path = typer.Option(Path("selfplay-report"), "--out", help="Folder for report.html and result.json."),
) -> None:
    """Run a short self-play simulation and write an HTML report."""
    from rich.console import Console

    from escgraph.graphs import UnknownGraphError, get_graph_info
    from escgraph.llm import ModelSpecError, load_chat_model
    from escgraph.profiles import ProfileError, load_profiles
    from escgraph.simulations.selfplay import demo_profiles, run_selfplay
    from escgraph.simulations.selfplay_report import render_selfplay_html

    console = Console(stderr=True)
    try:
        get_graph_info(graph)
        counselor = load_chat_model(model)
        seeker = counselor if seeker_model in (None, model) else load_chat_model(seeker_model)
        chosen = load_profiles(profiles) if profiles else demo_profiles()
    except (UnknownGraphError, ModelSpecError, ProfileError) as exc:
        raise CLIError(str(exc)) from None
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"cannot create output folder {out}: {exc.strerror}") from None

    def show(profile, turn) -> None:
        label = f"safety gate ({turn.safety_category})" if turn.crisis else turn.strategy
        console.print(f"[dim]{profile.id} turn {turn.turn}[/dim] [cyan]{label}[/cyan] {turn.seconds:.1f}s")

    console.print(f"self-play: {len(chosen)} profiles × {turns} turns on [bold]{graph}[/bold] with {model}")
    result = run_selfplay(graph, chosen, counselor_model=counselor, seeker_model=seeker, model_label=model,
                          seeker_label=seeker_model or model, turns=turns, on_turn=show)
    _write_atomic(out / "result.json", result.to_json())
    _write_atomic(out / "report.html", render_selfplay_html(result))
    console.print(f"wrote {out / 'report.html'} and {out / 'result.json'} ({result.seconds:.0f}s)")
