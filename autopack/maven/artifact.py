"""Which file goes into the image: the one Maven itself says it built.

Maven's log names what the ``package`` phase made — ``Building jar: /…/x.jar`` (the jar, war
and ear plugins), Spring Boot's ``Replacing main artifact /…/x.jar with repackaged
archive`` or ``Attaching repackaged archive /…/x-exec.jar with classifier exec``, the shade
plugin's ``Replacing /…/x.jar with /…/x-shaded.jar`` or ``Attaching shaded artifact.``, the
assembly plugin's ``Building jar: /…/x-jar-with-dependencies.jar`` —
so a ``finalName`` from a profile, an extension or ``.mvn/maven.config`` is found as
Maven resolved it. A runnable form (repackaged, shaded, an assembly) beats the plain archive; when two
files could still be meant the run stops and says how to choose. Only when Maven reported
nothing (``-q`` in maven.config, say) is the file guessed from the pom's ``finalName``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from autopack.errors import MavenError
from autopack.maven.pom import Project

# packaging → the extension of the file it produces; "pom" produces none.
EXTENSIONS = {"jar": "jar", "war": "war", "ear": "ear", "ejb": "jar", "maven-plugin": "jar", "bundle": "jar", "rar": "rar"}
_SIDE_ARTIFACTS = re.compile(r"^original-|-(sources|javadoc|tests|test-sources|test-javadoc|cyclonedx)\.[a-z]+$")


@dataclass(frozen=True, slots=True)
class Reported:
    """One file Maven's log says a mojo produced."""

    module: str  # the artifactId of the mojo's ``@ module``
    path: Path | None  # None: the shade plugin attached a file without naming it
    runnable: bool  # a repackaged or shaded form, meant to be run


_PACKAGED = re.compile(r"^\[INFO\] Building (?:jar|war|ear|rar|ejb|zip): (?P<path>/.+?)\s*$")
_RUNNABLE = (
    re.compile(r"^\[INFO\] Replacing (?:main artifact|artifact with classifier \S+) (?P<path>/\S+) with repackaged archive"),
    re.compile(r"^\[INFO\] (?:Attaching|Creating) repackaged archive (?P<path>/\S+) with classifier "),
    re.compile(r"^\[INFO\] Replacing (?P<path>/\S+) with /\S+\s*$"),  # shade: the main file now holds the shaded jar
)
_SHADE_ATTACHED = "[INFO] Attaching shaded artifact."


def reported(line: str, module: str, plugin: str = "") -> Reported | None:
    """The file ``line`` reports, if it reports one; ``module`` and ``plugin`` are the
    current mojo's. An assembly is made to be run or shipped as it is, like a shaded jar."""
    if line.startswith(_SHADE_ATTACHED):
        return Reported(module, None, True)
    for pattern in _RUNNABLE:
        if m := pattern.match(line):
            return Reported(module, Path(m["path"]), True)
    if m := _PACKAGED.match(line):
        # Maven 3.8 names the plugin "maven-assembly-plugin" in the mojo line, 3.9 "assembly".
        return Reported(module, Path(m["path"]), plugin.removeprefix("maven-").removesuffix("-plugin") == "assembly")
    return None


def find_artifact(project: Project, reports: Sequence[Reported] = (), since: float = 0.0, choice: str | None = None) -> Path:
    """The file to put in ``project``'s image. ``reports`` are what Maven's log said it built
    (``since``: when Maven started, to find a shaded jar attached without a name);
    ``choice`` is a glob relative to the module (``--artifact``, ``artifacts`` in
    autopack.toml) that overrides both. Raises ``MavenError`` when there is none, or
    when two could be meant."""
    extension = EXTENSIONS.get(project.packaging)
    if choice:
        return _chosen(project, choice)
    if extension is None:
        raise MavenError(
            f"{project.artifact_id} has packaging '{project.packaging}', which produces no file to put in an image",
            "build a module with jar or war packaging",
        )
    mine = [r for r in reports if _belongs(r, project)]
    runnable = _files(r.path if r.path else _attached_shaded(project, mine, since, extension) for r in mine if r.runnable)
    if runnable:
        return _one(project, runnable)
    packaged = [p for p in _files(r.path for r in mine) if p.suffix == f".{extension}"]
    if packaged:
        return _one(project, packaged)
    return _guess(project, extension)


def _belongs(report: Reported, project: Project) -> bool:
    if report.path is None:
        return report.module == project.artifact_id
    return report.path.is_relative_to(project.build_directory)


def _files(paths: Iterable[Path | None]) -> list[Path]:
    """Existing files, once each, in the order reported, without sources/javadoc/tests jars."""
    found = dict.fromkeys(p for p in paths if p is not None and p.is_file() and not _SIDE_ARTIFACTS.search(p.name))
    return list(found)


def _attached_shaded(project: Project, mine: Sequence[Reported], since: float, extension: str) -> Path | None:
    """The shade plugin's attached jar (``<finalName>-<classifier>.jar``), which it does not
    name: the newest file of the module written during this build that no other line named."""
    named = {r.path for r in mine if r.path}
    directory = project.build_directory
    fresh = [p for p in directory.glob(f"*.{extension}") if p not in named and not _SIDE_ARTIFACTS.search(p.name) and p.stat().st_mtime >= since - 1] if directory.is_dir() else []
    return max(fresh, key=lambda p: p.stat().st_mtime) if fresh else None


def _one(project: Project, files: list[Path]) -> Path:
    if len(files) == 1:
        return files[0]
    names = ", ".join(_relative(p, project) for p in files)
    example = _relative(files[-1], project)
    raise MavenError(
        f"{project.artifact_id}: Maven built {len(files)} files that could go in the image: {names}",
        f"choose one: --artifact '{example}', or artifacts = {{ {project.artifact_id} = \"{example}\" }} in autopack.toml",
    )


def _chosen(project: Project, pattern: str) -> Path:
    matches = _files(sorted(project.directory.glob(pattern))) if not Path(pattern).is_absolute() else []
    if len(matches) == 1:
        return matches[0]
    if not matches:
        present = _files(sorted(project.build_directory.glob("*.*"))) if project.build_directory.is_dir() else []
        seen = f"; the build directory holds {', '.join(_relative(p, project) for p in present)}" if present else ""
        raise MavenError(
            f"{project.artifact_id}: no file matches the artifact pattern '{pattern}' in {project.directory}{seen}",
            "give a glob relative to the module directory, e.g. --artifact 'target/*-exec.jar'",
        )
    names = ", ".join(_relative(p, project) for p in matches)
    raise MavenError(f"{project.artifact_id}: the artifact pattern '{pattern}' matches {len(matches)} files: {names}", "make the pattern match one file")


def _guess(project: Project, extension: str) -> Path:
    """``<finalName>.<ext>``, else the one classified ``<finalName>-*.<ext>``."""
    expected = project.build_directory / f"{project.final_name}.{extension}"
    if expected.is_file():
        return expected
    pattern = f"{project.final_name}-*.{extension}"
    classified = _files(sorted(project.build_directory.glob(pattern)))
    if len(classified) == 1:
        return classified[0]
    found = sorted(p.name for p in project.build_directory.glob(f"*.{extension}")) if project.build_directory.is_dir() else []
    seen = f"; found only {', '.join(found)}" if found else ""
    raise MavenError(
        f"Maven produced no artifact for {project.artifact_id}: looked for {expected} and {project.build_directory / pattern}{seen}",
        "check <packaging> and <build><finalName> in the pom, and that the package phase creates the file",
    )


def _relative(path: Path, project: Project) -> str:
    return path.relative_to(project.directory).as_posix() if path.is_relative_to(project.directory) else str(path)
