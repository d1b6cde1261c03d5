"""The only place that knows the order: source → plan → maven → image.

Each stage is a call into its module; this file wires their values together, reports stage
boundaries as events and records what each produced into the run's ``Record``.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import platformdirs

from autopack import cache, ci, credentials, tags, vcs
from autopack.builders import maven, publish
from autopack.builders.image import Engine, inspect_dockerfile
from autopack.builders.pom import Project, load_project
from autopack.credentials import RegistryAuth
from autopack.errors import MavenError, UsageError
from autopack.events import Emit, LogLine, Progress, StageFinished, StageStarted
from autopack.result import Record, StageRecord
from autopack.settings import Settings
from autopack.vcs.base import Checkout, Login, SourceSpec

CI_REGISTRY_IMAGE = "$CI_REGISTRY_IMAGE"  # what a bare --push stands for
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
            checkout = vcs.checkout(spec, staged, emit)
        record.checkout = replace(checkout, path=dest / checkout.path.relative_to(staged))
    return record


def source_spec(settings: Settings, emit: Emit, login: Login | None = None) -> SourceSpec:
    return vcs.resolve(
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
    log_dir = _log_dir(settings, started_at)

    with _stage(record, emit, "source"):
        dest.mkdir(parents=True)
        checkout = ci.enrich(vcs.checkout(source_spec(settings, emit, login), dest, emit), ci.detect(os.environ))
        record.checkout = checkout

    with _stage(record, emit, "plan"):
        project = load_project(checkout.path, settings.defines)
        record.project = project
        references = tags.render(settings.tags, settings.image or _default_image(project), _facts(project, checkout, settings, started_at))
        record.references = references
        dockerfile_path = settings.dockerfile
        if dockerfile_path and not dockerfile_path.is_absolute():
            dockerfile_path = project.directory / dockerfile_path
        dockerfile = inspect_dockerfile(project.directory, dockerfile_path)
        engine = Engine()
        push_plan = _plan_push(settings, emit)
        emit(Progress("plan", f"{project.coordinates} → {', '.join(references)}"))

    with _stage(record, emit, "maven"):
        log = log_dir / "maven.log"
        record.logs["maven"] = str(log)
        emit(LogLine("maven", f"Maven log: {log}", "info"))
        record.maven = maven.run_maven(settings, project, emit, log)
        artifact = maven.find_artifact(project)
        record.artifact = artifact
        emit(Progress("maven", f"artifact {artifact.relative_to(project.directory)}"))

    with _stage(record, emit, "image"):
        try:
            artifact_arg = artifact.relative_to(dockerfile.context).as_posix()
        except ValueError:
            raise MavenError(f"the artifact {artifact} lies outside the build context {dockerfile.context}", "keep <build><directory> inside the project") from None
        build_args = {"ARTIFACT": artifact_arg, "VERSION": project.version, **settings.build_args}
        record.image = engine.build(
            dockerfile,
            references,
            build_args=build_args,
            labels=_labels(project, checkout, started_at),
            target=settings.target,
            no_cache=settings.no_cache,
            pull=settings.pull,
            network=settings.network,
            emit=emit,
        )

    _push(settings, emit, record, push_plan, [tags.split_reference(r)[1] for r in references])
    return record


def push_only(settings: Settings, image: str, emit: Emit, record: Record) -> Record:
    """``autopack push``: an image already in the engine, to every destination."""
    with _stage(record, emit, "plan"):
        repository, tag = tags.split_reference(image)
        image_tags = list(settings.tags) or [tag or "latest"]
        for t in image_tags:
            tags.validate_reference(f"{repository}:{t}")
        record.image = Engine().existing(image if tag else f"{image}:latest")
        push_plan = _plan_push(settings, emit)
        if not push_plan.destinations:
            raise UsageError("nothing to push to", "give --push registry[:port]/repository (repeatable)")
    _push(settings, emit, record, push_plan, image_tags)
    return record


@dataclass
class _PushPlan:
    destinations: list[publish.Destination]
    auths: dict[publish.Destination, RegistryAuth | None]
    immutable: re.Pattern[str] | None
    preflight_tries: dict[publish.Destination, int]


def _plan_push(settings: Settings, emit: Emit) -> _PushPlan:
    """Destinations, their credentials and — unless --no-preflight — proof of push rights."""
    destinations = [publish.parse_destination(d) for d in _destinations(settings)]
    immutable = _immutable(settings.immutable_tags)
    tries: dict[publish.Destination, int] = {}
    if destinations and settings.preflight:
        auths = publish.preflight(destinations, settings.registry_auth_file, settings.push_retries, emit, tries)
    else:
        auths = {d: credentials.resolve(d.registry, settings.registry_auth_file) for d in destinations}
    return _PushPlan(destinations, auths, immutable, tries)


def _push(settings: Settings, emit: Emit, record: Record, plan: _PushPlan, image_tags: list[str]) -> None:
    if not plan.destinations:
        emit(StageFinished("push", "skipped", 0.0, "no --push destination"))
        return
    assert record.image is not None
    with _stage(record, emit, "push"):
        try:
            record.destinations = publish.publish(
                record.image.id,
                image_tags,
                plan.destinations,
                plan.auths,
                jobs=settings.push_jobs or len(plan.destinations),
                retries=settings.push_retries,
                immutable=plan.immutable,
                emit=emit,
                preflight_tries=plan.preflight_tries,
            )
        except publish.PublishFailed as e:
            record.destinations = e.results
            raise e.error from None


def _destinations(settings: Settings) -> list[str]:
    """``--push`` given without a value means GitLab's ``CI_REGISTRY_IMAGE``."""
    resolved = []
    for destination in settings.destinations:
        if destination == CI_REGISTRY_IMAGE:
            destination = os.environ.get("CI_REGISTRY_IMAGE", "")
            if not destination:
                raise UsageError("--push without a destination needs CI_REGISTRY_IMAGE", "name one: --push registry[:port]/repository")
        if destination not in resolved:
            resolved.append(destination)
    return resolved


def _immutable(pattern: str | None) -> re.Pattern[str] | None:
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error as e:
        raise UsageError(f"--immutable-tags '{pattern}' is not a regular expression: {e}", "e.g. --immutable-tags '\\d+\\.\\d+\\.\\d+'") from None


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


def _default_image(project: Project) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", project.artifact_id.lower()).strip("._-") or "app"


def _log_dir(settings: Settings, started_at: datetime) -> Path:
    root = settings.log_dir or platformdirs.user_log_path("autopack")
    path = Path(root) / f"{started_at.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path
