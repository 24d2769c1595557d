"""The ``escgraph`` command line (typer + rich)."""

from escgraph.cli._app import app, main

__all__ = ["app", "main"]
