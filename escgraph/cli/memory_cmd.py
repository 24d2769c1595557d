"""``escgraph memory``: what escgraph remembers about a seeker across conversations; show it, forget it."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from escgraph.cli._app import CLIError, app

memory_app = typer.Typer(help="Long-term seeker memory (opt-in with `escgraph chat --seeker ID`).",
                         no_args_is_help=True)
app.add_typer(memory_app, name="memory")
_DB_HELP = "Memory store file (default: memory.sqlite in the escgraph data folder)."


def _memory(db: Path | None):  # noqa: ANN202
    from escgraph.memory.seeker_memory import MemoryStoreError, SeekerMemory, open_memory_store

    if db is not None and not Path(db).expanduser().is_file():
        raise CLIError(f"no memory store at {db}")
    try:
        return SeekerMemory(open_memory_store(db))
    except MemoryStoreError as exc:
        raise CLIError(str(exc)) from None


@memory_app.command("show")
def show(
    seeker: str = typer.Argument(None, help="Seeker id (omit to list the seekers with memories)."),
    db: Path = typer.Option(None, "--db", help=_DB_HELP),
    as_json: bool = typer.Option(False, "--json", help="JSON output."),
) -> None:
    """The facts remembered about SEEKER (or every seeker id with memories)."""
    from escgraph.memory.seeker_memory import MemoryStoreError

    memory = _memory(db)
    try:
        if seeker is None:
            ids = memory.seekers()
            typer.echo(json.dumps(ids) if as_json else ("\n".join(ids) or "no seeker has memories"))
            return
        facts = memory.facts(seeker)
    except MemoryStoreError as exc:
        raise CLIError(str(exc)) from None
    if as_json:
        typer.echo(json.dumps([f.model_dump() for f in facts], ensure_ascii=False, indent=2))
    elif not facts:
        typer.echo(f"nothing remembered about {seeker}")
    else:
        for f in facts:
            typer.echo(f"{f.kind:<10} {f.text}  ({f.created}{', ' + f.source if f.source else ''})")


@memory_app.command("forget")
def forget(
    seeker: str = typer.Argument(..., help="Seeker id."),
    db: Path = typer.Option(None, "--db", help=_DB_HELP),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete everything remembered about SEEKER."""
    from escgraph.memory.seeker_memory import MemoryStoreError

    memory = _memory(db)
    try:
        count = len(memory.facts(seeker))
        if count == 0:
            typer.echo(f"nothing remembered about {seeker}")
            return
        if not yes and not typer.confirm(f"forget {count} fact(s) about {seeker}?"):
            raise typer.Exit(1)
        removed = memory.forget(seeker)
    except MemoryStoreError as exc:
        raise CLIError(str(exc)) from None
    typer.echo(f"forgot {removed} fact(s) about {seeker}")
