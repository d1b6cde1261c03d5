"""The image stage: each planned image whose artifact Maven built, through the engine seam,
up to ``--jobs`` at once; one ``BuiltImage`` value per image."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from autopack import parallel
from autopack.engine import BuildRequest, Engine, direct
from autopack.errors import AutopackError, MavenError
from autopack.events import Emit, Event, LogLine, Progress
from autopack.maven import layers as java_layers
from autopack.maven.runner import MavenBuild
from autopack.plan import Keys, Plan, PlannedImage
from autopack.result import BuiltImage
from autopack.settings import Settings

STAGE = "image"


def build_all(plan: Plan, maven: MavenBuild, engine: Engine, keys: Keys, settings: Settings, emit: Emit) -> tuple[tuple[BuiltImage, ...], AutopackError | None]:
    """Build every planned image that has its artifact; all are tried. Returns what was
    built, and the error the stage ends with (the first, counting the others) if any failed.
    A builder that pushes as it builds pushes each image to its first destination (with
    the login in ``keys``); the push stage copies from there."""
    ready = [i for i in plan.images if i.module in maven.artifacts]
    several = len(ready) > 1

    def build_one(planned: PlannedImage) -> BuiltImage | AutopackError:
        try:
            wanted = request(planned, maven.artifacts[planned.module], plan, settings, _layers(planned, maven.artifacts[planned.module], plan, settings, emit))
            if engine.pushes_while_building and planned.destinations and not (plan.immutable and engine.client is not None):
                first = planned.destinations[0].destination
                wanted = replace(wanted, push_to=tuple(f"{first.name}:{t}" for t in planned.destination_tags(settings.inputs_tag)), push_auth=keys.auths.get(first.registry))
            built = BuiltImage(planned.module, engine.build(wanted, _for_module(emit, planned.module) if several else emit), maven.artifacts[planned.module])
        except AutopackError as e:
            emit(Progress(STAGE, f"{planned.module}: failed", {"module": planned.module, "state": "failed"}))
            return e
        emit(Progress(STAGE, f"{planned.module}: {built.image.id.removeprefix('sha256:')[:12]}", {"module": planned.module, "state": "built"}))
        return built

    outcomes = parallel.run_all(build_one, ready, settings.jobs or 2)
    built = tuple(o for o in outcomes if isinstance(o, BuiltImage))
    return built, _first([o for o in outcomes if isinstance(o, AutopackError)], several)


def reuse_all(plan: Plan, engine: Engine, emit: Emit) -> tuple[BuiltImage, ...]:
    """The images whose inputs are unchanged, as they exist: one in the local store gets the
    planned references it lacks (a tag, not a build); one in the registries only is pushed
    from there by the push stage."""
    reused = []
    for planned in plan.images:
        if planned.unchanged is None:
            continue
        image = planned.unchanged.image
        if image.store == "docker" and (missing := [r for r in planned.references if r not in image.references]):
            engine.tag(image.id, missing)
        reused.append(BuiltImage(planned.module, replace(image, references=planned.references), reused=True))
        emit(Progress(STAGE, f"{planned.module}: unchanged, {image.id.removeprefix('sha256:')[:12]}", {"module": planned.module, "state": "unchanged"}))
    return tuple(reused)


def logs(plan: Plan) -> dict[str, Path]:
    """Each image's build log, beside the Maven log: ``image.log``, or one per module."""
    assert plan.log_dir is not None
    if len(plan.images) == 1:
        return {i.module: plan.log_dir / "image.log" for i in plan.to_build}
    return {i.module: plan.log_dir / f"image-{i.module.replace(':', '-')}.log" for i in plan.to_build}


def request(planned: PlannedImage, artifact_path: Path, plan: Plan, settings: Settings, layers_dir: Path | None = None) -> BuildRequest:
    """What the builder gets: the plan's image, with ARTIFACT (and LAYERS, where the
    artifact was split) relative to its context."""
    assert planned.dockerfile is not None
    artifact = _in_context(artifact_path, planned.dockerfile.context, "artifact")
    staged = {java_layers.LAYERS_ARG: _in_context(layers_dir, planned.dockerfile.context, "layers directory")} if layers_dir else {}
    return BuildRequest(
        planned.dockerfile,
        planned.references,
        {"ARTIFACT": artifact, **staged, **planned.build_args},
        planned.labels,
        settings.target,
        settings.no_cache,
        settings.pull,
        settings.network,
        plan.build_secrets,
        logs(plan)[planned.module] if plan.log_dir else None,
        platforms=direct.platforms_of(settings.platforms),
        epoch=plan.epoch,
        image_format=settings.image_format,
        load=True if settings.load else None if not planned.destinations else False,
    )


def _in_context(path: Path, context: Path, what: str) -> str:
    try:
        return path.relative_to(context).as_posix()
    except ValueError:
        raise MavenError(f"the {what} {path} lies outside the build context {context}", "keep <build><directory> inside the module") from None


def _layers(planned: PlannedImage, artifact: Path, plan: Plan, settings: Settings, emit: Emit) -> Path | None:
    """A Dockerfile that declares ARG LAYERS gets the artifact split into layer directories
    (``maven/layers.py``) under the module's build directory; None for any other."""
    assert planned.dockerfile is not None and planned.project is not None
    if settings.layers == "off" or not java_layers.declares_layers(planned.dockerfile):
        return None
    build = planned.project.build_directory
    staged = java_layers.stage(artifact, build / "autopack-layers", plan.reactor_artifacts, build / "dependency")
    emit(LogLine(STAGE, f"{planned.module}: {staged.summary()}", "info"))
    return staged.dest


def _first(errors: Sequence[AutopackError], several: bool) -> AutopackError | None:
    if not errors:
        return None
    first = errors[0]
    if several and len(errors) > 1:
        return type(first)(f"{first.message} (and {len(errors) - 1} more)", first.hint)
    return first


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
