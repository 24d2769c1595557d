"""``escgraph graphs``: list the registered graphs."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from escgraph.cli._app import app


@app.command("graphs")
def graphs(as_json: bool = typer.Option(False, "--json", help="One JSON object per graph.")) -> None:
    """List the registered graphs with a one-line description and what they draw on (skills bank, planner,
    knowledge graph)."""
    from escgraph.graphs import list_graphs

    infos = list_graphs()
    if as_json:
        for info in infos:
            typer.echo(json.dumps({"name": info.name, "description": info.description,
                                   "uses": info.capabilities}))
        return
    table = Table(show_header=True, header_style="bold")
    table.add_column("graph")
    table.add_column("description")
    table.add_column("uses")
    for info in infos:
        table.add_row(info.name, info.description, ", ".join(info.capabilities) or "–")
    Console().print(table)
