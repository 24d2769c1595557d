"""``escgraph esconv``: bring your own copy of ESConv in as cases, profiles and intervention units."""

from __future__ import annotations

from pathlib import Path

import typer

from escgraph.cli._app import CLIError, app

esconv_app = typer.Typer(help="ESConv (your own copy; either published shape) as next-strategy cases, seeker "
                              "profiles and intervention units.", no_args_is_help=True)
app.add_typer(esconv_app, name="esconv")
_SPLIT_HELP = "Use one part of the usual split (random.seed(13), 70/15/15): train, valid or test; default: all."


def _load(path: Path, split: str | None):  # noqa: ANN202
    from escgraph.esconv import ESConvError, load_esconv, split_dialogues

    try:
        dialogues, report = load_esconv(path)
    except ESConvError as exc:
        raise CLIError(str(exc)) from None
    typer.echo(report.describe(), err=True)
    if split:
        parts = dict(zip(("train", "valid", "test"), split_dialogues(dialogues)))
        if split not in parts:
            raise CLIError(f"--split must be train, valid or test, not {split!r}")
        dialogues = parts[split]
    return dialogues


@esconv_app.command("cases")
def cases(file: Path = typer.Argument(..., help="ESConv.json or a JSON-lines file."),
          out: Path = typer.Option(..., "--out", "-o", help="Cases file (JSON lines)."),
          split: str = typer.Option(None, "--split", help=_SPLIT_HELP),
          source: str = typer.Option(None, "--source", help="Prefix of case ids (default: the file's stem).")) -> None:
    """Next-strategy cases: one per supporter turn that follows a seeker turn."""
    from escgraph.esconv import to_cases, write_jsonl

    n = write_jsonl(to_cases(_load(file, split), source=source or file.stem), out)
    typer.echo(f"wrote {n} cases to {out}")


@esconv_app.command("profiles")
def profiles(file: Path = typer.Argument(...), out: Path = typer.Option(..., "--out", "-o", help="YAML file."),
             split: str = typer.Option(None, "--split", help=_SPLIT_HELP),
             source: str = typer.Option(None, "--source")) -> None:
    """Seeker profiles (for `escgraph simulate --profiles`) from situations, emotions and problems."""
    import yaml

    from escgraph.esconv import to_profiles

    rows = to_profiles(_load(file, split), source=source or file.stem)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(yaml.safe_dump(rows, sort_keys=False, allow_unicode=True, width=110), encoding="utf-8")
    tmp.replace(out)
    typer.echo(f"wrote {len(rows)} profiles to {out}")


@esconv_app.command("ius")
def ius(file: Path = typer.Argument(...), out: Path = typer.Option(..., "--out", "-o", help="JSON lines."),
        split: str = typer.Option(None, "--split", help=_SPLIT_HELP),
        source: str = typer.Option(None, "--source")) -> None:
    """Intervention units: state before a supporter turn, the turn, the seeker's next turn (and feedback)."""
    from escgraph.esconv import to_units, write_jsonl

    n = write_jsonl(to_units(_load(file, split), source=source or file.stem), out)
    typer.echo(f"wrote {n} intervention units to {out}")
