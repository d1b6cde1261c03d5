"""Options shared by several commands, declared once, and the code that turns them into
settings, a login and a finished run (summary, result object, exit code)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional

import typer

from autopack import reports, secrets
from autopack import settings as settings_module
from autopack.error_handler import error_handler, terminate_like_interrupt
from autopack.errors import UsageError
from autopack.files import write_atomically
from autopack.settings import Settings

if TYPE_CHECKING:
    from autopack.result import Journal, Result
    from autopack.source.base import Login

SOURCE = "Source"
OUTPUT = "Output"

Ref = Annotated[Optional[str], typer.Option("--ref", metavar="REF", help="git: branch, tag, commit SHA (full or short) or full ref such as refs/merge-requests/1/head.", rich_help_panel=SOURCE)]
Revision = Annotated[Optional[str], typer.Option("--revision", "-r", metavar="N|HEAD", help="svn: the revision (or write URL@N).", rich_help_panel=SOURCE)]
Branch = Annotated[Optional[str], typer.Option("--branch", metavar="NAME", help="svn: branches/NAME below the repository URL; git: the branch NAME.", rich_help_panel=SOURCE)]
SvnTag = Annotated[Optional[str], typer.Option("--svn-tag", metavar="NAME", help="svn: tags/NAME below the repository URL.", rich_help_panel=SOURCE)]
Vcs = Annotated[Optional[str], typer.Option("--vcs", metavar="git|svn", help="Force the kind of an http(s) URL instead of asking the server.", rich_help_panel=SOURCE)]
Subdir = Annotated[Optional[str], typer.Option("--subdir", metavar="PATH", help="The project's folder inside the repository.", rich_help_panel=SOURCE)]
Shallow = Annotated[Optional[bool], typer.Option("--shallow/--full", help="git: fetch only the ref (depth 1) when no cached mirror exists.", rich_help_panel=SOURCE, show_default=False)]
GitlabUrl = Annotated[Optional[str], typer.Option("--gitlab-url", metavar="URL", help="GitLab server for gitlab:group/project shorthands (default: $GITLAB_URL, $CI_SERVER_URL).", rich_help_panel=SOURCE)]
SvnUser = Annotated[Optional[str], typer.Option("--svn-user", metavar="NAME", help="svn user name (default: $AUTOPACK_SVN_USER).", rich_help_panel=SOURCE)]
SvnPasswordFile = Annotated[Optional[Path], typer.Option("--svn-password-file", metavar="FILE", help="Read the svn password from FILE (first line).", rich_help_panel=SOURCE)]
SvnPasswordStdin = Annotated[bool, typer.Option("--svn-password-stdin", help="Read the svn password from standard input.", rich_help_panel=SOURCE)]
SvnExternals = Annotated[
    Optional[bool],
    typer.Option(
        "--svn-externals/--no-svn-externals",
        help="svn: follow svn:externals (default: ignored); each must be on the source's own server (same scheme, host and port; file://: the same repository), or the run stops (exit 2).",
        rich_help_panel=SOURCE,
        show_default=False,
    ),
]

PUSH = "Push"
DockerHost = Annotated[Optional[str], typer.Option("--docker-host", metavar="URL", help="The Docker engine to use: tcp://host:2375, ssh://user@host, unix:///path (default: $DOCKER_HOST, else the local socket).", rich_help_panel=PUSH)]
Push = Annotated[Optional[list[str]], typer.Option("--push", metavar="DEST", help="Push every tag to registry[:port]/repository (repeatable); alone, to $CI_REGISTRY_IMAGE.", rich_help_panel=PUSH)]
Preflight = Annotated[Optional[bool], typer.Option("--preflight/--no-preflight", help="Check first that every destination grants push (default: on).", rich_help_panel=PUSH, show_default=False)]
PushMode = Annotated[
    Optional[str],
    typer.Option(
        "--push-mode",
        metavar="parallel|copy",
        help="parallel (the default): the engine pushes to every destination at once, fastest over wide-area links (a destination whose push failed or gave another digest then gets a copy); copy: push once through the engine, then copy those bytes registry to registry (one compression).",
        rich_help_panel=PUSH,
    ),
]
PushJobs = Annotated[Optional[int], typer.Option("--push-jobs", metavar="N", min=1, max=8, help="Destinations pushed at once (default: all of them, at most 8).", rich_help_panel=PUSH)]
PushRetries = Annotated[
    Optional[int],
    typer.Option(
        "--push-retries",
        metavar="N",
        min=0,
        max=10,
        help="Persistence with a transient push failure: each failing step is retried at least N times, and while within N × 15 s of its first failure (default: 3; 0: no retry).",
        rich_help_panel=PUSH,
    ),
]
ImmutableTags = Annotated[Optional[str], typer.Option("--immutable-tags", metavar="REGEX", help="Tags that may never change once pushed, e.g. '\\d+\\.\\d+\\.\\d+'.", rich_help_panel=PUSH)]
RegistryAuthFile = Annotated[Optional[Path], typer.Option("--registry-auth-file", metavar="FILE", help="Registry logins in Docker config.json form, tried first.", rich_help_panel=PUSH)]

Json = Annotated[bool, typer.Option("--json", help="Print the result object on stdout; logs go to stderr.", rich_help_panel=OUTPUT)]
ResultFile = Annotated[Optional[Path], typer.Option("--result-file", metavar="PATH", help="Write the result object to this file (also on failure).", rich_help_panel=OUTPUT)]
Dotenv = Annotated[Optional[Path], typer.Option("--dotenv", metavar="PATH", help="Write AUTOPACK_IMAGE, _DIGEST, _TAGS, _VERSION, _REVISION … as KEY=VALUE lines (GitLab artifacts:reports:dotenv).", rich_help_panel=OUTPUT)]
Properties = Annotated[Optional[Path], typer.Option("--properties", metavar="PATH", help="Write the same as a Java properties file (Jenkins readProperties).", rich_help_panel=OUTPUT)]
Plain = Annotated[bool, typer.Option("--plain", help="Plain timestamped lines, no live view (automatic when not a terminal or NO_COLOR is set).", rich_help_panel=OUTPUT)]
Quiet = Annotated[bool, typer.Option("-q", "--quiet", help="Only errors and the summary.", rich_help_panel=OUTPUT)]
Verbose = Annotated[bool, typer.Option("-v", "--verbose", help="Every line of Maven, of the checkout and of the image build.", rich_help_panel=OUTPUT)]
LogDir = Annotated[Optional[Path], typer.Option("--log-dir", metavar="DIR", help="Where each run keeps its logs (default: the user log directory).", rich_help_panel=OUTPUT)]
Config = Annotated[Optional[Path], typer.Option("--config", metavar="FILE", help="Settings file (default: autopack.toml in the project).", rich_help_panel=OUTPUT)]


SOURCE_OPTIONS = ("ref", "revision", "branch", "svn_tag", "vcs", "subdir", "shallow", "gitlab_url", "svn_user", "svn_password_file", "svn_externals")
PUSH_OPTIONS = ("preflight", "push_mode", "push_jobs", "push_retries", "immutable_tags", "registry_auth_file", "docker_host")


def source_values(given: dict[str, Any]) -> dict[str, Any]:
    """The source options a command received (its ``locals()``), as settings values."""
    return {name: given[name] for name in SOURCE_OPTIONS}


def push_values(given: dict[str, Any]) -> dict[str, Any]:
    """The push options a command received, as settings values (``--push`` → destinations)."""
    return {"destinations": tuple(given["push"] or ()), **{name: given[name] for name in PUSH_OPTIONS}}


def svn_login(settings: Settings, from_stdin: bool) -> Login | None:
    """An svn login from --svn-password-file or --svn-password-stdin; the environment's
    AUTOPACK_SVN_USER/AUTOPACK_SVN_PASSWORD are read by the svn backend itself."""
    if not (settings.svn_password_file or from_stdin):
        return None
    user = settings.svn_user or os.environ.get("AUTOPACK_SVN_USER")
    if not user:
        raise UsageError("an svn password was given without a user name", "pass --svn-user NAME or set AUTOPACK_SVN_USER")
    if from_stdin:
        password, origin = sys.stdin.readline().rstrip("\r\n"), "--svn-password-stdin"
    else:
        assert settings.svn_password_file
        try:
            password = settings.svn_password_file.read_text(encoding="utf-8").splitlines()[0]
        except (OSError, IndexError) as e:
            raise UsageError(f"cannot read a password from {settings.svn_password_file}", "give a readable file whose first line is the password") from e
        origin = "--svn-password-file"
    if not password:
        raise UsageError(f"the password from {origin} is empty", "give the password on its first line")
    secrets.register(password)
    from autopack.source.base import Login  # here: the source package is not needed for --help

    return Login(user, password, origin)


def run_command(
    *,
    stages: dict[str, str],
    cli: dict[str, Any] | Callable[[], dict[str, Any]],
    config: Path | None,
    json_out: bool,
    result_file: Path | None,
    plain: bool,
    dotenv: Path | None = None,
    properties: Path | None = None,
    quiet: bool,
    verbose: bool,
    log_dir: Path | None,
    password_stdin: bool,
    body: Callable[[Settings, Any, Journal, Login | None], object],
    document: Callable[[Result, int, dict[str, str] | None], dict[str, Any]] | None = None,
) -> None:
    """Resolve settings, run ``body`` under a renderer, then summary, result and exit code —
    the same way for every command. ``cli`` may be a function, so that a malformed option
    value (``-D foo``) is reported like any other usage error. ``document`` makes the object
    printed and written from the run's result (default: the result object itself)."""
    with terminate_like_interrupt():  # until the result is written: a SIGTERM unwinds like Ctrl-C
        stream = sys.stderr if json_out else sys.stdout
        verbosity: Literal["quiet", "normal", "verbose"] = "quiet" if quiet else "verbose" if verbose else "normal"
        # What a command needs only once it runs (the result's stage values, the renderers)
        # is imported here, so that --help and --version start fast.
        from autopack import result
        from autopack.ui import make_renderer

        journal = result.Journal()
        renderer = None
        secrets.register_environment(os.environ)
        with error_handler(log_dir) as outcome:
            settings = settings_module.resolve(cli() if callable(cli) else cli, config=config)
            if settings.docker_host:  # the docker SDK, the docker CLI and the project's own tools read it
                os.environ["DOCKER_HOST"] = settings.docker_host
            login = svn_login(settings, password_stdin)
            renderer = make_renderer(stream, stages, verbosity, plain)
            with renderer:
                body(settings, renderer, journal, login)
        data = (document or result.Result.to_dict)(journal.result, outcome.exit_code, outcome.error)
        if renderer is not None:
            renderer.summary(data)
        text = result.dumps(data)
        if result_file:
            write_atomically(result_file, text)
        if dotenv:
            write_atomically(dotenv, reports.dotenv(data))
        if properties:
            write_atomically(properties, reports.properties(data))
        if json_out:
            sys.stdout.write(text)
            sys.stdout.flush()
        if outcome.exit_code:
            sys.stderr.write(outcome.line() + "\n")
        code = outcome.exit_code
    raise typer.Exit(code)
