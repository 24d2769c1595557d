"""``escgraph skills``: create, list, show, log, diff, import, export and commit the versioned skills bank.

``skills units`` and ``skills discover``, which read simulation runs and intervention units, are in
``skills_runs_cmd`` (imported at the end of this module, so they register after these commands).
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from escgraph.cli._app import CLIError, app

skills_app = typer.Typer(help="The versioned skills bank: init, list, show, log, diff, import, export, commit.",
                         no_args_is_help=True, rich_markup_mode=None)
app.add_typer(skills_app, name="skills")

_BANK_HELP = "Skills-bank folder (default: the bank in your data folder, seeded from the built-in skills)."
_CHANGE_KINDS = ("added", "changed", "retired", "flagged", "reactivated", "removed")


@contextlib.contextmanager
def _clear_errors() -> Iterator[None]:
    """Bank problems become one line and exit 2; never a traceback."""
    from escgraph.skills_bank.store import SkillBankError

    try:
        yield
    except SkillBankError as exc:
        raise CLIError(str(exc)) from None
    except OSError as exc:
        raise CLIError(f"{exc.filename or 'skills bank'}: {exc.strerror or exc}") from None


def _open(bank: Path | None):  # noqa: ANN202 - SkillBank, imported lazily
    from escgraph.skills_bank.store import SkillBank

    return SkillBank.open(bank) if bank is not None else SkillBank.default()


# What may already be in a folder a new bank goes into: a fresh git repository (the bank is meant for git).
_ALLOWED_IN_NEW = frozenset({".git"})


def _is_new_folder(path: Path) -> bool:
    """Whether a new bank may be created at ``path``: the folder is missing, or empty but for a git repository."""
    if not path.exists():
        return True
    return path.is_dir() and all(p.name in _ALLOWED_IN_NEW for p in path.iterdir())


def _not_new_reason(path: Path) -> str:
    """Why no new bank goes into ``path`` (which :func:`_is_new_folder` refused)."""
    from escgraph.skills_bank.store import SkillBank, SkillBankError

    if not path.is_dir():
        return f"{path} exists and is not a folder"
    if (path / "bank.yaml").exists():
        try:
            return f"{path} is already a skills bank (head {SkillBank.open(path).head})"
        except SkillBankError:
            return f"{path} already holds a skills bank (bank.yaml)"
    names = sorted(p.name for p in path.iterdir() if p.name not in _ALLOWED_IN_NEW)
    more = f" and {len(names) - 1} more" if len(names) > 1 else ""
    return f"{path} is not empty (it holds {names[0]}{more}) and is not a skills bank"


@contextlib.contextmanager
def _creating_bank(path: Path) -> Iterator[None]:
    """Create a bank at ``path`` inside the block; if the block fails, remove what it made, so a failed command
    leaves no half-made bank behind. The folder was missing or empty, so nothing that was there is touched."""
    top = None  # the outermost folder this command creates
    for folder in (path, *path.parents):
        if folder.exists():
            break
        top = folder
    before = set(path.iterdir()) if top is None else set()
    try:
        yield
    except BaseException:
        for made in [top] if top is not None else [p for p in path.iterdir() if p not in before]:
            if made.is_dir():
                shutil.rmtree(made, ignore_errors=True)
            else:
                made.unlink(missing_ok=True)
        raise


def _author(author: str | None) -> str:
    if author:
        return author
    with contextlib.suppress(Exception):
        return os.environ.get("ESCGRAPH_AUTHOR") or getpass.getuser()
    return "unknown"


def _counts(changes: dict) -> str:
    parts = [f"{len(changes.get(k) or [])} {k}" for k in _CHANGE_KINDS if changes.get(k)]
    return ", ".join(parts) or "no skill changes"


def _echo_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@skills_app.command("init")
def init(
    path: Path = typer.Argument(..., metavar="PATH", help="Folder for the new bank: missing, or empty (a fresh "
                                                         "git repository is fine)."),
    empty: bool = typer.Option(False, "--empty", help="Start with no skills instead of the built-in ones."),
    author: str = typer.Option(None, "--author", help="Who creates it (default: $ESCGRAPH_AUTHOR or your login)."),
    message: str = typer.Option(None, "--message", "-m", help="Message of the first version."),
) -> None:
    """Create a new skills bank at PATH: version v1 holds the built-in skills (as `escgraph evolve --bank PATH`
    would seed it), or nothing with --empty. Then use it with --bank PATH.

    A folder that already holds a bank, or anything else, is refused and left as it is."""
    from escgraph.skills_bank.store import SkillBank, builtin_seed_message, builtin_skills

    if not _is_new_folder(path):
        raise CLIError(f"{_not_new_reason(path)}; nothing changed (a new bank needs a missing or empty folder)")
    with _clear_errors():
        skills = [] if empty else builtin_skills()
        text = message or ("new empty skills bank" if empty else builtin_seed_message())
        with _creating_bank(path):
            created = SkillBank.create(path, skills, author=_author(author), message=text, kind="seed")
    what = "no skills (empty)" if empty else f"{len(skills)} built-in skills"
    typer.echo(f"created skills bank {created.path} at {created.head}: {what}; use it with --bank {created.path}")


@skills_app.command("list")
def list_skills(
    version: str = typer.Option("head", "--version", "-v", help="Version: head, v3, 3 or head~1."),
    show_all: bool = typer.Option(False, "--all", help="Include retired and flagged-unsafe skills."),
    as_json: bool = typer.Option(False, "--json", help="A JSON array."),
    bank: Path = typer.Option(None, "--bank", help=_BANK_HELP),
) -> None:
    """List the skills of a version (active ones unless --all)."""
    with _clear_errors():
        found = _open(bank).get_version(version)
    skills = [s for s in found.skills().values() if show_all or s.status == "active"]
    if as_json:
        _echo_json([{"id": s.id, "status": s.status, "stages": s.applicability.stages, "strategies": s.strategies,
                     "name": s.name} for s in skills])
        return
    table = Table(title=f"skills bank {found.id} · {len(skills)} skills", header_style="bold")
    for column in ("id", "status", "stages", "strategies", "name"):
        table.add_column(column)
    for s in skills:  # Text cells: skill names are data, never rich markup
        table.add_row(*map(Text, (s.id, s.status, ", ".join(s.applicability.stages), ", ".join(s.strategies),
                                  s.name)))
    Console(highlight=False).print(table)


@skills_app.command("show")
def show(
    skill_id: str = typer.Argument(..., metavar="ID", help="Skill id."),
    version: str = typer.Option("head", "--version", "-v", help="Version: head, v3, 3 or head~1."),
    as_json: bool = typer.Option(False, "--json", help="The skill as JSON."),
    bank: Path = typer.Option(None, "--bank", help=_BANK_HELP),
) -> None:
    """Every field of one skill, readable."""
    with _clear_errors():
        opened = _open(bank)
        vid = opened.resolve(version)
        skill = opened.skill(skill_id, vid)
    if as_json:
        _echo_json(skill.model_dump(mode="json"))
        return
    out = Console(highlight=False)

    def say(text: str = "", style: str = "") -> None:
        out.print(text, style=style or None, markup=False)  # skill text is data: never rich markup

    def items(title: str, values: list[str], numbered: bool = False) -> None:
        say(title, "bold")
        for i, value in enumerate(values, 1):
            say(f"  {i}. {value}" if numbered else f"  • {value}")

    a, p = skill.applicability, skill.provenance
    say(f"{skill.name}  ({skill.id}, {skill.status}, {vid})", "bold")
    say(skill.summary)
    items("guidance", skill.guidance, numbered=True)
    items("when to use", a.when_to_use)
    items("when not to use", a.when_not_to_use)
    say("fits", "bold")
    say(f"  stages: {', '.join(a.stages)}; intensity {a.min_intensity}–{a.max_intensity}; situations: "
        f"{', '.join(a.situations) or 'any'}; emotions: {', '.join(a.emotions) or 'any'}")
    items("expected outcomes", skill.expected_outcomes)
    items("risks", skill.risks)
    items("strategies", skill.strategies)
    say("examples", "bold")
    for ex in skill.examples:
        say(f"  seeker:    {ex.seeker}")
        say(f"  supporter: {ex.supporter}")
    if p.sources or p.units or p.episodes:
        say("provenance", "bold")
        for name, values in (("sources", p.sources), ("units", p.units), ("episodes", p.episodes)):
            if values:
                say(f"  {name}: {', '.join(values)}")


@skills_app.command("log")
def log(
    as_json: bool = typer.Option(False, "--json", help="A JSON array, newest first."),
    bank: Path = typer.Option(None, "--bank", help=_BANK_HELP),
) -> None:
    """The version history, newest first (like git log)."""
    with _clear_errors():
        versions = _open(bank).versions()
    if as_json:
        _echo_json([v.metadata() for v in versions])
        return
    out = Console(highlight=False)
    for v in versions:
        out.print(f"{v.id}  (parent {v.parent or '-'})  {v.kind}  by {v.author}  {v.created}", style="bold yellow",
                  markup=False)
        for line in v.message.splitlines() or [""]:
            out.print(f"    {line}", markup=False)
        out.print(f"    {_counts(dict(v.changes))} · {len(v.skill_ids)} skills · content {v.content_hash[:12]}",
                  style="dim", markup=False)
        evolution = v.meta.get("evolution") if isinstance(v.meta.get("evolution"), dict) else None
        for edit in (evolution or {}).get("edits", []):  # each change linked to the traces behind it
            episodes = sorted({e["episode_id"] for e in edit.get("evidence", [])})
            delta = (edit.get("verification") or {}).get("target_delta")
            out.print(f"    {edit['id']}: {', '.join(f['field'] for f in edit.get('fields', []))} of "
                      f"{edit['skill_id']} · evidence {len(edit.get('evidence', []))} turn(s) in "
                      f"{', '.join(episodes[:4])}{' …' if len(episodes) > 4 else ''}"
                      + (f" · failing group {delta:+.1f}" if delta is not None else "")
                      + f" · {evolution.get('folder', '')}", style="dim", markup=False, soft_wrap=True)
        out.print()


@skills_app.command("diff")
def diff(
    v1: str = typer.Argument(..., help="Older version: head, v3, 3 or head~1."),
    v2: str = typer.Argument("head", help="Newer version (default: head)."),
    as_json: bool = typer.Option(False, "--json", help="The diff as JSON."),
    html: Path = typer.Option(None, "--html", help="Also write a self-contained HTML page with the diff and reuse."),
    bank: Path = typer.Option(None, "--bank", help=_BANK_HELP),
) -> None:
    """Skills added, removed, retired or flagged, and word-level changes inside each changed skill."""
    from escgraph.files import atomic_write
    from escgraph.skills_bank.diff import diff_versions, render_html, render_terminal, to_json

    with _clear_errors():
        result = diff_versions(_open(bank), v1, v2)
        if html is not None:
            atomic_write(html, render_html(result))
    if as_json:
        typer.echo(to_json(result))
    else:
        out = Console(highlight=False)
        # colour only on a colour terminal; otherwise git-style {+inserted+} [-deleted-] markers
        out.print(render_terminal(result, color=out.is_terminal and out.color_system is not None))
    if html is not None:
        typer.echo(f"wrote {html}", err=as_json)


@skills_app.command("import")
def import_(
    file: Path = typer.Argument(..., help="An export (YAML/JSON), a list of skills, or one skill."),
    author: str = typer.Option(None, "--author", help="Who imports (default: $ESCGRAPH_AUTHOR or your login)."),
    message: str = typer.Option(None, "--message", "-m", help="Why (the source file is recorded too)."),
    merge: bool = typer.Option(False, "--merge", help="Add the file's skills (replacing same-id ones) and keep the "
                                                      "others."),
    replace: bool = typer.Option(False, "--replace", help="Make the file the whole bank: skills not in it are "
                                                          "removed."),
    bank: Path = typer.Option(None, "--bank", help=_BANK_HELP + " A missing (or empty) folder becomes a new bank "
                                                               "holding just the file's skills."),
) -> None:
    """Validate every skill in FILE and commit them as a new version (kind: import).

    A bank that already holds skills needs --merge or --replace; without either the import is refused and
    nothing changes. With --bank NEW, a new bank is created first (v1 empty, v2 the import); to start from the
    built-in skills instead, run `escgraph skills init NEW` and import with --merge."""
    from escgraph.skills_bank.bankfiles import read_skills_export
    from escgraph.skills_bank.store import SkillBank

    if merge and replace:
        raise CLIError("--merge and --replace exclude each other: pick one")
    mode = True if replace else (False if merge else None)
    if bank is None or not _is_new_folder(bank):
        if bank is not None and not (bank / "bank.yaml").exists():
            raise CLIError(f"{_not_new_reason(bank)}; import into an existing bank, or give a missing or empty "
                           f"folder to create one")
        with _clear_errors():
            version = _open(bank).import_file(file, _author(author), message, replace=mode)
        typer.echo(f"committed {version.id} (import): {_counts(dict(version.changes))}")
        return
    who, existed = _author(author), bank.exists()
    with _clear_errors():
        read_skills_export(file)  # bad input fails here, before any folder is made
        with _creating_bank(bank):
            SkillBank.create(bank, [], author=who, message=f"new empty skills bank for an import of {file.name}",
                             kind="seed")
            version = SkillBank.open(bank).import_file(file, who, message, replace=mode)
    typer.echo(f"created skills bank {bank} (the folder was {'empty' if existed else 'missing'})")
    typer.echo(f"committed {version.id} (import): {_counts(dict(version.changes))}")


@skills_app.command("export")
def export(
    out: Path = typer.Option(..., "--out", "-o", help="File to write: .yaml, .yml or .json."),
    version: str = typer.Option("head", "--version", "-v", help="Version: head, v3, 3 or head~1."),
    bank: Path = typer.Option(None, "--bank", help=_BANK_HELP),
) -> None:
    """Write one version (metadata and every skill) to a single file."""
    with _clear_errors():
        opened = _open(bank)
        vid = opened.resolve(version)
        opened.export(vid, out)
    typer.echo(f"exported {vid} to {out}")


@skills_app.command("commit")
def commit(
    message: str = typer.Option(..., "--message", "-m", help="What changed and why."),
    author: str = typer.Option(None, "--author", help="Who (default: $ESCGRAPH_AUTHOR or your login)."),
    bank: Path = typer.Option(None, "--bank", help=_BANK_HELP),
) -> None:
    """Commit your hand edits of the working copy (BANK/skills/*.yaml) as a new version."""
    with _clear_errors():
        version = _open(bank).commit_from_folder(_author(author), message)
    typer.echo(f"committed {version.id}: {_counts(dict(version.changes))}")


# `skills units` and `skills discover` (skills from simulation runs) are registered by their own module
from escgraph.cli import skills_runs_cmd  # noqa: E402,F401
