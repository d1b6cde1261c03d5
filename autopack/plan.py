"""The plan stage: everything that can be decided before Maven runs, decided once and frozen.

``make`` reads the pom (as Maven would, ``.mvn/`` included), picks the modules to make images
of, renders and validates every reference, reads each Dockerfile, chooses the engine and
checks the push destinations (their credential *source* and push rights). The ``Plan`` it
returns is what every later stage takes; nothing in it changes afterwards, and it holds no
secret: the credentials the pre-flight resolved travel beside it, in ``Keys``.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import platformdirs

from autopack import inputs, tags, unchanged
from autopack.attest import sbom
from autopack.engine import Engine, Image, direct
from autopack.errors import ImageError, UsageError
from autopack.events import Emit, LogLine, Progress
from autopack.image import hygiene, oci
from autopack.image.dockerfile import Dockerfile, inspect_dockerfile
from autopack.maven import config as maven_config
from autopack.maven import layers as java_layers
from autopack.maven import runner as maven_runner
from autopack.maven.config import MavenConfig
from autopack.maven.pom import Project
from autopack.maven.reactor import Module, Reactor, load_reactor
from autopack.push import destinations
from autopack.push.credentials import RegistryAuth
from autopack.push.publish import Destination
from autopack.settings import Settings
from autopack.source.base import Checkout
from autopack.unchanged import Unchanged

if TYPE_CHECKING:
    from autopack.attest.sign import Signer

STAGE = "plan"
OUTPUT_TIMESTAMP = "project.build.outputTimestamp"


@dataclass(frozen=True)
class PlannedDestination:
    """Where an image goes, and where its credential comes from (never the credential)."""

    destination: Destination
    credential: str | None = None  # e.g. "~/.docker/config.json", "AUTOPACK_REGISTRY_PASSWORD"
    preflight_attempts: int = 0  # tries the pre-flight check took (0: none was made)


@dataclass(frozen=True)
class PlannedImage:
    """One image of the run: the module it packages and everything its build needs but the
    artifact, which Maven has yet to report."""

    module: str
    references: tuple[str, ...]
    project: Project | None = None
    dockerfile: Dockerfile | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    build_args: Mapping[str, str] = field(default_factory=dict)  # ARTIFACT is added once it is known
    artifact_choice: str | None = None  # --artifact / artifacts.<module>
    destinations: tuple[PlannedDestination, ...] = ()
    inputs: str | None = None  # the inputs digest (also the io.autopack.inputs label)
    bases: Mapping[str, str | None] = field(default_factory=dict)  # each FROM image (ARGs applied) → "id:…" / "digest:…", None where unknown
    unchanged: Unchanged | None = None  # an image with these inputs exists: not built again

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(tags.split_reference(r)[1] or "latest" for r in self.references))

    def destination_tags(self, with_inputs: bool) -> tuple[str, ...]:
        """The tags each destination gets: the planned ones, and the inputs tag (``--inputs-tag``)."""
        return (*self.tags, inputs.tag(self.inputs)) if with_inputs and self.inputs else self.tags


@dataclass(frozen=True)
class Supply:
    """What is attached to each image, made once a build and pushed to every destination:
    an SBOM, a provenance statement, and a signature by digest (``signer`` names the key or
    command, never a secret)."""

    sbom: bool = False
    provenance: bool = False
    signer: str | None = None
    sbom_source: str | None = None  # what gives the SBOM its Maven graph: the CycloneDX plugin, or the dependency list

    @property
    def any(self) -> bool:
        return self.sbom or self.provenance or self.signer is not None


@dataclass(frozen=True)
class Plan:
    project: Project | None
    images: tuple[PlannedImage, ...]
    engine: str  # what builds, as shown: "buildkit (Docker engine 20.10.24)"
    maven: MavenConfig | None = None
    maven_projects: tuple[str, ...] = ()  # -pl, when --module picks part of a reactor
    build_secrets: Mapping[str, Path] = field(default_factory=dict)
    immutable: re.Pattern[str] | None = None
    log_dir: Path | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc).replace(microsecond=0))
    checkout: Checkout | None = None  # the source as planned (``dirty`` found here)
    epoch: int | None = None  # the commit's time (or SOURCE_DATE_EPOCH): a direct build's config and history times
    reactor_artifacts: tuple[str, ...] = ()  # every module's artifactId: its jar in another's is a project dependency
    platforms: tuple[str, ...] = ()  # what is built for: --platform, else this machine's
    maven_goals: tuple[str, ...] = ()  # goals autopack adds to the Maven run: the runtime classpath for a layered image
    maven_defines: Mapping[str, str] = field(default_factory=dict)  # properties autopack adds: a reproducible jar's time, the classpath's scope
    supply: Supply = Supply()
    maven_command: tuple[str, ...] = ()  # the Maven command line the build runs (shown by ``autopack plan``)

    @property
    def destinations(self) -> tuple[PlannedDestination, ...]:
        return tuple(d for image in self.images for d in image.destinations)

    @property
    def to_build(self) -> tuple[PlannedImage, ...]:
        """The images whose inputs changed (or that ``--force`` builds): Maven's and the image stage's work."""
        return tuple(i for i in self.images if i.unchanged is None)


@dataclass(frozen=True)
class Keys:
    """The registry credentials the pre-flight resolved, by registry: handed to the push
    stage beside the plan, never part of it, of the result or of any output."""

    auths: Mapping[str, RegistryAuth | None] = field(default_factory=dict)
    signer: Signer | None = None  # --sign-key's key, loaded with its password; or --sign-command

    def __repr__(self) -> str:
        return f"Keys({len(self.auths)} destinations{', a signer' if self.signer else ''})"


@dataclass(frozen=True)
class Model:
    """The project as Maven will see it: its configuration (``.mvn/``, settings.xml) and the
    reactor of modules read with it."""

    setup: MavenConfig
    reactor: Reactor


def read_project(settings: Settings, checkout: Checkout, emit: Emit) -> Model:
    setup = maven_config.read(settings, checkout.path)
    if setup.file_args:
        emit(LogLine(STAGE, f".mvn/maven.config: {' '.join(setup.file_args)}", "info"))
    return Model(setup, load_reactor(checkout.path, setup.defines, setup.profiles, setup.settings_properties))


def make(settings: Settings, checkout: Checkout, model: Model, emit: Emit, started_at: datetime, *, read_only: bool = False) -> tuple[Plan, Keys, Engine]:
    """The plan for building ``checkout``, with the credentials and the engine connection it
    was checked against; raises the stage error of the first thing that cannot work (a tag,
    a Dockerfile, the engine, a destination), before Maven runs. ``read_only``: a plan that
    nothing executes (``autopack plan``), which writes nothing, not even a cached base image."""
    setup, reactor = model.setup, model.reactor
    modules = image_modules(reactor, settings)
    many = len(reactor.modules) > 1
    dockerfiles = [inspect_dockerfile(m.directory, dockerfile_path(settings, m.directory)) for m in modules]
    platforms = direct.platforms_of(settings.platforms)
    _check_direct_settings(settings)
    engine = Engine(settings.engine, settings.builder, auth_file=settings.registry_auth_file, pull=settings.pull, retries=settings.push_retries, read_only=read_only)
    if engine.pushes_while_building and settings.immutable_tags and engine.client is None:
        raise UsageError(
            "--immutable-tags cannot be checked when a BuildKit daemon pushes as it builds and no Docker engine holds the image",
            "run where a Docker engine answers (the daemon then loads the image, and the push stage checks the tags), or drop --immutable-tags",
        )
    build_secrets = _build_secrets(settings)
    planned, keys = _destinations(settings, emit)
    _check_load(engine, settings, platforms)  # --engine direct: before its base images are read
    if engine.may_build_directly(bool(planned), settings.load, len(platforms)):
        engine.choose(_direct_why_not(modules, dockerfiles, settings, engine, platforms), emit, len(platforms))
    if engine.builder is not direct and platforms and platforms != (oci.host_platform(),):
        raise UsageError(f"--platform {','.join(map(str, platforms))} needs the direct builder; {engine.builder.NAME} builds this machine's ({oci.host_platform()})", "make the Dockerfile RUN-less (the direct builder), or drop --platform")
    _check_load(engine, settings, platforms)
    emit(LogLine(STAGE, f"engine: {engine.description}", "info"))
    if engine.pushes_while_building and engine.client is None and not planned:
        raise UsageError("a BuildKit daemon with no Docker engine to load into needs somewhere to push the image", "give --push registry[:port]/repository, or run where a Docker engine answers")
    source = inputs.read_source(checkout.path, [m.project.build_directory for m in reactor.modules], in_git=checkout.kind in ("git", "local"))
    if source.dirty:
        checkout = replace(checkout, dirty=True)
        emit(LogLine(STAGE, f"the working copy has changes its commit does not: revision {checkout.shown_short_revision}", "warning"))
    images = []
    for module, dockerfile in zip(modules, dockerfiles, strict=True):
        references = tuple(tags.render(settings.tags, _image_name(module.project, settings, many), _facts(module.project, checkout, settings, started_at)))
        image = PlannedImage(
            module=reactor.name(module),
            references=references,
            project=module.project,
            dockerfile=dockerfile,
            labels=labels(module.project, checkout, started_at),
            build_args=MappingProxyType({"VERSION": module.project.version, **settings.build_args}),
            artifact_choice=settings.artifacts.get(module.artifact_id) or settings.artifact,
            destinations=_per_image(planned, references[0], many),
        )
        images.append(_with_inputs(image, module, model, source, settings, engine, keys, emit))
    _one_image_per_reference(images)
    hygiene.review(images, settings.strict, engine.builder.NAME, emit)
    to_build = [m for m, i in zip(modules, images, strict=True) if i.unchanged is None]
    added_goals, added_defines = _maven_additions(reactor, dockerfiles, settings, checkout, started_at, engine)
    supply, signer = _supply(settings, bool(planned), emit)
    if supply.sbom and to_build:
        try:
            declared = any("cyclonedx-maven-plugin" in m.project.pom.read_text(errors="replace") for m in reactor.modules)
            goals, defines = sbom.maven_additions(setup.local_repository, settings.offline or setup.offline, settings.sbom_tool, declared)
        except sbom.SbomError as e:  # neither way of reading the graph can run offline
            if "sbom" in settings.given:
                raise
            emit(LogLine(STAGE, f"{e.message} ({e.hint}; --no-sbom says so)", "warning"))
            supply = replace(supply, sbom=False)
        else:
            added_goals, added_defines = (*added_goals, *goals), {**added_defines, **defines}
            supply = replace(supply, sbom_source=sbom.source_of(goals))
    keys = replace(keys, signer=signer)
    maven_projects = tuple(m.path for m in to_build) if many and (settings.modules or len(to_build) < len(modules)) else ()
    with_additions = replace(settings, goals=(*settings.goals, *added_goals), defines={**added_defines, **settings.defines})
    plan = Plan(
        project=reactor.root.project,
        images=tuple(images),
        engine=engine.description,
        maven=setup,
        maven_projects=maven_projects,
        build_secrets=MappingProxyType(build_secrets),
        immutable=_immutable(settings.immutable_tags),
        log_dir=_log_dir(settings, started_at),
        started_at=started_at,
        checkout=checkout,
        epoch=int(_created(checkout, started_at).timestamp()),
        platforms=tuple(str(p) for p in platforms or (oci.host_platform(),)),
        reactor_artifacts=tuple(m.artifact_id for m in reactor.modules),
        maven_goals=added_goals,
        maven_defines=MappingProxyType(added_defines),
        supply=supply,
        maven_command=tuple(maven_runner.maven_command(with_additions, reactor.root.directory, maven_projects, setup)),
    )
    emit(Progress(STAGE, f"{reactor.root.project.coordinates} → {', '.join(r for i in plan.images for r in i.references)}"))
    return plan, keys, engine


def _with_inputs(image: PlannedImage, module: Module, model: Model, source: inputs.SourceFiles, settings: Settings, engine: Engine, keys: Keys, emit: Emit) -> PlannedImage:
    """The image with its inputs digest (and label), and what exists with those inputs
    already — unless ``--force``, or a base image cannot be identified."""
    assert image.dockerfile is not None
    reactor, setup, dockerfile = model.reactor, model.setup, image.dockerfile
    root = reactor.root.directory
    bases = unchanged.base_identities([b for b in dockerfile.base_images if b not in dockerfile.stage_names], {**dockerfile.arg_defaults, **image.build_args}, engine, settings.pull, settings.registry_auth_file)
    context = dockerfile.context.resolve()
    parts = {
        "files": inputs.files_digest(source, [m.directory for m in reactor.modules], [module.directory, *(m.directory for m in reactor.upstream([module]))], root),
        "dockerfile": inputs.file_digest(dockerfile.path),
        "context": context.relative_to(root.resolve()).as_posix() if context.is_relative_to(root.resolve()) else inputs.directory_digest(context),
        "buildArgs": dict(image.build_args),
        "target": settings.target,
        "network": settings.network,
        "secrets": sorted(settings.build_secrets),
        "engine": engine.builder.NAME,
        **({"platforms": list(settings.platforms), "imageFormat": settings.image_format} if engine.builder is direct else {}),
        **({"layers": settings.layers} if settings.layers != "auto" else {}),
        "maven": {
            "goals": list(settings.goals),
            "profiles": [*setup.profiles, *settings.profiles],
            "properties": {**setup.settings_properties, **setup.defines, **settings.defines},
            "arguments": list(settings.maven_args),
        },
        "artifact": image.artifact_choice,
        "base": bases,
    }
    digest = inputs.digest(parts)
    image = replace(image, inputs=digest, labels=MappingProxyType({**image.labels, inputs.LABEL: digest}), bases=MappingProxyType(bases))
    unknown = [name for name, identity in bases.items() if identity is None]
    if settings.force or unknown:
        if unknown and not settings.force:
            emit(LogLine(STAGE, f"{image.module}: the base image {unknown[0]} cannot be identified (not in the builder's store, and no registry answers for it): always built", "info"))
        return image
    destinations = [d.destination for d in image.destinations]
    found = unchanged.find(digest, image.references, destinations, keys.auths, engine, settings.push_retries, emit)
    if found is not None:
        emit(LogLine(STAGE, f"{image.module}: {found.describe(destinations)}", "info"))
    return replace(image, unchanged=found)


def _check_load(engine: Engine, settings: Settings, platforms: tuple[oci.Platform, ...]) -> None:
    """``--load`` of the direct builder's image needs an engine, and a platform that runs here."""
    if engine.builder is not direct or not settings.load:
        return
    if engine.client is None:
        raise UsageError("--load needs a Docker engine to load the image into, and none answers", "start one (or set DOCKER_HOST), or drop --load")
    if platforms and not any(p.matches(oci.host_platform().as_json()) for p in platforms):
        raise UsageError(f"--load: none of the platforms {','.join(map(str, platforms))} runs here ({oci.host_platform()})", f"add {oci.host_platform()} to --platform, or drop --load")


def _check_direct_settings(settings: Settings) -> None:
    if settings.image_format not in oci.FORMATS:
        raise UsageError(f"--image-format '{settings.image_format}' is not a format", f"use one of: {', '.join(oci.FORMATS)}")
    if settings.layers not in ("auto", "off"):
        raise UsageError(f"--layers '{settings.layers}' is not a choice", "use auto or off")


def _direct_why_not(modules: list[Module], dockerfiles: list[Dockerfile], settings: Settings, engine: Engine, platforms: tuple[oci.Platform, ...]) -> str | None:
    """Why the direct builder cannot build one of the images (None: it can build them all);
    asked only where it may build. ARTIFACT and LAYERS, known after Maven, stand in by name."""
    for module, dockerfile in zip(modules, dockerfiles, strict=True):
        args = {**dockerfile.arg_defaults, "VERSION": module.project.version, "ARTIFACT": "target/artifact.jar", "LAYERS": "target/autopack-layers", **settings.build_args}
        for platform in platforms or (oci.host_platform(),):
            try:
                why = direct.why_not(dockerfile, args, settings.target, platform, engine.bases)
            except ImageError as e:
                if settings.engine == direct.NAME:
                    raise
                why = e.message
            if why:
                return f"{dockerfile.path.name} of {module.artifact_id}: {why}" if len(modules) > 1 else why
    return None


def _maven_additions(reactor: Reactor, dockerfiles: list[Dockerfile], settings: Settings, checkout: Checkout, started_at: datetime, engine: Engine) -> tuple[tuple[str, ...], dict[str, str]]:
    """What autopack adds to the Maven run: for the direct builder's reproducible image, a
    reproducible jar (maven-archiver 3.5+ and Spring Boot's repackage take their entries'
    time from ``project.build.outputTimestamp``: the commit's, unless the pom sets one); for
    a Dockerfile that declares ARG LAYERS, the runtime classpath in ``target/dependency``
    (a plain jar's dependency layers)."""
    goals: tuple[str, ...] = ()
    defines: dict[str, str] = {}
    if engine.builder is direct and not any(OUTPUT_TIMESTAMP in m.project.properties for m in reactor.modules):
        defines[OUTPUT_TIMESTAMP] = _created(checkout, started_at).isoformat().replace("+00:00", "Z")
    if settings.layers == "auto" and any(java_layers.declares_layers(d) for d in dockerfiles):
        goals, defines["includeScope"] = (maven_runner.COPY_DEPENDENCIES,), "runtime"
    return goals, defines


def _supply(settings: Settings, pushing: bool, emit: Emit) -> tuple[Supply, Signer | None]:
    """What the run attaches: the SBOM and provenance by default when it pushes (or when
    asked for), a signature when given a key or command — whose key is read now, so that a
    wrong password stops the run before Maven."""
    if settings.sbom_tool not in sbom.TOOLS:
        raise UsageError(f"--sbom-tool '{settings.sbom_tool}' is not a choice", f"use one of: {', '.join(sbom.TOOLS)}")
    sbom_on = settings.sbom and (pushing or "sbom" in settings.given)
    provenance_on = settings.provenance and (pushing or "provenance" in settings.given)
    if settings.sign_key and settings.sign_command:
        raise UsageError("--sign-key and --sign-command both name a signer", "give one of them")
    if not (settings.sign_key or settings.sign_command):
        return Supply(sbom_on, provenance_on), None
    if not pushing:
        raise UsageError("signing needs --push: a signature is made for the image's digest in a registry", "add --push registry[:port]/repository, or drop --sign-key/--sign-command")
    from autopack.attest import sign

    signer: Signer
    if settings.sign_key:
        signer, described = sign.load_key(settings.sign_key, sign.read_password(os.environ, settings.sign_password_stdin, sys.stdin)), f"key {settings.sign_key}"
    else:
        assert settings.sign_command is not None
        signer = sign.CommandSigner.from_command(settings.sign_command)
        described = f"command {signer.name}"
    emit(LogLine(STAGE, f"signing with the {described}", "info"))
    return Supply(sbom_on, provenance_on, described), signer


def for_push(settings: Settings, image: str, emit: Emit) -> tuple[Plan, Keys, Engine, Image]:
    """``autopack push IMAGE``: one image already in the engine, under ``-t`` tags or its own."""
    repository, tag = tags.split_reference(image)
    image_tags = list(settings.tags) or [tag or "latest"]
    for t in image_tags:
        tags.validate_reference(f"{repository}:{t}")
    references = tuple(f"{repository}:{t}" for t in image_tags)
    engine = Engine()
    existing = replace(engine.existing(image if tag else f"{image}:latest"), references=references)
    planned, keys = _destinations(settings, emit)
    if not planned:
        raise UsageError("nothing to push to", "give --push registry[:port]/repository (repeatable)")
    only = PlannedImage(module=repository.rpartition("/")[2], references=references, destinations=planned)
    return Plan(project=None, images=(only,), engine=engine.description, immutable=_immutable(settings.immutable_tags)), keys, engine, existing


def _destinations(settings: Settings, emit: Emit) -> tuple[tuple[PlannedDestination, ...], Keys]:
    push_plan = destinations.plan(settings, emit)
    planned = tuple(PlannedDestination(d, (auth.origin if (auth := push_plan.auths.get(d)) else None), push_plan.preflight_tries.get(d, 0)) for d in push_plan.destinations)
    return planned, Keys(MappingProxyType({d.registry: auth for d, auth in push_plan.auths.items()}))


def _one_image_per_reference(images: list[PlannedImage]) -> None:
    """Two modules must never tag, or push to, one reference: the second would silently
    replace the first. Refused before Maven, naming both."""
    owner: dict[str, str] = {}
    for image in images:
        names = [*image.references, *(f"{d.destination.name}:{t}" for d in image.destinations for t in image.tags)]
        for name in dict.fromkeys(names):
            if (other := owner.setdefault(name, image.module)) != image.module:
                raise UsageError(
                    f"modules {other} and {image.module} would both be {name}",
                    "give each module its own image name: images.<artifactId> in autopack.toml, or tags without a fixed name (-t '{version}')",
                )


def _per_image(planned: tuple[PlannedDestination, ...], reference: str, many: bool) -> tuple[PlannedDestination, ...]:
    """With several images a destination is a prefix: each goes to ``<destination>/<name>``."""
    if not many:
        return planned
    name = tags.split_reference(reference)[0].rpartition("/")[2]
    return tuple(PlannedDestination(Destination(p.destination.registry, f"{p.destination.repository}/{name}"), p.credential, p.preflight_attempts) for p in planned)


def image_modules(reactor: Reactor, settings: Settings) -> list[Module]:
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


def _build_secrets(settings: Settings) -> dict[str, Path]:
    """``--secret`` files, checked before Maven runs; a missing one is a usage error."""
    found = {name: Path(path) for name, path in settings.build_secrets.items()}
    for name, path in found.items():
        if not path.is_file():
            raise UsageError(f"--secret id={name}: no file at {path}", "give src= the path of an existing file")
    return found


def dockerfile_path(settings: Settings, directory: Path) -> Path | None:
    if settings.dockerfile and not settings.dockerfile.is_absolute():
        return directory / settings.dockerfile
    return settings.dockerfile


def _immutable(pattern: str | None) -> re.Pattern[str] | None:
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error as e:
        raise UsageError(f"--immutable-tags '{pattern}' is not a regular expression: {e}", "e.g. --immutable-tags '\\d+\\.\\d+\\.\\d+'") from None


def _facts(project: Project, checkout: Checkout, settings: Settings, started_at: datetime) -> dict[str, str | None]:
    return {
        "version": project.version,
        "revision": checkout.shown_short_revision,
        "branch": checkout.branch,
        "build": settings.build_number,
        "timestamp": started_at.strftime("%Y%m%d%H%M%S"),
        "artifactId": project.artifact_id,
        "groupId": project.group_id,
    }


def labels(project: Project, checkout: Checkout, started_at: datetime) -> Mapping[str, str]:
    """The OCI labels of every image, from the project's own facts."""
    found = {
        "org.opencontainers.image.title": project.artifact_id,
        "org.opencontainers.image.version": project.version,
        "org.opencontainers.image.source": checkout.url,
        "org.opencontainers.image.created": _created(checkout, started_at).isoformat().replace("+00:00", "Z"),
    }
    if checkout.shown_revision:
        found["org.opencontainers.image.revision"] = checkout.shown_revision
    return found


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
    return Path(root) / f"{started_at.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"  # made by the pipeline once a run does more than plan
