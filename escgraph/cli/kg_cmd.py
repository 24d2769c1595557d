"""``escgraph kg``: import a HEAL knowledge-graph folder, query a knowledge graph."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer

from escgraph.cli._app import CLIError, app

kg_app = typer.Typer(help="Knowledge graph of distress cases (HEAL schema): import and query.", no_args_is_help=True)
app.add_typer(kg_app, name="kg")


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


@kg_app.command("import-heal")
def import_heal(
    folder: Path = typer.Argument(..., help="A HEAL folder with nodes/*.txt and edges/*.txt."),
    out: Path = typer.Option(..., "--out", "-o", help="Knowledge-graph file to write (JSON; embeddings beside it)."),
) -> None:
    """Load a HEAL folder (missing files are skipped and reported) and save it for `kg query` and the kemi graph."""
    from rich.console import Console

    from escgraph.memory.knowledge_graph import KnowledgeGraphError, load_heal

    console = Console(stderr=True, highlight=False)
    try:
        graph, report = load_heal(folder)
    except KnowledgeGraphError as exc:
        raise CLIError(str(exc)) from None
    console.print(report.describe(), markup=False, soft_wrap=True)
    with console.status("embedding stressor stories"):
        try:
            graph.save(out)
        except OSError as exc:
            raise CLIError(f"cannot write {out}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {out} ({report.total_nodes} nodes, {report.total_edges} edges)")


@kg_app.command("query")
def query(
    text: str = typer.Argument(..., help="What the seeker said."),
    kg: Path = typer.Option(None, "--kg", help="Knowledge-graph file (default: escgraph's authored graph)."),
    expectation: str = typer.Option(None, "--expectation", "-e", help="What the seeker hopes for."),
    k: int = typer.Option(3, "--k", min=1, help="Stressors to return."),
    threshold: float = typer.Option(0.35, "--threshold", help="Minimum story similarity."),
    as_json: bool = typer.Option(False, "--json", help="JSON output."),
) -> None:
    """Cases like TEXT: matching stressors and the responses that fit them best."""
    from escgraph.memory.knowledge_graph import KnowledgeGraph, KnowledgeGraphError, default_knowledge_graph

    try:
        graph = KnowledgeGraph.load(kg) if kg else default_knowledge_graph()
    except KnowledgeGraphError as exc:
        raise CLIError(str(exc)) from None
    hits = graph.retrieve(text, expectation=expectation, k=k, threshold=threshold)
    if as_json:  # always valid JSON: a number that is not finite is written as null, never NaN or Infinity
        typer.echo(json.dumps(_finite([h.to_dict() for h in hits]), ensure_ascii=False, indent=2, allow_nan=False))
        return
    if not hits:
        typer.echo(f"no stressor story is similar enough (threshold {threshold}); try a lower --threshold")
        return
    for h in hits:
        typer.echo(f"{h.stressor_id}  {h.similarity:.2f}  {h.stressor}")
        if h.affective_states:
            typer.echo(f"    feels: {', '.join(h.affective_states)}")
        for r in h.responses:
            typer.echo(f"    {r.id}  {r.score:.2f}  {r.text}")
            typer.echo(f"          ({'; '.join(r.why)})")
