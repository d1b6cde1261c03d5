"""How concurrent runs on one machine share a Maven local repository (``~/.m2/repository``,
``--maven-repo DIR``) and leave it consistent.

Maven 3.9 (Maven Resolver 1.9) can lock across processes itself: with the ``file-lock``
factory and the ``file-gav`` name mapper each artifact and metadata file is guarded by a
file lock under ``<repo>/.locks``, so two runs resolve in parallel and never write the same
file at once. Maven 3.8 and older (Resolver 1.6) lock only between the threads of one JVM,
and write ``_remote.repositories`` and ``maven-metadata-*.xml`` in place: two runs can
corrupt each other's downloads. For them autopack holds an exclusive lock on
``<repo>/.autopack.lock`` while Maven runs. It is a ``flock``, so a run that is killed
releases it at once; the other run waits as long as the holder runs, and says so.

A layered scheme (a private repository per run over the shared one) does not fit Maven 3.8:
it has no chained local repository, and hard-linked copies would share the files it
rewrites in place.

The Maven version is read without starting a JVM: for ``./mvnw``, from the wrapper's
``distributionUrl``; for ``mvn``, from the ``maven-core`` jar of the installation on PATH.
An unknown version is treated as one without cross-process locks.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import zipfile
from collections.abc import Collection, Iterator
from pathlib import Path

import filelock

from autopack.events import Emit, LogLine
from autopack.settings import Settings

STAGE = "maven"
NAMED_LOCKS = (3, 9)  # the first Maven whose resolver locks across processes
LOCK_FILE = ".autopack.lock"

# Resolver 1.9's named locks. The wait for one lock defaults to 30 s, which a slow download
# of a whole dependency set by another run can outlast; the holder being killed frees it.
NAMED_LOCK_PROPERTIES = {
    "aether.syncContext.named.factory": "file-lock",
    "aether.syncContext.named.nameMapper": "file-gav",
    "aether.syncContext.named.time": "600",
}

Version = tuple[int, ...]


def parse_version(text: str) -> Version | None:
    """``3.9.11``, ``4.0.0-rc-4`` → (3, 9, 11), (4, 0, 0); anything else → None."""
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    return tuple(int(part) for part in m.groups() if part is not None) if m else None


def wrapper_version(project_dir: Path) -> Version | None:
    """The Maven that ``./mvnw`` runs: ``apache-maven-X.Y.Z-bin.zip`` in ``distributionUrl``."""
    try:
        text = (project_dir / ".mvn" / "wrapper" / "maven-wrapper.properties").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    m = re.search(r"^\s*distributionUrl\s*[=:]\s*\S*/apache-maven-(\d[^/\s]*?)-bin\.(?:zip|tar\.gz)\s*$", text, re.MULTILINE)
    return parse_version(m[1]) if m else None


def installed_version(path: str | None = None) -> Version | None:
    """The version of the ``mvn`` on ``path`` (default: $PATH): the ``maven-core-X.Y.Z.jar``
    in its ``lib/``, or, where a distribution renamed it (Debian's ``maven-core-3.x.jar``),
    the version recorded inside the jar."""
    mvn = shutil.which("mvn", path=path)
    if not mvn:
        return None
    lib = Path(os.path.realpath(mvn)).parent.parent / "lib"
    jars = sorted(lib.glob("maven-core*.jar"))
    for jar in jars:
        if m := re.fullmatch(r"maven-core-(\d+\.\d+\.\d+)\.jar", jar.name):
            return parse_version(m[1])
    for jar in jars:
        try:
            with zipfile.ZipFile(jar) as archive:
                text = archive.read("META-INF/maven/org.apache.maven/maven-core/pom.properties").decode("utf-8")
        except (OSError, KeyError, zipfile.BadZipFile, UnicodeDecodeError):
            continue
        if m := re.search(r"^version=(\S+)", text, re.MULTILINE):
            return parse_version(m[1])
    return None


def launcher_version(launcher: str, project_dir: Path, path: str | None = None) -> Version | None:
    """The version of Maven that ``launcher`` (``./mvnw`` or ``mvn``) will run."""
    return wrapper_version(project_dir) if launcher == "./mvnw" else installed_version(path)


def locks_itself(version: Version | None) -> bool:
    return version is not None and version >= NAMED_LOCKS


def sharing_args(version: Version | None, configured: Collection[str] = ()) -> list[str]:
    """The ``-D`` flags that make Maven ``version`` lock the repository across processes;
    a property the user set (``configured``, names from -D, maven.config, MAVEN_OPTS) stays
    theirs."""
    if not locks_itself(version):
        return []
    return [f"-D{key}={value}" for key, value in NAMED_LOCK_PROPERTIES.items() if key not in configured]


def local_repository(settings: Settings, configured: Path | None, project_dir: Path) -> Path:
    """``--maven-repo``, else the one Maven's configuration names (``MavenConfig``; a
    relative one is relative to where Maven runs), else ~/.m2/repository."""
    if settings.maven_repo is not None:
        return settings.maven_repo.expanduser().absolute()
    return project_dir / configured if configured is not None else Path.home() / ".m2" / "repository"


@contextlib.contextmanager
def exclusive(repository: Path, version: Version | None, emit: Emit) -> Iterator[None]:
    """Hold ``repository`` for this run while Maven ``version`` runs — unless that Maven
    locks it itself. Waiting for another run is announced once."""
    if locks_itself(version):
        yield
        return
    try:
        repository.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(repository / LOCK_FILE))
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            maven = "Maven " + ".".join(map(str, version)) if version else "this Maven"
            emit(LogLine(STAGE, f"waiting for the Maven repository {repository}: another run holds it ({maven} cannot share it safely)", "info"))
            lock.acquire()
    except OSError as e:  # a read-only repository: Maven may still read it (--offline)
        emit(LogLine(STAGE, f"cannot lock the Maven repository {repository} ({e.strerror or e}); running Maven without the lock", "warning"))
        yield
        return
    try:
        yield
    finally:
        lock.release()


def command_args(settings: Settings, launcher: str, project_dir: Path, configured: Collection[str] = ()) -> list[str]:
    """What ``maven_command`` adds for the local repository: ``--maven-repo`` as
    ``-Dmaven.repo.local`` (last, so that it wins), and the flags of ``sharing_args``."""
    chosen = [f"-Dmaven.repo.local={local_repository(settings, None, project_dir)}"] if settings.maven_repo is not None else []
    return sharing_args(launcher_version(launcher, project_dir), configured) + chosen
