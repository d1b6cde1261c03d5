"""``autopack login REGISTRY``: check a login against the registry, then store it the way
``docker login`` does, so later builds find it without flags."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from autopack import secrets
from autopack.error_handler import error_handler
from autopack.errors import UsageError

EXAMPLES = """\
Examples:

  printf '%s' "$REGISTRY_PASSWORD" | autopack login registry.example.com -u ci-bot --password-stdin

  autopack login 127.0.0.1:5001 -u pusher --password-stdin < ~/.secrets/registry
"""


def login(
    registry: Annotated[str, typer.Argument(metavar="REGISTRY", help="host[:port] of the registry.")],
    username: Annotated[str, typer.Option("-u", "--username", metavar="USER", help="The user name.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password (or token) from standard input; required, so that it never sits on a command line.")] = False,
) -> None:
    """Check a registry login and save it in the Docker config (or its credential store)."""
    with error_handler() as outcome:
        if not password_stdin:
            raise UsageError("autopack login reads the password from standard input only", "pipe it in and pass --password-stdin")
        if "/" in registry or "://" in registry:
            raise UsageError(f"'{registry}' is not a registry host", "give host[:port] only, e.g. registry.example.com:5000")
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise UsageError("no password on standard input", "pipe the password in")
        secrets.register(password)
        from autopack.push import credentials  # the docker SDK and requests: only when logging in
        from autopack.push.registry import RegistryClient

        auth = credentials.RegistryAuth(username, password, "autopack login")
        RegistryClient(registry, auth).check_login()
        path = credentials.store(registry, auth)
        typer.echo(f"Login to {registry} as {username} succeeded; saved in {path}")
    if outcome.exit_code:
        sys.stderr.write(outcome.line() + "\n")
    raise typer.Exit(outcome.exit_code)
