"""``escgraph safety check``: run the safety gate's detector on text and print one JSON line per input."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from escgraph.cli._app import CLIError, app
from escgraph.cli._run_options import SafetyFormat, SafetyFormatOption, SafetyModelOption, safety_options

safety_app = typer.Typer(help="Safety gate tools.", no_args_is_help=True)
app.add_typer(safety_app, name="safety")


def _verdict_json(verdict: Any, **extra: Any) -> str:
    data = {**extra, "crisis": verdict.crisis, "category": verdict.category, "score": round(verdict.score, 4),
            "reasons": verdict.reasons}
    return json.dumps(data, ensure_ascii=False)


def _jsonl_texts(path: Path) -> list[tuple[int, str | None, str | None]]:
    """(line number, text or None, error or None) for every non-blank line."""
    from escgraph.datafiles import DataFileError, parse_json

    try:
        raw_lines = sys.stdin.buffer.read().splitlines() if str(path) == "-" else path.read_bytes().splitlines()
    except OSError as exc:
        raise CLIError(f"cannot read {path}: {exc.strerror}") from None
    out = []
    for line_no, raw in enumerate(raw_lines, start=1):
        if not raw.strip():
            continue
        try:
            item = parse_json(raw.decode("utf-8"), f"line {line_no}")  # strict, nesting bounded (datafiles)
        except UnicodeDecodeError:
            out.append((line_no, None, "not valid UTF-8"))
            continue
        except DataFileError as exc:
            out.append((line_no, None, exc.problem.replace(" at line 1, column ", " at column ")))
            continue
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            out.append((line_no, None, 'expected an object with a string "text" field'))
            continue
        out.append((line_no, item["text"], None))
    return out


@safety_app.command("check")
def check(
    text: str = typer.Argument(None, help="Message to check."),
    jsonl: Path = typer.Option(None, "--jsonl", help='File of {"text": ...} lines to check ("-" for stdin).'),
    locale: str = typer.Option("en", "--locale", help="Locale for the safety reply (with --reply)."),
    reply: bool = typer.Option(False, "--reply", help="Also print the safety reply for crisis messages."),
    model: SafetyModelOption = None,
    model_format: SafetyFormatOption = SafetyFormat.structured,
    base_url: str = typer.Option(None, "--base-url", help="OpenAI-compatible server for a provider:model "
                                                          "--safety-model."),
) -> None:
    """Print one JSON line per input with crisis, category, score and reasons."""
    from escgraph.agents.safety import default_detector, safety_reply
    from escgraph.llm import ModelSpecError, load_chat_model

    if (text is None) == (jsonl is None):
        raise CLIError("give either TEXT or --jsonl FILE")
    chosen = safety_options(model, model_format)
    detector = default_detector()
    if chosen["safety_model"]:
        try:
            guard = load_chat_model(chosen["safety_model"], base_url=base_url)
        except ModelSpecError as exc:
            raise CLIError(str(exc)) from None
        detector = detector.with_model(guard, chosen["safety_format"])
    if text is not None:
        verdict = detector.check(text)
        extra = {"reply": safety_reply(verdict, locale)} if reply and verdict.crisis else {}
        typer.echo(_verdict_json(verdict, **extra))
        return
    items = _jsonl_texts(jsonl)
    good = [(n, t) for n, t, e in items if e is None]
    verdicts = dict(zip([n for n, _ in good], detector.check_many([t for _, t in good])))
    errors = 0
    for line_no, _, error in items:
        if error is not None:
            errors += 1
            print(f"escgraph: {jsonl}: line {line_no}: {error}", file=sys.stderr)
            typer.echo(json.dumps({"line": line_no, "error": error}))
            continue
        verdict = verdicts[line_no]
        extra = {"reply": safety_reply(verdict, locale)} if reply and verdict.crisis else {}
        typer.echo(_verdict_json(verdict, line=line_no, **extra))
    if errors:
        raise typer.Exit(1)
