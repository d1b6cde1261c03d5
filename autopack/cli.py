"""The command line: parses options into Settings, picks the renderer, runs the pipeline and
turns the outcome into a summary, a result object and an exit code."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from autopack import __version__, pipeline, result, settings as settings_module
from autopack.error_handler import error_handler
from autopack.result import Record
from autopack.ui import make_renderer

EXAMPLES = """\
Examples:

  autopack build                                  # the project in this directory

  autopack build services/orders -t '{version}' -t '{version}-{revision}'

  autopack build --image registry.example.com/team/orders --build-number 42 -t '{version}-b{build}'

  Maven: autopack build -P prod -D revision=1.4.0 --skip-tests --offline -s ci-settings.xml --maven-arg=-U

  Image: autopack build -f docker/Dockerfile --build-arg JAVA_OPTS=-Xmx256m --target runtime --no-cache

  Output: autopack build --json > result.json   |   autopack build --plain --result-file out/result.json -v
"""

app = typer.Typer(
    name="autopack",
    help="One command from a Java/Maven service to a tagged container image.",
    epilog="Run `autopack build --help` for every option, with examples. Exit codes: 0 ok, 1 internal, 2 usage/config, 3 source, 4 maven, 5 image, 6 push, 130 interrupted.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)

MAVEN = "Maven"
IMAGE = "Image"
OUTPUT = "Output"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"autopack {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None,
) -> None:
    """autopack: check out, package with Maven, build the image — visible from start to end."""


@app.command(epilog=EXAMPLES)
def build(
    path: Annotated[Optional[str], typer.Argument(metavar="PATH", help="The project: a directory holding pom.xml (default: .).", show_default=False)] = None,
    # Maven
    profile: Annotated[Optional[list[str]], typer.Option("-P", "--profile", metavar="NAME", help="Maven profile to activate (repeatable, or comma-separated).", rich_help_panel=MAVEN)] = None,
    define: Annotated[Optional[list[str]], typer.Option("-D", "--define", metavar="KEY=VALUE", help="Maven user property, also used to read the pom (${revision}).", rich_help_panel=MAVEN)] = None,
    skip_tests: Annotated[Optional[bool], typer.Option("--skip-tests/--run-tests", help="Pass -DskipTests to Maven.", rich_help_panel=MAVEN, show_default=False)] = None,
    maven_settings: Annotated[Optional[Path], typer.Option("-s", "--settings", metavar="FILE", help="Maven settings.xml to use.", rich_help_panel=MAVEN)] = None,
    offline: Annotated[Optional[bool], typer.Option("--offline/--online", help="Run Maven offline (-o).", rich_help_panel=MAVEN, show_default=False)] = None,
    maven_arg: Annotated[Optional[list[str]], typer.Option("--maven-arg", metavar="ARG", help="Extra Maven argument, passed as is (repeatable; write --maven-arg=-U).", rich_help_panel=MAVEN)] = None,
    goal: Annotated[Optional[list[str]], typer.Option("--goal", metavar="GOAL", help="Maven goal or phase (repeatable) (default: clean package).", rich_help_panel=MAVEN)] = None,
    # image
    file: Annotated[Optional[Path], typer.Option("-f", "--file", metavar="FILE", help="Dockerfile, relative to the project (default: Dockerfile).", rich_help_panel=IMAGE)] = None,
    image: Annotated[Optional[str], typer.Option("--image", metavar="NAME", help="Image name, e.g. registry:5000/team/app (default: the artifactId).", rich_help_panel=IMAGE)] = None,
    tag: Annotated[Optional[list[str]], typer.Option("-t", "--tag", metavar="TEMPLATE", help="Tag template (repeatable): {version} {revision} {branch} {build} {timestamp} {artifactId} {groupId}; with a ':' it is a whole name:tag (default: {version}).", rich_help_panel=IMAGE)] = None,
    build_arg: Annotated[Optional[list[str]], typer.Option("--build-arg", metavar="KEY=VALUE", help="Docker build argument (repeatable); ARTIFACT and VERSION are set for you.", rich_help_panel=IMAGE)] = None,
    target: Annotated[Optional[str], typer.Option("--target", metavar="STAGE", help="Dockerfile stage to build.", rich_help_panel=IMAGE)] = None,
    no_cache: Annotated[Optional[bool], typer.Option("--no-cache/--cache", help="Build without the engine's layer cache.", rich_help_panel=IMAGE, show_default=False)] = None,
    pull: Annotated[Optional[bool], typer.Option("--pull/--no-pull", help="Always try to pull newer base images.", rich_help_panel=IMAGE, show_default=False)] = None,
    network: Annotated[Optional[str], typer.Option("--network", metavar="MODE", help="Network mode for RUN steps (e.g. host, none).", rich_help_panel=IMAGE)] = None,
    build_number: Annotated[Optional[str], typer.Option("--build-number", metavar="N", help="The CI build number for {build} (default: $CI_PIPELINE_IID or $BUILD_NUMBER).", rich_help_panel=IMAGE)] = None,
    # output
    json_out: Annotated[bool, typer.Option("--json", help="Print the result object on stdout; logs go to stderr.", rich_help_panel=OUTPUT)] = False,
    result_file: Annotated[Optional[Path], typer.Option("--result-file", metavar="PATH", help="Write the result object to this file (also on failure).", rich_help_panel=OUTPUT)] = None,
    plain: Annotated[bool, typer.Option("--plain", help="Plain timestamped lines, no live view (automatic when not a terminal or NO_COLOR is set).", rich_help_panel=OUTPUT)] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only errors and the summary.", rich_help_panel=OUTPUT)] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Every line of Maven and of the image build.", rich_help_panel=OUTPUT)] = False,
    log_dir: Annotated[Optional[Path], typer.Option("--log-dir", metavar="DIR", help="Where each run keeps its logs (default: the user log directory).", rich_help_panel=OUTPUT)] = None,
    config: Annotated[Optional[Path], typer.Option("--config", metavar="FILE", help="Settings file (default: autopack.toml in the project).", rich_help_panel=OUTPUT)] = None,
) -> None:
    """Build the Maven project at PATH and package it into a tagged image."""
    stream = sys.stderr if json_out else sys.stdout
    verbosity = "quiet" if quiet else "verbose" if verbose else "normal"
    record = Record()
    with error_handler(log_dir) as outcome:
        settings = settings_module.resolve(
            {
                "source": path,
                "profiles": tuple(p for item in profile or () for p in item.split(",") if p),
                "defines": settings_module.parse_pairs(define or (), "-D/--define"),
                "skip_tests": skip_tests,
                "maven_settings": maven_settings,
                "offline": offline,
                "maven_args": tuple(maven_arg or ()),
                "goals": tuple(goal or ()),
                "dockerfile": file,
                "image": image,
                "tags": tuple(tag or ()),
                "build_args": settings_module.parse_pairs(build_arg or (), "--build-arg"),
                "target": target,
                "no_cache": no_cache,
                "pull": pull,
                "network": network,
                "build_number": build_number,
                "log_dir": log_dir,
                "result_file": result_file,
            },
            config=config,
        )
        renderer = make_renderer(stream, pipeline.STAGES, verbosity, plain)
        with renderer:
            pipeline.run(settings, renderer, record)
    data = record.to_dict(outcome.exit_code, outcome.error)
    if "renderer" in locals():
        renderer.summary(data)
    text = result.dumps(data)
    if result_file:
        result.write_atomically(result_file, text)
    if json_out:
        sys.stdout.write(text)
        sys.stdout.flush()
    if outcome.exit_code:
        sys.stderr.write(outcome.line() + "\n")
    raise typer.Exit(outcome.exit_code)


def main() -> None:
    app()
