"""``autopack doctor``: what a build here would use, checked — engine and builders, Maven and
Java, git and the svn backend, the cache, each destination's credential and push rights —
with the settings a build would resolve (options, AUTOPACK_* environment, autopack.toml)."""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from autopack import secrets
from autopack import settings as settings_module
from autopack.commands import options as o
from autopack.error_handler import error_handler
from autopack.errors import AutopackError

EXAMPLES = """\
Examples:

  autopack doctor                                  # this machine, for the project in this directory

  autopack doctor services/orders --push registry.example.com/team/orders

  autopack doctor --json | jq '.checks[] | select(.status == "fail")'

Exit codes: 0 every check passed (warnings allowed), 2 a build would not work as configured.
"""


def doctor(
    project: Annotated[Optional[Path], typer.Argument(metavar="DIR", help="The project directory whose autopack.toml and pom.xml are read (default: .).", show_default=False)] = None,
    engine: Annotated[Optional[str], typer.Option("--engine", metavar="auto|buildkit|docker-api|buildah|direct|buildkitd", help="The builder to check, as build takes it (default: auto).")] = None,
    builder: Annotated[Optional[str], typer.Option("--builder", metavar="ADDR", help="A BuildKit daemon's address, as build takes it (default: $BUILDKIT_HOST).")] = None,
    docker_host: o.DockerHost = None,
    push: o.Push = None,
    registry_auth_file: o.RegistryAuthFile = None,
    push_retries: o.PushRetries = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the checks as JSON on stdout (kind autopack-doctor, version 1).", rich_help_panel=o.OUTPUT)] = False,
    plain: Annotated[bool, typer.Option("--plain", help="Plain lines, no table (automatic when not a terminal or NO_COLOR is set).", rich_help_panel=o.OUTPUT)] = False,
    config: o.Config = None,
) -> None:
    """Check that a build would work here, as configured: a ✓/✗ table with a one-line fix per failure."""
    code = 0
    with error_handler() as outcome:
        secrets.register_environment(os.environ)
        # No DIR: the source a build would take ($AUTOPACK_SOURCE, the CI job's directory, else .).
        cli = {"source": str(project) if project else None, "engine": engine, "builder": builder, "docker_host": docker_host, "destinations": tuple(push or ()), "registry_auth_file": registry_auth_file, "push_retries": push_retries}
        problem: AutopackError | None = None
        try:
            settings = settings_module.resolve(cli, config=config)
        except AutopackError as e:  # shown as the failed settings check; the rest is checked without the file
            problem = e
            settings = _without_file(cli)
        directory = Path(settings.source)
        from autopack import doctor as checks_module  # the engine, Maven and registry machinery: only now
        from autopack.ui import doctor as view

        checks = checks_module.run(settings, directory.resolve(), problem)
        if json_out:
            view.write_json(checks, sys.stdout)
        else:
            view.render(checks, sys.stdout, plain)
        code = checks_module.exit_code(checks)
    if outcome.exit_code:
        sys.stderr.write(outcome.line() + "\n")
        code = outcome.exit_code
    raise typer.Exit(code)


def _without_file(cli: Mapping[str, Any]) -> settings_module.Settings:
    """The settings from the options and the environment alone, for a settings file that
    cannot be read: resolved for an empty directory, then given the source back."""
    with tempfile.TemporaryDirectory(prefix="autopack-doctor-") as empty:
        found = settings_module.resolve({**cli, "source": empty})
    source = cli.get("source") or os.environ.get("AUTOPACK_SOURCE") or "."
    return dataclasses.replace(found, source=str(source))
