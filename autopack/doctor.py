"""``autopack doctor``'s checks: each a small frozen value (name, status, detail, fix), made
by asking the code a build uses — ``Engine`` for the engine and its builder, the Maven
runner for ``./mvnw`` or ``mvn``, the svn backend's own choice, the cache root, and the
push stage's ``destinations.plan`` (credential source and pre-flight) — never a second
way of deciding the same thing.

A check's status is one of:

- ``ok``: works;
- ``warn``: works, but worth knowing (low disk, a tool a source kind would need);
- ``skip``: absent, and not needed as configured (buildah while the Docker engine builds);
- ``fail``: the build, as configured, would not work: the exit code is 2 when any check fails.

Nothing here changes anything: no build, no push, no directory made. The push pre-flight
is the one the build runs before Maven: it opens a blob upload and cancels it.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from autopack import cache, process
from autopack.errors import AutopackError
from autopack.settings import Settings

if TYPE_CHECKING:  # the engine and the push machinery are imported only once doctor runs
    from autopack.engine import Engine
    from autopack.events import Event
    from autopack.image.dockerfile import Dockerfile
    from autopack.push.publish import Destination

OK, WARN, SKIP, FAIL = "ok", "warn", "skip", "fail"
GIB = 1024**3
LOW_DISK, NO_DISK = 5 * GIB, 1 * GIB  # free space of the cache's filesystem: warn below, fail below
DEFAULT_HOST = "unix:///var/run/docker.sock"


@dataclass(frozen=True, slots=True)
class Check:
    group: str  # settings, engine, maven, source, cache, push
    name: str
    status: str  # OK, WARN, SKIP or FAIL
    detail: str
    fix: str = ""  # one line, for WARN and FAIL

    @property
    def failed(self) -> bool:
        return self.status == FAIL


def exit_code(checks: tuple[Check, ...]) -> int:
    """0 when the build would work as configured, 2 when any check failed."""
    return 2 if any(c.failed for c in checks) else 0


def run(settings: Settings, project_dir: Path, settings_error: AutopackError | None = None) -> tuple[Check, ...]:
    """Every check, in the order they are shown."""
    kind = source_kind(settings.source, project_dir)
    project, based = _project(settings, project_dir, kind)
    checks = [_settings(settings, settings_error), project]
    checks += engine_checks(settings, based)
    checks += [maven(settings, project_dir), java(), git(kind), svn(kind)]
    checks += cache_checks()
    checks += push_checks(settings)
    return tuple(checks)


def source_kind(source: str, project_dir: Path) -> str:
    """local, git, svn, or "git or svn" (an http URL: the server tells), as far as the text says."""
    if project_dir.is_dir():
        return "local"
    from autopack.source import SCHEMES

    if source.startswith("gitlab:"):
        return "git"
    return SCHEMES.get(urlsplit(source).scheme) or "git or svn"


def _settings(settings: Settings, error: AutopackError | None) -> Check:
    if error is not None:
        return Check("settings", "settings", FAIL, error.message, error.hint)
    where = f"{settings.config_file.absolute()} over the defaults" if settings.config_file else "no autopack.toml: defaults"
    given = f"; given by options or environment: {', '.join(sorted(settings.given))}" if settings.given else ""
    return Check("settings", "settings", OK, where + given)


def _project(settings: Settings, project_dir: Path, kind: str) -> tuple[Check, list[Based]]:
    """The project as the plan reads it: its pom, the image modules and their Dockerfiles."""
    if kind != "local":
        return Check("settings", "project", SKIP, f"{settings.source} is a {kind} source: its pom and autopack.toml are read after the checkout"), []
    if not (project_dir / "pom.xml").is_file():
        return Check("settings", "project", SKIP, f"no pom.xml in {project_dir}: only this machine is checked"), []
    from autopack import plan as planning
    from autopack.image.dockerfile import inspect_dockerfile
    from autopack.maven import config as maven_config
    from autopack.maven.reactor import load_reactor

    try:
        setup = maven_config.read(settings, project_dir)
        reactor = load_reactor(project_dir, setup.defines, setup.profiles, setup.settings_properties)
        modules = planning.image_modules(reactor, settings)
        dockerfiles = [inspect_dockerfile(m.directory, planning.dockerfile_path(settings, m.directory)) for m in modules]
    except AutopackError as e:
        hint = "run `autopack init` to write one, or point -f/--file at it" if e.message.startswith("no Dockerfile at") else e.hint
        return Check("settings", "project", FAIL, e.message, hint), []
    names = ", ".join(m.project.artifact_id for m in modules)
    based = [Based(d, {**d.arg_defaults, "VERSION": m.project.version, **settings.build_args}) for m, d in zip(modules, dockerfiles, strict=True)]
    return Check("settings", "project", OK, f"{reactor.root.project.coordinates}: {len(modules)} image module(s): {names}"), based


@dataclass(frozen=True, slots=True)
class Based:
    """An image module's Dockerfile and the build args its FROM lines are read with."""

    dockerfile: Dockerfile
    args: Mapping[str, str]


def engine_checks(settings: Settings, based: Sequence[Based] = ()) -> list[Check]:
    """The Docker engine (reachable, version, API, storage driver), the builders (BuildKit
    through the docker CLI, buildah, the direct builder, a BuildKit daemon) and the one the
    build would use — all as ``Engine`` decides them for ``--engine``."""
    if settings.docker_host:  # as the commands do: the SDK and the docker CLI read it
        os.environ["DOCKER_HOST"] = settings.docker_host
    from autopack.engine import Engine, buildah, buildkit, buildkitd, direct

    def open_engine(kind: str, address: str | None) -> tuple[Engine | None, AutopackError | None]:
        try:
            return Engine(kind, address, auth_file=settings.registry_auth_file, pull=settings.pull, retries=settings.push_retries), None
        except AutopackError as e:
            return None, e

    chosen, refused = open_engine(settings.engine, settings.builder)
    # The engine alone, asked the way --engine docker-api asks it: its refusal is the one a build gives.
    probe, unreachable = (chosen, None) if chosen is not None and chosen.client is not None else open_engine("docker-api", None)
    host = os.environ.get("DOCKER_HOST") or DEFAULT_HOST
    pushing = bool(settings.destinations)
    checks: list[Check] = []
    if probe is not None and probe.client is not None:
        info = probe.client.info()
        version = probe.client.version()
        checks.append(Check("engine", "Docker engine", OK, f"{probe.version} ({probe.os_type}) at {host}"))
        checks.append(Check("engine", "engine API", OK, f"{version.get('ApiVersion', '?')} (client speaks {probe.client.api.api_version}, engine takes {version.get('MinAPIVersion', '?')} and later)"))
        driver = str(info.get("Driver") or "?")
        slow = " (no copy-on-write: every layer a full copy, slower builds)" if driver == "vfs" else ""
        checks.append(Check("engine", "storage driver", OK, driver + slow))
        why = buildkit.unavailable(probe)
        if why is None:
            checks.append(Check("engine", "BuildKit", OK, "docker CLI: " + " ".join((probe.buildkit_cli or ((),))[0])))
        else:
            needed = settings.engine == buildkit.NAME
            checks.append(Check("engine", "BuildKit", FAIL if needed else SKIP, why + ("" if needed else "; the classic builder (docker-api) builds instead"), "install the docker buildx plugin, or use --engine auto" if needed else ""))
    else:
        assert unreachable is not None
        detail = f"{unreachable.message} at {host}"
        builder = chosen.builder if chosen is not None else None
        if builder is buildah or isinstance(builder, buildkitd.Daemon) or settings.engine == direct.NAME:
            checks.append(Check("engine", "Docker engine", SKIP, f"{detail}; not needed: {chosen.description if chosen else settings.engine} builds"))
        elif builder is direct and pushing:  # auto with no engine: the direct builder, for a RUN-less Dockerfile
            checks.append(Check("engine", "Docker engine", WARN, f"{detail}; only the direct builder can build (RUN-less Dockerfiles)", unreachable.hint))
        else:
            checks.append(Check("engine", "Docker engine", FAIL, detail, unreachable.hint))
    why_not = buildah.unavailable()
    needed = settings.engine == buildah.NAME
    if why_not is None:
        said = process.run(["buildah", "--version"], check=False, tail_lines=1).tail
        checks.append(Check("engine", "buildah", OK, said[-1] if said else "installed"))
    else:
        checks.append(Check("engine", "buildah", FAIL if needed else SKIP, why_not, "apt-get install buildah, or use --engine auto" if needed else ""))
    checks.append(Check("engine", "direct builder", OK, "built in: RUN-less Dockerfiles, no engine needed (pushed with --push, loaded with --load)"))
    try:
        address = buildkitd.address_from(settings.builder) if settings.engine in ("auto", buildkitd.NAME) else None
    except AutopackError:
        address = None  # a malformed address: the builder row says so
    if address:
        daemon_why = buildkitd.Daemon(address).unavailable()
        checks.append(Check("engine", "BuildKit daemon", FAIL if daemon_why else OK, f"{address}: {daemon_why or 'answers'}", "start it, or check --builder / BUILDKIT_HOST" if daemon_why else ""))
    checks.append(_builder(settings, chosen, refused, pushing))
    if chosen is not None:
        checks += _base_images(settings, chosen, based)
    return checks


def _base_images(settings: Settings, chosen: Engine, based: Sequence[Based]) -> list[Check]:
    """Each Dockerfile's base images, looked for as the plan does for the inputs digest: in
    the store the builder reads (the engine's, buildah's), else in their registry."""
    from autopack import tags, unchanged

    checks: list[Check] = []
    store = "in buildah's store" if chosen.builder.NAME == "buildah" else "in the Docker engine" if chosen.client is not None else "in no local store"
    for item in based:
        names = [b for b in item.dockerfile.base_images if b not in item.dockerfile.stage_names]
        for name, identity in unchanged.base_identities(names, item.args, chosen, settings.pull, settings.registry_auth_file).items():
            if identity is None:
                registry = tags.registry_of(name)
                whence = f"nor readable from {registry}" if registry else "and Docker Hub is not asked"
                tool = "buildah" if chosen.builder.NAME == "buildah" else "docker"
                missing = "in no local store" if store == "in no local store" else f"not {store}"
                checks.append(Check("engine", f"base {name}", WARN, f"{missing}, {whence}: the build pulls it", f"{tool} pull {name} (or load it) first where the build cannot reach its registry"))
            else:
                where = store if identity.startswith("id:") else "in its registry (pulled by the build)"
                checks.append(Check("engine", f"base {name}", OK, f"{where}: {identity.partition(':')[2][:19]}"))
    return checks


def _builder(settings: Settings, chosen: Engine | None, refused: AutopackError | None, pushing: bool) -> Check:
    if chosen is None:
        assert refused is not None
        return Check("engine", "builder", FAIL, f"--engine {settings.engine}: {refused.message}", refused.hint)
    detail = chosen.description
    if chosen.builder.NAME == "direct" and chosen.client is None and settings.engine == "auto" and not pushing:
        return Check("engine", "builder", WARN, f"--engine auto: {detail}: a RUN-less Dockerfile is built into autopack's blob store only, nothing to run it from", "start the Docker engine, or give --push")
    try:
        if chosen.builder.NAME != "direct" and chosen.may_build_directly(pushing, settings.load, len(settings.platforms)):
            detail += "; the direct builder instead where it can build every Dockerfile"
    except AutopackError as e:
        return Check("engine", "builder", FAIL, e.message, e.hint)
    return Check("engine", "builder", OK, f"--engine {settings.engine}: {detail}")


def maven(settings: Settings, project_dir: Path) -> Check:
    from autopack.maven import repository
    from autopack.maven.runner import maven_command

    launcher = maven_command(settings, project_dir)[0]
    version = repository.launcher_version(launcher, project_dir)
    shown = ".".join(map(str, version)) if version else "version unknown"
    shares = "" if repository.locks_itself(version) else "; before 3.9: runs take turns with the local repository"
    if launcher == "./mvnw":
        return Check("maven", "Maven", OK, f"./mvnw of the project (Maven {shown}){shares}")
    found = shutil.which("mvn")
    if found is None:
        return Check("maven", "Maven", FAIL, "mvn: command not found, and the project has no ./mvnw", "install Maven (apt-get install maven) or add ./mvnw to the project")
    return Check("maven", "Maven", OK, f"mvn {shown} at {found}{shares}")


def java() -> Check:
    """The Java that Maven's launcher (mvn, mvnw) starts: $JAVA_HOME's, else the one on PATH;
    a JDK, since Maven compiles."""
    home = os.environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    where = "$JAVA_HOME" if home else "PATH"
    if not found or not os.access(found, os.X_OK):
        return Check("maven", "Java", FAIL, f"no java in {where}", "install a JDK (apt-get install openjdk-17-jdk-headless), or set JAVA_HOME to one")
    said = process.run([found, "-version"], check=False).tail
    version = next((m[1] for line in said if (m := re.search(r'version "([^"]+)"', line))), "version unknown")
    if not (Path(os.path.realpath(found)).parent / "javac").exists():
        return Check("maven", "Java", FAIL, f"{found} ({version}) is a JRE: Maven needs a JDK to compile", "install a JDK (apt-get install openjdk-17-jdk-headless), or set JAVA_HOME to one")
    return Check("maven", "Java", OK, f"JDK {version} at {found} (from {where})")


def git(kind: str) -> Check:
    needed = "git" in kind
    found = shutil.which("git")
    if found is None:
        return Check("source", "git", FAIL if needed else WARN, "git: command not found" + ("" if needed else " (a local project's revision facts and git sources need it)"), "install git (apt-get install git)")
    said = process.run(["git", "--version"], check=False, tail_lines=1).tail
    return Check("source", "git", OK, f"{said[-1] if said else 'git'} at {found}")


def svn(kind: str) -> Check:
    """The backend svn sources use, as the svn source itself picks it (pysvn, else the CLI)."""
    from autopack.source import svn as svn_source

    needed = "svn" in kind
    try:
        client = svn_source._backend()
    except AutopackError as e:
        return Check("source", "svn backend", FAIL if needed else WARN, e.message, e.hint)
    if client.__module__.endswith("svn_pysvn"):
        import pysvn

        return Check("source", "svn backend", OK, f"pysvn {'.'.join(map(str, pysvn.version[:3]))} (Subversion {'.'.join(map(str, pysvn.svn_version[:3]))})")
    found = shutil.which("svn")
    if found is None:
        return Check("source", "svn backend", FAIL if needed else SKIP, "the svn command line (pysvn is not importable), and svn is not installed", "install Debian's python3-svn or subversion (apt-get install subversion)")
    said = process.run(["svn", "--version", "--quiet"], check=False, tail_lines=1).tail
    why = f"{svn_source.BACKEND_ENV}=cli" if os.environ.get(svn_source.BACKEND_ENV, "").strip().lower() == "cli" else "pysvn is not importable"
    return Check("source", "svn backend", OK, f"the svn command line {said[-1] if said else ''} at {found} ({why})")


def cache_checks() -> list[Check]:
    root = cache.root()
    existing = next(p for p in (root, *root.parents) if p.exists())
    writable = os.access(existing, os.W_OK | os.X_OK)
    made = "" if existing == root else f" (to be made in {existing})"
    size = cache.tree_size(root) if root.exists() else 0
    checks = [
        Check(
            "cache", "cache", OK if writable else FAIL, f"{root}{made}: {cache.format_size(size)}" + ("" if writable else ", not writable"), "" if writable else f"make {existing} writable, or set AUTOPACK_CACHE_DIR to a writable directory"
        )
    ]
    free = shutil.disk_usage(existing).free
    status = FAIL if free < NO_DISK else WARN if free < LOW_DISK else OK
    fix = "" if status == OK else f"free space on that filesystem (below {cache.format_size(LOW_DISK)}), or set AUTOPACK_CACHE_DIR to a roomier one"
    checks.append(Check("cache", "free disk", status, f"{cache.format_size(free)} free where the cache is", fix))
    return checks


def push_checks(settings: Settings) -> list[Check]:
    """Each destination's credential source, and the build's own pre-flight (push granted?)."""
    from autopack import parallel
    from autopack.push import destinations, publish

    def quiet(event: Event) -> None:
        return None  # the checks say it: the pre-flight's own lines are not shown

    try:
        found = destinations.plan(dataclasses.replace(settings, preflight=False), quiet)
    except AutopackError as e:
        return [Check("push", "push", FAIL, e.message, e.hint)]
    if not found.destinations:
        return [Check("push", "push", SKIP, "no destination (--push, AUTOPACK_DESTINATIONS, destinations in autopack.toml)")]

    def preflight(destination: Destination) -> Check:
        name = destination.name
        auth = found.auths.get(destination)
        origin = f"credential from {auth.origin}" if auth else "no credential (anonymous)"
        try:
            destinations.plan(dataclasses.replace(settings, destinations=(name,), preflight=True), quiet)
        except AutopackError as e:
            return Check("push", name, FAIL, f"{origin}; push not allowed: {e.message.removeprefix('pre-flight: ')}", e.hint)
        return Check("push", name, OK, f"{origin}; push allowed")

    return parallel.run_all(preflight, found.destinations, publish.MAX_JOBS)
