"""Splitting the built artifact into image layers the way Jib does, by staging it into
directories after Maven has run: ``dest/<layer>/`` for each of ``LAYERS``, least to most
often changed. The Dockerfile COPYs them one by one, so every builder
(an ordinary ``docker build`` too) makes one layer per directory and a change to the classes
leaves the dependency layers as they were.

A Dockerfile opts in by declaring ``ARG LAYERS``; autopack then passes ``LAYERS=<the staged
directory, relative to the build context>``.

A Spring Boot repackaged jar (with ``BOOT-INF/``) is split by its own entries: its nested jars,
its loader, its resources and classes, each at the path it has in the jar (the merged tree runs
with ``java org.springframework.boot.loader.launch.JarLauncher``).

A plain (thin) jar is split from Maven's resolved runtime classpath as well, Jib's way: for a
Dockerfile declaring ``ARG LAYERS`` autopack adds
``maven-dependency-plugin:copy-dependencies -DincludeScope=runtime`` to the Maven run, which
copies the module's runtime dependency jars into ``target/dependency/``, and passes that
directory here. Each jar there goes to ``<layer>/libs/<jar>`` (``dependencies``,
``snapshot-dependencies`` or ``project-dependencies``, by the same name rule as a Boot jar's
nested jars); the artifact's own ``*.class`` entries to ``classes/classes/<path>`` and its
other entries to ``resources/resources/<path>`` (but ``META-INF/MANIFEST.MF`` and
``META-INF/maven/**``, which mean nothing outside a jar); ``loader`` stays empty. The six
COPYd into ``WORKDIR /app`` give ``/app/libs/*.jar``, ``/app/resources/`` and
``/app/classes/``, and the Dockerfile's own entrypoint starts the application with the
classpath ``/app/resources:/app/classes:/app/libs/*``::

    ENTRYPOINT ["java", "-cp", "/app/resources:/app/classes:/app/libs/*", "com.example.App"]

(the ``*`` is the JVM's own wildcard for every ``.jar`` in the directory and must reach ``java``
as it is: the exec form passes it so, a shell form must quote it).

The staged tree is a pure function of the jar's entry names and contents (and a plain jar's,
of its dependency jars' names and contents): entries are written in name order, every file is
mode 0644 and every directory 0755 whatever the zip or the disk says, and every file and
directory gets the modification time ``STAGED_MTIME`` (one second past the
epoch, as Jib does: 0 reads as "unknown" to ``File.lastModified``), so two stagings of the same
jar — even by different builds — give identical trees and a builder that keeps file times
(``docker build``'s COPY does) gives identical layers.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from autopack.errors import ImageError
from autopack.image.dockerfile import Dockerfile

LAYERS = ("dependencies", "loader", "snapshot-dependencies", "project-dependencies", "resources", "classes")
LAYERS_ARG = "LAYERS"
STAGED_MTIME = 1  # seconds since the epoch, for every staged file and directory

_LOADER_PREFIX = "org/springframework/boot/loader/"  # Boot 2.x and 3.x alike (3.2+: …/loader/launch/)
_LAYERS_INDEX = "BOOT-INF/layers.idx"
_LIB = "BOOT-INF/lib/"
_CLASSES = "BOOT-INF/classes/"
# Where a plain jar's parts go inside their layers, and so below WORKDIR /app.
PLAIN_LIBS = "libs"
PLAIN_RESOURCES = "resources"
PLAIN_CLASSES = "classes"
# A plain jar's entries that are the jar's own bookkeeping, not the application's resources.
_PLAIN_SKIPPED = ("META-INF/MANIFEST.MF",)
_PLAIN_SKIPPED_DIRS = ("META-INF/maven/",)
# A SNAPSHOT version, or the timestamped form a remote repository resolves it to
# (1.0-20240101.120000-3); a classifier may follow (-tests, -linux-x86_64).
_SNAPSHOT = re.compile(r"-(SNAPSHOT|\d{8}\.\d{6}-\d+)(-[^/]*)?$")
_INDEX_LAYER = re.compile(r'^- "(?P<name>[^"]+)":\s*$')
_INDEX_ENTRY = re.compile(r'^\s+- "(?P<entry>[^"]+)"\s*$')
_CHUNK = 1 << 20


@dataclass(frozen=True)
class LayerSize:
    name: str
    files: int
    bytes: int


@dataclass(frozen=True)
class Staged:
    """The staged tree: ``dest/<layer>/`` for each of ``LAYERS``, in that order."""

    dest: Path
    layers: tuple[LayerSize, ...]

    def layer(self, name: str) -> LayerSize:
        return next(size for size in self.layers if size.name == name)

    def summary(self) -> str:
        """``layers: dependencies 52 files 21.3 MB, loader 51 files 0.2 MB, …`` for the log."""
        return "layers: " + ", ".join(f"{s.name} {s.files} file{'' if s.files == 1 else 's'} {s.bytes / 1_000_000:.1f} MB" for s in self.layers)


def declares_layers(dockerfile: Dockerfile) -> bool:
    """Whether the Dockerfile opts into the staged layers by declaring ``ARG LAYERS``."""
    return LAYERS_ARG in dockerfile.args


def stage(artifact: Path, dest: Path, project_artifacts: Collection[str], dependencies: Path | None = None) -> Staged:
    """Explode ``artifact`` into ``dest/<layer>/``, replacing whatever ``dest`` held.
    ``project_artifacts`` are the reactor's artifactIds: a jar named
    ``<artifactId>-<version>.jar`` for one of them goes to ``project-dependencies``.

    A Spring Boot jar carries its dependencies and is staged from its own entries alone
    (``dependencies`` is not read). A plain jar needs ``dependencies``: the directory Maven's
    ``copy-dependencies`` filled with the module's runtime classpath (its ``*.jar`` files;
    anything else there is not on a ``libs/*`` classpath and is left out). A missing directory
    is an empty classpath, as Maven creates none for a module without runtime dependencies.

    The tree is built in a new directory beside ``dest`` and renamed into place, so a run
    killed while staging leaves the previous tree (or none), never half a tree."""
    try:
        with zipfile.ZipFile(artifact) as jar:
            entries = _entries(jar, artifact)
            boot = any(info.filename.startswith("BOOT-INF/") for info in entries)
            if not boot and dependencies is None:
                raise ImageError(
                    f"the Dockerfile declares ARG {LAYERS_ARG}, but {artifact.name} is not a Spring Boot jar (it has no BOOT-INF/) and no runtime classpath was given to split it with",
                    f"autopack stages Maven's runtime classpath (copy-dependencies into target/dependency/) for a Dockerfile declaring ARG {LAYERS_ARG}, so this is autopack's own error: report it; "
                    f"meanwhile repackage the jar with spring-boot-maven-plugin, or drop ARG {LAYERS_ARG} from the Dockerfile and COPY ${{ARTIFACT}} instead",
                )
            libs = [] if boot or dependencies is None else _dependency_jars(dependencies)
            loader = _loader_entries(jar, entries) if boot else ()
            dest.parent.mkdir(parents=True, exist_ok=True)
            _sweep_leftovers(dest)
            work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.staging-", dir=dest.parent))
            try:
                if boot:
                    sizes = _write(jar, entries, work, loader, frozenset(project_artifacts))
                else:
                    sizes = _write_plain(jar, entries, libs, work, frozenset(project_artifacts))
                _replace(work, dest)
            except BaseException:
                shutil.rmtree(work, ignore_errors=True)
                raise
    except zipfile.BadZipFile as e:
        raise ImageError(f"cannot split {artifact.name} into layers: it is not a readable jar ({e})", "check what Maven built") from e
    except OSError as e:
        if isinstance(e, FileNotFoundError) and not artifact.exists():
            raise ImageError(f"cannot split {artifact} into layers: the file is missing", "check what Maven built") from e
        raise ImageError(f"cannot stage {artifact.name} into {dest}: {e}", "check the disk space and the permissions of the target directory") from e
    return Staged(dest, sizes)


def classify(name: str, loader: Collection[str], project_artifacts: Collection[str]) -> str:
    """The layer of the jar entry ``name`` (a file's, not a directory's). ``loader``: the
    loader's names from layers.idx (``dir/`` for everything below it), or empty for the
    default ``org/springframework/boot/loader/``."""
    if _is_loader(name, loader):
        return "loader"
    if name.startswith(_LIB) and name.endswith(".jar") and "/" not in name[len(_LIB) :]:
        return jar_layer(name[len(_LIB) :], project_artifacts)
    if name.startswith(_CLASSES) and name.endswith(".class"):
        return "classes"
    return "resources"


def jar_layer(filename: str, project_artifacts: Collection[str]) -> str:
    """The layer of the dependency jar ``filename`` (``<artifactId>-<version>[-<classifier>].jar``,
    a Boot jar's nested one or a plain jar's runtime classpath alike): ``project-dependencies``
    for a reactor module's, else ``snapshot-dependencies`` for a SNAPSHOT (or timestamped)
    version, else ``dependencies``."""
    stem = filename.removesuffix(".jar")
    if any(_is_project_jar(stem, artifact_id) for artifact_id in project_artifacts):
        return "project-dependencies"
    return "snapshot-dependencies" if _SNAPSHOT.search(stem) else "dependencies"


def _plain_target(name: str) -> tuple[str, str] | None:
    """Where a plain jar's own entry ``name`` is staged: ``(layer, path inside the layer)``, or
    None for what is left out (the manifest and ``META-INF/maven/``, also as directories)."""
    bare = name.rstrip("/")
    if bare in _PLAIN_SKIPPED or any(f"{bare}/".startswith(skipped) for skipped in _PLAIN_SKIPPED_DIRS):
        return None
    if bare.endswith(".class") and not name.endswith("/"):
        return PLAIN_CLASSES, f"{PLAIN_CLASSES}/{bare}"
    return PLAIN_RESOURCES, f"{PLAIN_RESOURCES}/{bare}"


def _is_loader(name: str, loader: Collection[str]) -> bool:
    if not loader:
        return name.startswith(_LOADER_PREFIX)
    return any(name.startswith(entry) if entry.endswith("/") else name == entry for entry in loader)


def _is_project_jar(stem: str, artifact_id: str) -> bool:
    # <artifactId>-<version>[-<classifier>]: a version starts with a digit, so that a reactor
    # module "commons" does not claim commons-lang3-3.14.0.jar.
    version = stem[len(artifact_id) + 1 :] if stem.startswith(f"{artifact_id}-") else ""
    return version[:1].isdigit()


def _entries(jar: zipfile.ZipFile, artifact: Path) -> list[zipfile.ZipInfo]:
    """The jar's entries in name order, each one checked to stay inside the tree."""
    seen: set[str] = set()
    for info in jar.infolist():
        name = info.filename
        parts = name.rstrip("/").split("/")
        if not name or name.startswith("/") or "\\" in name or "\0" in name or re.match(r"^[A-Za-z]:", name) or any(p in ("", ".", "..") for p in parts):
            raise ImageError(
                f"{artifact.name} holds the entry {name!r}, which would be written outside the staged layers (an absolute path, '..', or not a plain relative path)",
                "rebuild the jar; a jar with such an entry is malformed or was made to attack the build",
            )
        if name.rstrip("/") in seen:
            raise ImageError(f"{artifact.name} holds the entry {name!r} twice", "rebuild the jar; the duplicate makes its contents ambiguous")
        seen.add(name.rstrip("/"))
    return sorted(jar.infolist(), key=lambda info: info.filename)


def _loader_entries(jar: zipfile.ZipFile, entries: list[zipfile.ZipInfo]) -> tuple[str, ...]:
    """What BOOT-INF/layers.idx lists under spring-boot-loader; () without one (the default)."""
    if not any(info.filename == _LAYERS_INDEX for info in entries):
        return ()
    layer = ""
    listed: list[str] = []
    for line in jar.read(_LAYERS_INDEX).decode("utf-8", "replace").splitlines():
        if found := _INDEX_LAYER.match(line):
            layer = found["name"]
        elif (found := _INDEX_ENTRY.match(line)) and layer == "spring-boot-loader":
            listed.append(found["entry"])
    return tuple(listed)


def _write(jar: zipfile.ZipFile, entries: list[zipfile.ZipInfo], root: Path, loader: tuple[str, ...], project_artifacts: frozenset[str]) -> tuple[LayerSize, ...]:
    counts = {name: [0, 0] for name in LAYERS}
    for layer in LAYERS:
        (root / layer).mkdir(mode=0o755)
    parents = {str(parent) for info in entries for parent in PurePosixPath(info.filename).parents if not info.is_dir()}
    for info in entries:
        name = info.filename
        if info.is_dir():
            # Directories come with the files below them; only an empty one is kept, in the
            # layer its path belongs to (a resource directory, as a rule).
            if name.rstrip("/") not in parents:
                target = root / classify(name.rstrip("/"), loader, project_artifacts) / PurePosixPath(name)
                target.mkdir(mode=0o755, parents=True, exist_ok=True)
            continue
        layer = classify(name, loader, project_artifacts)
        # Byte for byte what the entry holds (a nested jar is STORED: its bytes are the jar's);
        # zipfile checks each entry's CRC as it reads.
        with jar.open(info) as source:
            _place(source, root / layer / PurePosixPath(name), counts[layer])
    _fix_times(root)
    return tuple(LayerSize(name, files, size) for name, (files, size) in counts.items())


def _dependency_jars(dependencies: Path) -> list[Path]:
    """The runtime classpath's jars in ``dependencies``, in name order."""
    if not dependencies.exists() and not dependencies.is_symlink():
        return []
    if not dependencies.is_dir():
        raise ImageError(f"cannot stage the runtime classpath from {dependencies}: it is not a directory", "check what Maven's copy-dependencies wrote there")
    return sorted((path for path in dependencies.iterdir() if path.name.endswith(".jar") and path.is_file()), key=lambda path: path.name)


def _write_plain(jar: zipfile.ZipFile, entries: list[zipfile.ZipInfo], libs: list[Path], root: Path, project_artifacts: frozenset[str]) -> tuple[LayerSize, ...]:
    counts = {name: [0, 0] for name in LAYERS}
    for layer in LAYERS:
        (root / layer).mkdir(mode=0o755)
    for lib in libs:
        layer = jar_layer(lib.name, project_artifacts)
        with open(lib, "rb") as source:
            _place(source, root / layer / PLAIN_LIBS / lib.name, counts[layer])
    # Every entry below a directory (a skipped one too) makes it non-empty: only directories
    # with nothing at all below them in the jar are kept on their own, as in a Boot jar.
    parents = {str(parent) for info in entries for parent in PurePosixPath(info.filename).parents if not info.is_dir()}
    parents |= {str(parent) for info in entries for parent in PurePosixPath(info.filename.rstrip("/")).parents if info.is_dir()}
    for info in entries:
        placed = _plain_target(info.filename)
        if placed is None:
            continue
        layer, path = placed
        if info.is_dir():
            if info.filename.rstrip("/") not in parents:
                (root / layer / PurePosixPath(path)).mkdir(mode=0o755, parents=True, exist_ok=True)
            continue
        with jar.open(info) as source:
            _place(source, root / layer / PurePosixPath(path), counts[layer])
    _fix_times(root)
    return tuple(LayerSize(name, files, size) for name, (files, size) in counts.items())


def _place(source: IO[bytes], target: Path, count: list[int]) -> None:
    """One staged file, 0644, counted in its layer's ``[files, bytes]``."""
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    with open(target, "xb") as out:
        written = _copy(source, out)
    os.chmod(target, 0o644)
    count[0] += 1
    count[1] += written


def _copy(source: IO[bytes], out: IO[bytes]) -> int:
    written = 0
    while chunk := source.read(_CHUNK):
        out.write(chunk)
        written += len(chunk)
    return written


def _fix_times(root: Path) -> None:
    """Every file and directory below ``root`` (and ``root``) gets ``STAGED_MTIME``; the
    directories last, deepest first, as writing into one changes its time."""
    directories: list[Path] = []
    for path in _walk(root):
        if path.is_dir():
            directories.append(path)
        else:
            os.utime(path, (STAGED_MTIME, STAGED_MTIME), follow_symlinks=False)
    for directory in sorted(directories, key=lambda p: len(p.parts), reverse=True):
        os.chmod(directory, 0o755)
        os.utime(directory, (STAGED_MTIME, STAGED_MTIME))
    os.chmod(root, 0o755)
    os.utime(root, (STAGED_MTIME, STAGED_MTIME))


def _walk(root: Path) -> Iterator[Path]:
    for path in sorted(root.iterdir()):
        yield path
        if stat.S_ISDIR(path.lstat().st_mode):
            yield from _walk(path)


def _replace(work: Path, dest: Path) -> None:
    """Put the finished tree ``work`` at ``dest``: the old tree is renamed aside first (a
    directory cannot be renamed over a non-empty one), then removed."""
    if not dest.exists() and not dest.is_symlink():
        os.rename(work, dest)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
    os.rename(dest, old / dest.name)
    os.rename(work, dest)
    shutil.rmtree(old, ignore_errors=True)


def _sweep_leftovers(dest: Path) -> None:
    """What a killed run left beside ``dest``: its half-staged tree, or the old tree it had
    renamed aside. Staging into one ``dest`` is not concurrent (Maven builds the same
    target/ first), so everything with these names is a leftover."""
    for leftover in dest.parent.glob(f".{dest.name}.*"):
        if leftover.name.startswith((f".{dest.name}.staging-", f".{dest.name}.old-")):
            shutil.rmtree(leftover, ignore_errors=True)
