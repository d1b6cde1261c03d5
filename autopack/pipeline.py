"""The only place that knows the order: source → plan → maven → image → push.

Each stage is a call into its module; this file wires their values together, reports stage
boundaries as events and records what each produced into the run's ``Record``.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import platformdirs

from autopack import cache, ci, parallel, source, tags
from autopack import settings as settings_module
from autopack.engine import Engine
from autopack.errors import AutopackError, ImageError, MavenError, UsageError
from autopack.events import Emit, Event, LogLine, Progress, StageFinished, StageStarted
from autopack.image.dockerfile import Dockerfile, inspect_dockerfile
from autopack.maven import artifact
from autopack.maven import config as maven_config
from autopack.maven import runner as maven
from autopack.maven.pom import Project
from autopack.maven.reactor import Module, Reactor, load_reactor
from autopack.push import destinations
from autopack.result import Record, StageRecord, Target
from autopack.settings import Settings
from autopack.source.base import Checkout, Login, SourceSpec

STAGES = {"source": "Source", "plan": "Plan", "maven": "Maven", "image": "Image", "push": "Push"}


def run(settings: Settings, emit: Emit, record: Record, login: Login | None = None) -> Record:
    """Run every stage in order, filling ``record``; raises the failing stage's error.
    A checkout goes to a fresh work directory that is removed when the run ends."""
    with cache.work_dir() as work:
        return _build(settings, emit, record, login, work / "src")


def checkout_only(settings: Settings, dest: Path, emit: Emit, record: Record, login: Login | None = None) -> Record:
    """The source stage alone, into ``dest`` — which appears whole or not at all."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UsageError(f"{dest} exists and is not empty", "give a new directory: nothing is overwritten")
    with _stage(record, emit, "source"):
        spec = source_spec(settings, emit, login)
        if spec.kind == "local":
            raise UsageError(f"{settings.source} is a local directory already", "give a git or svn URL")
        with cache.staging(dest) as staged:
            checkout = source.checkout(spec, staged, emit)
        record.checkout = replace(checkout, path=dest / checkout.path.relative_to(staged))
    return record


def source_spec(settings: Settings, emit: Emit, login: Login | None = None) -> SourceSpec:
    return source.resolve(
        settings.source,
        vcs=settings.vcs,
        ref=settings.ref,
        revision=settings.revision,
        branch=settings.branch,
        svn_tag=settings.svn_tag,
        subdir=settings.subdir,
        shallow=settings.shallow,
        gitlab_url=settings.gitlab_url,
        login=login,
        environ=os.environ,
        emit=emit,
    )


def _build(settings: Settings, emit: Emit, record: Record, login: Login | None, dest: Path) -> Record:
    started_at = datetime.now(timezone.utc).replace(microsecond=0)

    with _stage(record, emit, "source"):
        dest.mkdir(parents=True)
        checkout = ci.enrich(source.checkout(source_spec(settings, emit, login), dest, emit), ci.detect(os.environ))
        record.checkout = checkout
        if checkout.kind != "local":
            settings = settings_module.with_project_file(settings, checkout.path)
        if settings.config_file:
            where = settings.config_file.relative_to(dest) if settings.config_file.is_relative_to(dest) else None
            emit(LogLine("source", f"settings from {where} in the checkout" if where else f"settings from {settings.config_file}", "info"))
    log_dir = _log_dir(settings, started_at)

    with _stage(record, emit, "plan"):
        maven_setup = maven_config.read(settings, checkout.path)
        if maven_setup.file_args:
            emit(LogLine("plan", f".mvn/maven.config: {' '.join(maven_setup.file_args)}", "info"))
        reactor = load_reactor(checkout.path, maven_setup.defines, maven_setup.profiles, maven_setup.settings_properties)
        record.project = reactor.root.project
        modules = _image_modules(reactor, settings)
        many = len(reactor.modules) > 1
        dockerfiles: dict[str, Dockerfile] = {}
        for module in modules:
            target = Target(module.artifact_id, module.project)
            name = _image_name(module.project, settings, many)
            target.references = tags.render(settings.tags, name, _facts(module.project, checkout, settings, started_at))
            record.targets.append(target)
            dockerfiles[module.artifact_id] = inspect_dockerfile(module.directory, _dockerfile_path(settings, module.directory))
        engine = Engine(settings.engine)
        emit(LogLine("plan", f"engine: {engine.description}", "info"))
        build_secrets = _build_secrets(settings)
        push_plan = destinations.plan(settings, emit)
        emit(Progress("plan", f"{reactor.root.project.coordinates} → {', '.join(r for t in record.targets for r in t.references)}"))

    failure: MavenError | None = None
    with _stage(record, emit, "maven"):
        log = log_dir / "maven.log"
        record.logs["maven"] = str(log)
        emit(LogLine("maven", f"Maven log: {log}", "info"))
        projects = [m.path for m in modules] if settings.modules and many else []
        try:
            record.maven = maven.run_maven(settings, reactor.root.project, emit, log, projects, maven_setup)
            reported, since = record.maven.reported, record.maven.started
        except MavenError as e:
            failure = e
            reported, since = getattr(e, "reported", ()), getattr(e, "started", 0.0)
        built = getattr(failure, "module_status", None)
        for target, module in zip(record.targets, modules, strict=True):
            if failure is None or (built and built.get(module.project.name) == "SUCCESS"):
                choice = settings.artifacts.get(module.artifact_id) or settings.artifact
                target.artifact = artifact.find_artifact(module.project, reported, since, choice)
                emit(Progress("maven", f"{target.module}: artifact {target.artifact.relative_to(module.directory)}", {"module": target.module, "state": "built"}))
        if failure is not None and not any(t.artifact for t in record.targets):
            raise failure

    with _stage(record, emit, "image"):
        ready = [t for t in record.targets if t.artifact]
        if failure is not None:
            emit(LogLine("image", f"Maven failed; building the images whose modules were built: {', '.join(t.module for t in ready)}", "warning"))
        _build_images(engine, ready, dockerfiles, settings, checkout, started_at, emit, build_secrets)
    if failure is not None:
        raise failure

    _push(settings, emit, record, push_plan, many)
    return record


def _image_modules(reactor: Reactor, settings: Settings) -> list[Module]:
    """The modules to make images of: those asked for with --module, else every module with
    a Dockerfile; a project of one module without a Dockerfile fails on the Dockerfile."""
    if settings.modules:
        return reactor.select(settings.modules)
    targets = reactor.targets()
    if targets:
        return targets
    if len(reactor.modules) == 1:
        return [reactor.root]  # inspect_dockerfile names the missing file
    raise ImageError(f"no module of {reactor.root.artifact_id} has a Dockerfile", "add a Dockerfile to each service module's directory")


def _build_images(
    engine: Engine,
    targets: list[Target],
    dockerfiles: dict[str, Dockerfile],
    settings: Settings,
    checkout: Checkout,
    started_at: datetime,
    emit: Emit,
    build_secrets: dict[str, Path],
) -> None:
    """Build every target's image, up to --jobs at once; all are tried, the first error is raised."""
    errors: list[AutopackError] = []

    def build_one(target: Target) -> None:
        assert target.artifact is not None and target.project is not None
        dockerfile = dockerfiles[target.module]
        try:
            try:
                artifact_arg = target.artifact.relative_to(dockerfile.context).as_posix()
            except ValueError:
                raise MavenError(f"the artifact {target.artifact} lies outside the build context {dockerfile.context}", "keep <build><directory> inside the module") from None
            target.image = engine.build(
                dockerfile,
                target.references,
                build_args={"ARTIFACT": artifact_arg, "VERSION": target.project.version, **settings.build_args},
                labels=_labels(target.project, checkout, started_at),
                target=settings.target,
                no_cache=settings.no_cache,
                pull=settings.pull,
                network=settings.network,
                secrets=build_secrets,
                emit=emit if len(targets) == 1 else _for_module(emit, target.module),
            )
            emit(Progress("image", f"{target.module}: {target.image.id.removeprefix('sha256:')[:12]}", {"module": target.module, "state": "built"}))
        except AutopackError as e:
            errors.append(e)
            emit(Progress("image", f"{target.module}: failed", {"module": target.module, "state": "failed"}))

    parallel.run_all(build_one, targets, settings.jobs or 2)
    if errors:
        first = errors[0]
        if len(targets) > 1:
            raise type(first)(f"{first.message} (and {len(errors) - 1} more)" if len(errors) > 1 else first.message, first.hint)
        raise first


def _for_module(emit: Emit, module: str) -> Emit:
    """Prefix a module's image-build events with its name, for views that show many at once."""

    def emit_module(event: Event) -> None:
        if isinstance(event, Progress):
            emit(Progress(event.stage, f"{module}: {event.message}", {**event.facts, "module": module, "key": module}))
        elif isinstance(event, LogLine):
            emit(LogLine(event.stage, f"{module}: {event.text}", event.level))
        else:
            emit(event)

    return emit_module


def _build_secrets(settings: Settings) -> dict[str, Path]:
    """``--secret`` files, checked before Maven runs; a missing one is a usage error."""
    found = {name: Path(path) for name, path in settings.build_secrets.items()}
    for name, path in found.items():
        if not path.is_file():
            raise UsageError(f"--secret id={name}: no file at {path}", "give src= the path of an existing file")
    return found


def _dockerfile_path(settings: Settings, directory: Path) -> Path | None:
    if settings.dockerfile and not settings.dockerfile.is_absolute():
        return directory / settings.dockerfile
    return settings.dockerfile


def push_only(settings: Settings, image: str, emit: Emit, record: Record) -> Record:
    """``autopack push``: an image already in the engine, to every destination."""
    with _stage(record, emit, "plan"):
        repository, tag = tags.split_reference(image)
        image_tags = list(settings.tags) or [tag or "latest"]
        for t in image_tags:
            tags.validate_reference(f"{repository}:{t}")
        target = Target(module=repository.rpartition("/")[2])
        target.references = [f"{repository}:{t}" for t in image_tags]
        target.image = Engine().existing(image if tag else f"{image}:latest")
        record.targets.append(target)
        push_plan = destinations.plan(settings, emit)
        if not push_plan.destinations:
            raise UsageError("nothing to push to", "give --push registry[:port]/repository (repeatable)")
    _push(settings, emit, record, push_plan, many=False)
    return record


def _push(settings: Settings, emit: Emit, record: Record, plan: destinations.PushPlan, many: bool) -> None:
    if not plan.destinations:
        emit(StageFinished("push", "skipped", 0.0, "no --push destination"))
        return
    with _stage(record, emit, "push"):
        destinations.push_targets(record.targets, plan, settings, emit, many)


@contextlib.contextmanager
def _stage(record: Record, emit: Emit, name: str) -> Iterator[None]:
    entry = StageRecord(name)
    record.stages.append(entry)
    emit(StageStarted(name, STAGES[name]))
    started = time.monotonic()
    try:
        yield
    except BaseException:
        entry.status, entry.seconds = "failed", time.monotonic() - started
        emit(StageFinished(name, "failed", entry.seconds))
        raise
    entry.status, entry.seconds = "ok", time.monotonic() - started
    emit(StageFinished(name, "ok", entry.seconds))


def _facts(project: Project, checkout: Checkout, settings: Settings, started_at: datetime) -> dict[str, str | None]:
    return {
        "version": project.version,
        "revision": checkout.short_revision,
        "branch": checkout.branch,
        "build": settings.build_number,
        "timestamp": started_at.strftime("%Y%m%d%H%M%S"),
        "artifactId": project.artifact_id,
        "groupId": project.group_id,
    }


def _labels(project: Project, checkout: Checkout, started_at: datetime) -> dict[str, str]:
    labels = {
        "org.opencontainers.image.title": project.artifact_id,
        "org.opencontainers.image.version": project.version,
        "org.opencontainers.image.source": checkout.url,
        "org.opencontainers.image.created": _created(checkout, started_at).isoformat().replace("+00:00", "Z"),
    }
    if checkout.revision:
        labels["org.opencontainers.image.revision"] = checkout.revision
    return labels


def _created(checkout: Checkout, started_at: datetime) -> datetime:
    """``SOURCE_DATE_EPOCH``, else the commit's time, else now: a rebuild of the same commit
    then carries the same labels, and with a reproducible jar it is the very same image."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), timezone.utc)
    if checkout.committed_at:
        try:
            return datetime.fromisoformat(checkout.committed_at).astimezone(timezone.utc)
        except ValueError:
            pass
    return started_at


def _image_name(project: Project, settings: Settings, many: bool) -> str:
    """``images.<artifactId>`` from autopack.toml, else the artifactId; with several images
    ``--image`` is a prefix (``registry/team`` → ``registry/team/<artifactId>``)."""
    own = settings.images.get(project.artifact_id) or re.sub(r"[^a-z0-9._-]+", "-", project.artifact_id.lower()).strip("._-") or "app"
    if not settings.image:
        return own
    return f"{settings.image}/{own.rpartition('/')[2]}" if many else settings.image


def _log_dir(settings: Settings, started_at: datetime) -> Path:
    root = settings.log_dir or platformdirs.user_log_path("autopack")
    path = Path(root) / f"{started_at.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path
