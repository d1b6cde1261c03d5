"""The only place that knows the order: source → plan → maven → image → push.

Each stage is a function that takes the plan (and the previous stage's value) and returns
its own frozen value; this file runs them in order, reports their boundaries as events, and
records each value in the run's ``Journal`` as it returns — the result file is assembled
from those values, also when a stage fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from autopack import cache, ci, process, secrets, source
from autopack import settings as settings_module
from autopack.errors import UsageError
from autopack.events import STAGES, Emit, LogLine, Progress, RunFacts, StageFinished, StageStarted
from autopack.result import Journal, StageTime
from autopack.settings import Settings
from autopack.source.base import Checkout, Login, SourceSpec

if TYPE_CHECKING:
    from autopack.engine import Engine
    from autopack.maven.runner import MavenBuild
    from autopack.plan import Keys, Plan
    from autopack.result import BuiltImage


def run(settings: Settings, emit: Emit, journal: Journal, login: Login | None = None) -> None:
    """Run every stage in order, recording each value in ``journal``; raises the failing
    stage's error. A checkout goes to a fresh work directory, removed when the run ends."""
    with cache.work_dir() as work:
        try:
            _build(settings, emit, journal, login, work / "src")
        except BaseException:
            process.stop_all()  # a worker thread's builder may still read the checkout: stop it first
            raise
    if (warning := cache.size_warning()) is not None:  # after the work directory is gone: not counted
        emit(LogLine("push", warning, "info"))


def checkout_only(settings: Settings, dest: Path, emit: Emit, journal: Journal, login: Login | None = None) -> None:
    """The source stage alone, into ``dest`` — which appears whole or not at all."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UsageError(f"{dest} exists and is not empty", "give a new directory: nothing is overwritten")
    with _stage(journal, emit, "source"):
        spec = source_spec(settings, emit, login)
        if spec.kind == "local":
            raise UsageError(f"{settings.source} is a local directory already", "give a git or svn URL")
        with cache.staging(dest) as staged:
            checkout = source.checkout(spec, staged, emit)
        journal.record(checkout=replace(checkout, path=dest / checkout.path.relative_to(staged)))


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
        svn_externals=settings.svn_externals,
        gitlab_url=settings.gitlab_url,
        login=login,
        environ=os.environ,
        emit=emit,
    )


def plan_only(settings: Settings, emit: Emit, journal: Journal, login: Login | None = None) -> None:
    """``autopack plan`` / ``build --dry-run``: the source and plan stages alone — the ref
    resolved, the poms read, every decision made and checked — then nothing: no Maven, no
    build, no push, no log directory; the checkout's work tree is removed at the end."""
    with cache.work_dir() as work:
        _source_and_plan(settings, emit, journal, login, work / "src", read_only=True)
    for name in ("maven", "image", "push"):
        _skipped(journal, emit, name, "a plan only (autopack plan, build --dry-run)")


def _source_and_plan(settings: Settings, emit: Emit, journal: Journal, login: Login | None, dest: Path, *, read_only: bool = False) -> tuple[Settings, Plan, Keys, Engine]:
    # The plan, Maven, engine and registry machinery, imported once a build runs (``autopack
    # checkout`` needs none of it: not the docker SDK, not requests).
    from autopack import plan as planning

    started_at = datetime.now(timezone.utc).replace(microsecond=0)

    with _stage(journal, emit, "source"):
        dest.mkdir(parents=True)
        spec = replace(source_spec(settings, emit, login), working_copy=False)  # a build needs the files only
        checkout = ci.enrich(source.checkout(spec, dest, emit), ci.detect(os.environ))
        journal.record(checkout=checkout)
        emit(RunFacts({"source": secrets.strip_url_credentials(checkout.url), "revision": checkout.shown_short_revision or "", "branch": checkout.branch or ""}))
        settings = _settings_in_checkout(settings, checkout, dest, emit)

    with _stage(journal, emit, "plan"):
        model = planning.read_project(settings, checkout, emit)
        journal.record(project=model.reactor.root.project)
        plan, keys, engine = planning.make(settings, checkout, model, emit, started_at, read_only=read_only)
        journal.record(plan=plan, checkout=plan.checkout or checkout)
        emit(RunFacts({"engine": plan.engine}))
        if plan.maven_goals or plan.maven_defines:  # a reproducible jar, a layered image's classpath
            settings = replace(settings, goals=(*settings.goals, *plan.maven_goals), defines={**plan.maven_defines, **settings.defines})
    return settings, plan, keys, engine


def _build(settings: Settings, emit: Emit, journal: Journal, login: Login | None, dest: Path) -> None:
    from autopack.image import stage as image_stage

    settings, plan, keys, engine = _source_and_plan(settings, emit, journal, login, dest)
    assert plan.log_dir is not None
    plan.log_dir.mkdir(parents=True, exist_ok=True)  # made by a run that does something, never by a plan

    if not plan.to_build:  # every image exists with these inputs: neither Maven nor a build
        _skipped(journal, emit, "maven", "the inputs of every image are unchanged (--force builds)")
        with _stage(journal, emit, "image"):
            images = image_stage.reuse_all(plan, engine, emit)
            journal.record(images=images)
        _push(plan, images, keys, engine, settings, emit, journal)
        return

    with _stage(journal, emit, "maven"):
        build = _maven(plan, settings, emit, journal)
        journal.record(maven=build)
        if build.error is not None and not build.artifacts:
            raise build.error

    with _stage(journal, emit, "image"):
        if build.error is not None:
            emit(LogLine("image", f"Maven failed; building the images whose modules were built: {', '.join(build.artifacts)}", "warning"))
        image_logs = {("image" if len(plan.images) == 1 else f"image:{module}"): str(path) for module, path in image_stage.logs(plan).items()}
        journal.record(logs={**journal.result.logs, **image_logs})
        emit(LogLine("image", f"image build log: {', '.join(image_logs.values())}", "info"))
        reused = image_stage.reuse_all(plan, engine, emit)
        built, error = image_stage.build_all(plan, build, engine, keys, settings, emit)
        images = _in_plan_order(plan, reused + built)
        journal.record(images=images)
        if error is not None:
            raise error
    if build.error is not None:
        raise build.error

    _push(plan, images, keys, engine, settings, emit, journal)


def _in_plan_order(plan: Plan, images: tuple[BuiltImage, ...]) -> tuple[BuiltImage, ...]:
    order = {i.module: n for n, i in enumerate(plan.images)}
    return tuple(sorted(images, key=lambda b: order[b.module]))


def _settings_in_checkout(settings: Settings, checkout: Checkout, dest: Path, emit: Emit) -> Settings:
    """The project's own autopack.toml joins the settings (below the command line) wherever
    the project came from: a checkout, a ``file://`` URL or ``--subdir`` of a directory
    (a plain directory's own was read already, and is not read twice)."""
    settings = settings_module.with_project_file(settings, checkout.path)
    if settings.config_file:
        where = settings.config_file.relative_to(dest) if settings.config_file.is_relative_to(dest) else None
        emit(LogLine("source", f"settings from {where} in the checkout" if where else f"settings from {settings.config_file}", "info"))
    return settings


def _maven(plan: Plan, settings: Settings, emit: Emit, journal: Journal) -> MavenBuild:
    """Maven once for the reactor, then each image's artifact from what it reported — for
    every module it built, also when it failed elsewhere."""
    from autopack.maven import artifact
    from autopack.maven import runner as maven

    assert plan.project is not None and plan.log_dir is not None
    log = plan.log_dir / "maven.log"
    journal.record(logs={**journal.result.logs, "maven": str(log)})
    emit(LogLine("maven", f"Maven log: {log}", "info"))
    if maven.COPY_DEPENDENCIES in plan.maven_goals:  # copy-dependencies only adds: a jar dropped from the pom must not stay
        for image in plan.to_build:
            assert image.project is not None
            shutil.rmtree(image.project.build_directory / "dependency", ignore_errors=True)
    build = maven.run_maven(settings, plan.project, emit, log, plan.maven_projects, plan.maven)
    journal.record(maven=build)  # kept should no artifact be found
    found = {}
    for image in plan.to_build:
        assert image.project is not None
        if build.built(image.project.name):
            found[image.module] = artifact.find_artifact(image.project, build.reported, build.started, image.artifact_choice)
            emit(Progress("maven", f"{image.module}: artifact {found[image.module].relative_to(image.project.directory)}", {"module": image.module, "state": "built"}))
    return replace(build, artifacts=found)


def push_only(settings: Settings, image: str, emit: Emit, journal: Journal) -> None:
    """``autopack push``: an image already in the engine, to every destination."""
    from autopack import plan as planning
    from autopack.result import BuiltImage

    with _stage(journal, emit, "plan"):
        plan, keys, engine, existing = planning.for_push(settings, image, emit)
        journal.record(plan=plan, images=(BuiltImage(plan.images[0].module, existing),))
    _push(plan, journal.result.images, keys, engine, settings, emit, journal)


def _push(plan: Plan, images: tuple[BuiltImage, ...], keys: Keys, engine: Engine, settings: Settings, emit: Emit, journal: Journal) -> None:
    from autopack.push import stage as push_stage

    if not plan.destinations:
        if plan.supply.any:  # --sbom / --provenance asked for without a push: the files alone
            from autopack.push import attach

            journal.record(pushed=attach.files_only(plan, images, settings, emit))
        emit(StageFinished("push", "skipped", 0.0, "no --push destination"))
        return
    with _stage(journal, emit, "push"):
        pushed, error = push_stage.push_all(plan, images, keys, engine, settings, emit)
        journal.record(pushed=pushed)
        if error is not None:
            raise error


def _skipped(journal: Journal, emit: Emit, name: str, why: str) -> None:
    journal.stage(StageTime(name, "skipped"))
    emit(StageFinished(name, "skipped", 0.0, why))


@contextlib.contextmanager
def _stage(journal: Journal, emit: Emit, name: str) -> Iterator[None]:
    journal.stage(StageTime(name))
    emit(StageStarted(name, STAGES[name]))
    started = time.monotonic()
    try:
        yield
    except BaseException:
        seconds = time.monotonic() - started
        journal.stage(StageTime(name, "failed", seconds))
        emit(StageFinished(name, "failed", seconds))
        raise
    seconds = time.monotonic() - started
    journal.stage(StageTime(name, "ok", seconds))
    emit(StageFinished(name, "ok", seconds))
