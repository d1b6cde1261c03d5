"""``autopack init [PATH]``: make a pom-only project buildable — per service module a
Dockerfile (Spring Boot layered, a runnable jar, a war on a servlet container) and a
``.dockerignore``, and a commented ``autopack.toml`` at the root. Never overwrites a file
without ``--force``: all files are written, or none."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from autopack.error_handler import error_handler
from autopack.errors import UsageError

if TYPE_CHECKING:  # the pom model and templates: imported when init runs, not for --help
    from autopack import scaffold

EXAMPLES = """\
Examples:

  autopack init                                   # the project in this directory

  autopack init services --base-image registry.example.com/base/temurin:21-jre --image registry.example.com/team

  autopack init --module orders --force           # write (again) only the orders service's files
"""

NEXT = ("autopack doctor", "autopack plan", "autopack build")


def init(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="The Maven project: a directory holding pom.xml (one module or a reactor).")] = Path("."),
    base_image: Annotated[
        Optional[str],
        typer.Option("--base-image", metavar="IMAGE", help="The Dockerfiles' default base image (default: eclipse-temurin:<Java release>-jre from the pom; a war: tomcat:10.1-jre<release>)."),
    ] = None,
    image: Annotated[Optional[str], typer.Option("--image", metavar="NAME", help="The image name written to autopack.toml (a reactor: the prefix of every image's name); default: the artifactId.")] = None,
    module: Annotated[Optional[list[str]], typer.Option("-m", "--module", metavar="NAME", help="Write only this service module's files (artifactId or path; repeatable).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that exist already.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print what was written as a JSON object on stdout.")] = False,
) -> None:
    """Write a Dockerfile, .dockerignore and autopack.toml for a pom project that has none."""
    with error_handler() as outcome:
        from autopack import scaffold, tags
        from autopack.maven import config as maven_config
        from autopack.maven.reactor import load_reactor
        from autopack.settings import Settings

        if base_image is not None:
            name = base_image.partition("@")[0]  # a digest may pin it
            _check_reference("--base-image", base_image, name if tags.split_reference(name)[1] else f"{name}:latest")
        if image is not None:
            _check_reference("--image", image, f"{image}:latest")
        if not (path / "pom.xml").is_file():
            raise UsageError(f"no pom.xml in {path}", "run autopack init in a Maven project, or pass its directory")
        project = path.resolve()  # the pom model's paths (build directories) are then absolute too
        setup = maven_config.read(Settings(source=str(project)), project)
        reactor = load_reactor(project, setup.defines, setup.profiles, setup.settings_properties)
        planned = scaffold.plan(reactor, base_image=base_image, image=image, modules=module or (), environ=os.environ)
        there = scaffold.existing(planned)
        if there and not force:
            names = ", ".join(_shown(p) for p in there)
            raise UsageError(f"{names} exist{'s' if len(there) == 1 else ''} already; nothing was written", "pass --force to overwrite, or remove them first")
        scaffold.write(planned)
        _report(planned, path, there, json_out)
    if outcome.exit_code:
        sys.stderr.write(outcome.line() + "\n")
    raise typer.Exit(outcome.exit_code)


def _check_reference(option: str, given: str, reference: str) -> None:
    from autopack import tags

    try:
        tags.validate_reference(reference)
    except UsageError as e:
        raise UsageError(f"{option} '{given}' is not an image name: {e.message.partition(': ')[2]}", e.hint) from None


def _report(planned: scaffold.Scaffold, path: Path, overwritten: list[Path], json_out: bool) -> None:
    target = "" if path.resolve() == Path.cwd().resolve() else f" {shlex.quote(str(path))}"
    steps = [f"{command}{target}" for command in NEXT]
    if json_out:
        document = {
            "files": [{"path": str(f.path), "what": f.what, "overwritten": f.path in overwritten} for f in planned.files],
            "services": [{"module": s.artifact_id, "path": s.module.path, "kind": s.kind, "baseImage": planned.base_images[s.artifact_id]} for s in planned.services],
            "skipped": [{"module": s.module.artifact_id, "path": s.module.path, "why": s.why} for s in planned.skipped],
            "next": steps,
        }
        typer.echo(json.dumps(document, indent=2))
        return
    for skipped in planned.skipped:
        typer.echo(f"skipped {skipped.module.path} ({skipped.module.artifact_id}): {skipped.why}")
    for file in planned.files:
        typer.echo(f"{'overwrote' if file.path in overwritten else 'wrote'} {_shown(file.path)}: {file.what}")
    typer.echo("next: " + "  →  ".join(steps))


def _shown(file: Path) -> str:
    """Relative to the working directory when below it, as the user would type it."""
    relative = os.path.relpath(file)
    return str(file) if relative.startswith("..") else relative
