"""``autopack init``'s work: from a pom project (one module or a reactor) to the files that
make it buildable — per service module a Dockerfile and ``.dockerignore``, and at the root a
commented ``autopack.toml``.

Detecting the services is ``detect.py``'s, the Dockerfiles ``dockerfile.py``'s, the settings
file ``config.py``'s; this module decides which files to write and writes them all or none.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from autopack.errors import UsageError
from autopack.files import write_atomically
from autopack.maven.reactor import Reactor
from autopack.scaffold import config, dockerfile
from autopack.scaffold.detect import WAR, Service, Skipped, services
from autopack.settings import CONFIG_FILE


@dataclass(frozen=True, slots=True)
class File:
    path: Path
    text: str
    what: str  # for the listing: "Dockerfile for greeter (a Spring Boot jar, as layers)"


@dataclass(frozen=True, slots=True)
class Scaffold:
    root: Path
    services: tuple[Service, ...]
    skipped: tuple[Skipped, ...]
    files: tuple[File, ...]
    base_images: Mapping[str, str]  # artifactId → the Dockerfile's default base image


def plan(reactor: Reactor, *, base_image: str | None, image: str | None, modules: Sequence[str], environ: Mapping[str, str]) -> Scaffold:
    """The files to write for ``reactor``. ``modules`` (artifactIds or paths) narrows the
    services; ``base_image`` replaces every Dockerfile's default; ``image`` names the image
    (a prefix in a reactor). Raises ``UsageError`` when no module is a service."""
    found, skipped = services(reactor)
    if not found:
        looked = "; ".join(f"{s.module.artifact_id}: {s.why}" for s in skipped)
        raise UsageError(
            f"no module of {reactor.root.project.pom} is a service ({looked})",
            "init looks for packaging war, a jar with spring-boot-maven-plugin, or a jar whose manifest names a mainClass (maven-jar-plugin, shade or assembly)",
        )
    chosen = _select(found, modules)
    root = reactor.root.directory
    files: list[File] = []
    bases: dict[str, str] = {}
    for service in chosen:
        base = base_image or dockerfile.default_base_image(service)
        bases[service.artifact_id] = base
        what = dockerfile.describe(service)
        directory = service.module.directory
        files.append(File(directory / "Dockerfile", dockerfile.render(service, base), f"Dockerfile for {service.artifact_id} ({what}, FROM {base})"))
        files.append(File(directory / ".dockerignore", dockerfile.dockerignore(service), f".dockerignore for {service.artifact_id}"))
        if service.kind == WAR:
            files.append(File(directory / dockerfile.TOMCAT_CONTEXT, dockerfile.tomcat_context(), f"Tomcat's context for {service.artifact_id} (the war at /)"))
    versioned = any((d / marker).exists() for d in (root, *root.parents) for marker in (".git", ".svn"))
    text = config.render(chosen, reactor=len(reactor.modules) > 1, image=image, versioned=versioned, environ=environ)
    files.append(File(root / CONFIG_FILE, text, f"{CONFIG_FILE} (image names, tags, destinations)"))
    return Scaffold(root, tuple(chosen), tuple(skipped), tuple(files), bases)


def existing(scaffold: Scaffold) -> list[Path]:
    return [f.path for f in scaffold.files if f.path.exists() or f.path.is_symlink()]


def write(scaffold: Scaffold) -> None:
    """Every file, each atomically; one that cannot be written removes those written before
    it, so a failed init leaves the project as it was (callers check ``existing`` first)."""
    written: list[Path] = []
    mode = 0o666 & ~_umask()  # as an editor would make them (a temporary file is 0600), so COPY gives the image readable files
    try:
        for file in scaffold.files:
            was_there = file.path.exists()
            write_atomically(file.path, file.text, mode)
            if not was_there:
                written.append(file.path)
    except OSError as e:
        for path in written:
            path.unlink(missing_ok=True)
        raise UsageError(f"cannot write {e.filename or 'a file'}: {e.strerror or e}", "check the directory's permissions; nothing new was left behind") from e


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def _select(found: list[Service], modules: Sequence[str]) -> list[Service]:
    if not modules:
        return found
    chosen = []
    for name in modules:
        match = [s for s in found if name in (s.artifact_id, s.module.path, f"{s.module.project.group_id}:{s.artifact_id}")]
        if not match:
            names = ", ".join(f"{s.artifact_id} ({s.module.path})" for s in found)
            raise UsageError(f"--module {name}: no service module is called so", f"services: {names}")
        chosen += [s for s in match if s not in chosen]
    return chosen
