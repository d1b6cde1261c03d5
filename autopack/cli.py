"""The command line: the typer app and its commands (one module each in ``commands/``)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from autopack import __version__
from autopack.commands import build, checkout

app = typer.Typer(
    name="autopack",
    help="One command from a Java/Maven service to a tagged container image.",
    epilog="Run `autopack COMMAND --help` for every option, with examples. Exit codes: 0 ok, 1 internal, 2 usage/config, 3 source, 4 maven, 5 image, 6 push, 130 interrupted.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
app.command(epilog=build.EXAMPLES)(build.build)
app.command(epilog=checkout.EXAMPLES)(checkout.checkout)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"autopack {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None,
) -> None:
    """autopack: check out, package with Maven, build the image — visible from start to end."""


def main() -> None:
    app()
