"""Root typer app; known errors become one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import sys

import typer

from escgraph import __version__

app = typer.Typer(
    name="escgraph",
    help="Multi-agent emotional support conversation: chat with counselor graphs, check safety, simulate.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # plain click errors: one line, no boxed panel
)


# The ClickException class typer catches: recent typer versions vendor their own click.
_ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def _printable_line(message: object) -> str:
    """One line: whitespace runs (newlines too) become a space, other control characters are shown escaped."""
    text = " ".join(str(message).split())
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class CLIError(_ClickException):
    """An error the user can fix: printed as one line on stderr, exit code ``code``, no traceback."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(_printable_line(message))
        self.exit_code = code

    def show(self, file=None) -> None:  # noqa: ANN001 - click's signature
        typer.echo(f"escgraph: error: {self.message}", file=file or sys.stderr)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"escgraph {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """escgraph command line."""


def _register_commands() -> None:
    # imported here so `escgraph --version` does not pay for langgraph imports
    from escgraph.cli import (chat_cmd, esconv_cmd, evolve_cmd, graphs_cmd, kg_cmd, memory_cmd,  # noqa: F401
                              planner_cmd, safety_cmd, simulate_cmd, skills_cmd)


def main(argv: list[str] | None = None) -> None:
    _register_commands()
    app(args=argv, standalone_mode=True)


def cli_app() -> typer.Typer:
    """The app with every command registered (for tests and embedding)."""
    _register_commands()
    return app
