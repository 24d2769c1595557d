"""``escgraph planner``: train an external strategy planner on ESConv, predict strategies for cases, evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from escgraph.cli._app import CLIError, app

planner_app = typer.Typer(help="Strategy planners: train on ESConv (CPU, minutes), predict, evaluate (Q, B).",
                          no_args_is_help=True)
app.add_typer(planner_app, name="planner")


def _cases(path: Path) -> list[dict]:
    from escgraph.esconv import ESConvError, read_cases

    try:
        return read_cases(path)
    except ESConvError as exc:
        raise CLIError(str(exc)) from None


@planner_app.command("train")
def train(esconv: Path = typer.Option(..., "--esconv", help="ESConv training file (either shape)."),
          valid: Path = typer.Option(None, "--valid", help="ESConv validation file: measured, never fitted."),
          out: Path = typer.Option(..., "--out", "-o", help="Planner folder to write."),
          c: float = typer.Option(0.2, "--c", min=1e-6, help="Inverse regularisation strength."),
          seed: int = typer.Option(13, "--seed")) -> None:
    """Train the planner on CPU and save it (numbers only, no pickle) with a manifest of its validation scores."""
    from escgraph.esconv import ESConvError, load_esconv, to_cases
    from escgraph.planner_train import train_planner

    try:
        train_d, _ = load_esconv(esconv)
        valid_d = load_esconv(valid)[0] if valid else None
    except ESConvError as exc:
        raise CLIError(str(exc)) from None
    manifest = train_planner(to_cases(train_d, source="train"), out, c=c, seed=seed,
                             valid_cases=to_cases(valid_d, source="valid") if valid_d else None,
                             log=lambda m: typer.echo(m, err=True))
    typer.echo(f"trained on {manifest['training']['cases']} cases in {manifest['training']['seconds']} s -> {out}")
    for name, scores in manifest["validation"].items():
        if isinstance(scores, dict):
            typer.echo(f"validation ({name}): Q {scores['Q']:.1f} · B {scores['B']:.3f} · accuracy "
                       f"{100 * scores['accuracy']:.1f}%")


@planner_app.command("predict")
def predict_cmd(planner: str = typer.Option(..., "--planner", help="Planner folder, or llm:<model spec> for "
                                                                    "the zero-shot LLM planner."),
                cases: Path = typer.Option(..., "--cases", help="Cases (JSON lines, ARCHITECTURE.md format)."),
                out: Path = typer.Option(..., "--out", "-o", help="Predictions: one {id, pred} per line."),
                with_distribution: bool = typer.Option(False, "--distribution", help="Also write each case's "
                                                                                     "distribution.")) -> None:
    """One prediction per case id."""
    from escgraph.esconv import write_jsonl
    from escgraph.agents.llm_planner import load_planner
    from escgraph.planner import PlannerError

    rows = _cases(cases)
    try:
        model = load_planner(planner)
    except PlannerError as exc:
        raise CLIError(str(exc)) from None
    dists = model.distributions(rows)
    n = write_jsonl(({"id": c["id"], "pred": max(d, key=d.get), **({"distribution": d} if with_distribution else {})}
                     for c, d in zip(rows, dists)), out)
    typer.echo(f"wrote {n} predictions to {out}")


@planner_app.command("eval")
def eval_cmd(cases: Path = typer.Option(..., "--cases", help="Cases with gold strategies."),
             pred: Path = typer.Option(..., "--pred", help="Predictions: {id, pred} per line."),
             plot: Path = typer.Option(None, "--plot", help="Confusion-matrix SVG (default: beside --pred)."),
             as_json: bool = typer.Option(False, "--json", help="JSON output.")) -> None:
    """Q (macro-F1), B (preference bias), accuracy, per-strategy F1 and preferences; writes a confusion matrix."""
    from escgraph.datafiles import MAX_DATASET_BYTES, DataFileError, parse_json, read_text
    from escgraph.planner_eval import confusion_svg, evaluate
    from escgraph.types import STRATEGIES

    gold = {c["id"]: c.get("gold") for c in _cases(cases)}
    if not pred.is_file():
        raise CLIError(f"{pred}: no such file")
    predicted: dict[str, str] = {}
    line_of: dict[str, int] = {}
    try:
        pred_text = read_text(pred, max_bytes=MAX_DATASET_BYTES)
    except (OSError, DataFileError) as exc:
        raise CLIError(str(exc) if isinstance(exc, DataFileError) else f"cannot read {pred}: {exc.strerror}") \
            from None
    for n, line in enumerate(pred_text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = parse_json(line, f"{pred}: line {n}")  # strict, nesting bounded (escgraph.datafiles)
            case_id, predicted_strategy = str(row["id"]), row["pred"]
        except DataFileError as exc:
            raise CLIError(str(exc).replace(" at line 1, column ", " at column ")) from None
        except (KeyError, TypeError):
            raise CLIError(f"{pred}: line {n}: expected {{\"id\": ..., \"pred\": ...}}") from None
        if not isinstance(predicted_strategy, str):
            raise CLIError(f"{pred}: line {n}: \"pred\" must be one strategy name, not {predicted_strategy!r}")
        if case_id in line_of:  # which of two answers counts is not ours to guess
            raise CLIError(f"{pred}: line {n}: a second prediction for case {case_id!r} (first on line "
                           f"{line_of[case_id]}); give one prediction per case id")
        predicted[case_id], line_of[case_id] = predicted_strategy, n
    if bad := sorted({p for p in predicted.values() if p not in STRATEGIES}):
        raise CLIError(f"{pred}: unknown strategies {bad[:3]}; predictions must be one of the eight")
    if missing := [i for i in gold if gold[i] in STRATEGIES and str(i) not in predicted]:
        raise CLIError(f"{pred}: no prediction for {len(missing)} case(s), e.g. {missing[0]!r}")
    ids = [i for i in gold if gold[i] in STRATEGIES]
    if not ids:
        raise CLIError(f"{cases}: no case has a gold strategy")
    known = {str(i) for i in gold}
    if extra := [i for i in predicted if i not in known]:
        typer.echo(f"note: {len(extra)} prediction(s) for ids not in {cases.name} were ignored, e.g. {extra[0]!r}",
                   err=True)
    g, p = [gold[i] for i in ids], [predicted[str(i)] for i in ids]
    result = evaluate(g, p)
    plot = plot or pred.with_suffix(".confusion.svg")
    plot.write_text(confusion_svg(g, p, title=pred.name), encoding="utf-8")
    if as_json:
        typer.echo(json.dumps({**result, "plot": str(plot)}, indent=2))
        return
    typer.echo(f"{result['n']} cases · Q {result['Q']:.2f} · B {result['B']:.3f} · accuracy {result['accuracy']:.1f}%")
    typer.echo(f"{'strategy':<30}{'F1':>7}{'pref':>8}{'gold':>7}{'pred':>7}")
    for s in STRATEGIES:
        typer.echo(f"{s:<30}{result['f1'][s]:>7.1f}{result['preferences'][s]:>8.2f}{result['gold'][s]:>7}"
                   f"{result['predicted'][s]:>7}")
    typer.echo(f"confusion matrix: {plot}")
