"""``escgraph skills units`` and ``escgraph skills discover``: skills from simulation runs.

``units`` exports a run's intervention units (state before, action, emotion change after); ``discover`` clusters
units and distils the helpful clusters into proposed skills, written for review and ``skills import``. The
``skills`` command group itself is in ``skills_cmd``, which imports this module.
"""

from __future__ import annotations

from pathlib import Path

import typer

from escgraph.cli._app import CLIError
from escgraph.cli.skills_cmd import _BANK_HELP, _clear_errors, _open, skills_app

__all__ = ["units", "discover"]


@skills_app.command("units")
def units(
    run_dir: Path = typer.Argument(..., help="A run folder written by `escgraph simulate`."),
    out: Path = typer.Option(None, "--out", "-o", help="JSON-lines file (default: RUN_DIR/units.jsonl)."),
) -> None:
    """Export the intervention units of a simulation run: state before, action, emotion change after."""
    from escgraph.simulations.store import RunStoreError, load_run
    from escgraph.simulations.units import intervention_units, write_units

    try:
        run = load_run(run_dir)
    except RunStoreError as exc:
        raise CLIError(str(exc)) from None
    target = out or run_dir / "units.jsonl"
    try:
        count = write_units(intervention_units(run), target)
    except OSError as exc:
        raise CLIError(f"cannot write {target}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {count} intervention units to {target}")


@skills_app.command("discover")
def discover(
    units: Path = typer.Argument(..., help="Intervention units (JSON lines): `escgraph esconv ius` or `skills units`."),
    out: Path = typer.Option(..., "--out", "-o", help="Proposal file to write (YAML list of skills)."),
    clusters: int = typer.Option(8, "--clusters", min=1, help="How many clusters of units."),
    min_units: int = typer.Option(3, "--min-units", min=1, help="Smallest cluster worth a skill."),
    model: str = typer.Option("local", "--model", "-m", help="Analyst model spec."),
    base_url: str = typer.Option(None, "--base-url", help="OpenAI-compatible server URL."),
    bank: Path = typer.Option(None, "--bank", help=_BANK_HELP),
) -> None:
    """Cluster intervention units and distil the helpful clusters into skills, as a proposal you review and then
    import (never merged silently)."""
    from pydantic import ValidationError

    from escgraph.agents.skill_analyst import SkillDistiller
    from escgraph.datafiles import MAX_DATASET_BYTES, DataFileError, parse_json, read_text
    from escgraph.llm import ModelSpecError, load_chat_model
    from escgraph.files import atomic_write
    from escgraph.skills_bank.bankfiles import dump_yaml
    from escgraph.skills_bank.discovery import discover_skills
    from escgraph.skills_bank.schema import InterventionUnit

    if not units.is_file():
        raise CLIError(f"{units}: no such file")
    try:
        text = read_text(units, max_bytes=MAX_DATASET_BYTES)
    except OSError as exc:
        raise CLIError(f"cannot read {units}: {exc.strerror or exc}") from None
    except DataFileError as exc:
        raise CLIError(str(exc)) from None
    parsed = []
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            parsed.append(InterventionUnit.model_validate(parse_json(line, f"{units}: line {n}")))
        except DataFileError as exc:
            raise CLIError(str(exc).replace(" at line 1, column ", " at column ")) from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"]) + f": {first['msg']}"
            raise CLIError(f"{units}: line {n}: not an intervention unit ({where})") from None
    with _clear_errors():
        existing = list(_open(bank).skills())  # new ids must not collide with the bank's
    try:
        distiller = SkillDistiller(load_chat_model(model, base_url=base_url, temperature=0.0, seed=0,
                                                   max_tokens=400))
    except ModelSpecError as exc:
        raise CLIError(str(exc)) from None
    skills, log = discover_skills(parsed, distiller, existing=existing, clusters=clusters, min_units=min_units)
    for entry in log:
        typer.echo(f"{entry['cluster']}: {entry['summary']} -> {entry['result']}", err=True)
    if not skills:
        typer.echo("no skill proposed (see the reasons above); nothing written")
        return
    atomic_write(out, dump_yaml([s.model_dump(mode="json") for s in skills]))
    typer.echo(f"proposed {len(skills)} skill(s) in {out}; review them, then: escgraph skills import {out} --merge "
               f"-m \"skills discovered from {units.name}\"")
