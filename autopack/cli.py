"""The command line: the typer app and its commands (one module each in ``commands/``)."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from autopack import __version__, reports
from autopack.ci import CI_REGISTRY_IMAGE
from autopack.commands import build, checkout, doctor, login, push
from autopack.commands import cache as cache_command
from autopack.commands import init as init_command

app = typer.Typer(
    name="autopack",
    help="One command from a Java/Maven service to a tagged container image.",
    epilog="Run `autopack COMMAND --help` for every option, with examples. Exit codes: 0 ok, 1 internal, 2 usage/config, 3 source, 4 maven, 5 image, 6 push, 130 interrupted.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
app.command(epilog=build.EXAMPLES)(build.build)
app.command(name="plan", epilog=build.PLAN_EXAMPLES)(build.plan)
app.command(epilog=checkout.EXAMPLES)(checkout.checkout)
app.command(epilog=push.EXAMPLES)(push.push)
app.command(epilog=login.EXAMPLES)(login.login)
app.command(epilog=doctor.EXAMPLES)(doctor.doctor)
app.command(name="init", epilog=init_command.EXAMPLES)(init_command.init)
app.add_typer(cache_command.app, name="cache")


@app.command(epilog="Examples:\n\n  autopack schema > autopack-result.schema.json\n\n  autopack schema --plan > autopack-plan.schema.json")
def schema(
    plan: Annotated[bool, typer.Option("--plan", help="The schema of the plan object (autopack plan --json) instead.")] = False,
) -> None:
    """Print the JSON Schema of the result object (--json, --result-file)."""
    typer.echo(reports.schema_text("plan" if plan else "result"), nl=False)


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
    app(args=with_bare_push(sys.argv[1:]))


def with_bare_push(argv: list[str]) -> list[str]:
    """A ``--push`` with no value (last, or followed by another option) means GitLab's
    ``$CI_REGISTRY_IMAGE``; click has no optional option values, so say it explicitly."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        out.append(arg)
        if arg == "--push" and (i + 1 == len(argv) or argv[i + 1].startswith("-")):
            out.append(CI_REGISTRY_IMAGE)
    return out
