"""The engine seam: what a builder is given, what it returns, and the contract every builder
module (``docker_api.py``, ``buildkit.py``) keeps.

A builder is a module, not a class: it holds no state of its own; the connection to the
engine (one docker client for the whole run) is the ``Engine`` it is handed. The one
exception is ``buildkitd.Daemon``, an object because it holds the address of the BuildKit
daemon it builds on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from autopack.events import Emit

if TYPE_CHECKING:
    from autopack.engine import Engine
    from autopack.image.dockerfile import Dockerfile
    from autopack.image.oci import Assembled, Platform
    from autopack.push.credentials import RegistryAuth

STAGE = "image"


@dataclass(frozen=True, slots=True)
class BuildRequest:
    """One image to build, everything decided before the build starts."""

    dockerfile: Dockerfile
    references: tuple[str, ...]
    build_args: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    pull: bool = False
    network: str | None = None
    secrets: Mapping[str, Path] = field(default_factory=dict)  # BuildKit secret id → file
    log: Path | None = None  # every line of the build's output goes here too (the image log)
    push_to: tuple[str, ...] = ()  # for a builder that PUSHES: the first destination's references
    push_auth: RegistryAuth | None = field(default=None, repr=False)  # their registry's login
    platforms: tuple[Platform, ...] = ()  # --platform; () is the host's
    epoch: int | None = None  # the commit's time (or SOURCE_DATE_EPOCH): the direct builder's clock
    image_format: str | None = None  # the direct builder's manifests: oci (the default) or docker
    load: bool | None = False  # the direct builder: into the local Docker engine too (None: when one answers)

    @property
    def dockerfile_arg(self) -> str:
        """The Dockerfile as the engine wants it: relative to the context when inside it."""
        try:
            return str(self.dockerfile.path.resolve().relative_to(self.dockerfile.context.resolve()))
        except ValueError:
            return str(self.dockerfile.path.resolve())


@dataclass(frozen=True)
class Built:
    """What a builder reports of one build."""

    image_id: str  # the config digest: the image's id in a Docker engine or buildah's store
    digest: str = ""  # the manifest digest of what the builder pushed
    pushed: tuple[str, ...] = ()  # the references the builder pushed as it built
    loaded: bool = True  # whether a local store (the Docker engine, buildah's) holds the image
    assembled: Assembled | None = None  # the direct builder's image: its manifests, and where each blob is


@dataclass(frozen=True)
class Image:
    id: str
    references: tuple[str, ...]
    labels: Mapping[str, str]
    size: int
    seconds: float
    store: str = "docker"  # where the image lives: the Docker engine, or buildah's own store
    pushed: Mapping[str, str] = field(default_factory=dict)  # name:tag → digest, pushed by the builder as it built
    assembled: Assembled | None = None  # built by the direct builder: pushed from the blob store, not from a store's image
    digest: str = ""  # its manifest digest where one is known before the push: an unchanged image's in the registries


def cli_options(request: BuildRequest, *, pull_flag: str, network: str | None, in_argv: frozenset[str] = frozenset()) -> list[str]:
    """The options ``docker build`` and ``buildah build`` share: tags, labels, build args,
    secrets, target, cache, pull and network. A build arg is passed by NAME only, its value
    left to the child's environment, unless its name is in ``in_argv``."""
    argv: list[str] = []
    for reference in request.references:
        argv += ["-t", reference]
    for key, value in request.labels.items():
        argv += ["--label", f"{key}={value}"]
    for key, value in request.build_args.items():
        argv += ["--build-arg", f"{key}={value}" if key in in_argv else key]
    for name, path in request.secrets.items():
        argv += ["--secret", f"id={name},src={path}"]
    if request.target:
        argv += ["--target", request.target]
    if request.no_cache:
        argv.append("--no-cache")
    if request.pull:
        argv.append(pull_flag)
    if network:
        argv += ["--network", network]
    return argv


class Builder(Protocol):
    """What every builder module provides."""

    NAME: str
    PUSHES: bool  # pushes ``request.push_to`` itself as it builds

    def unavailable(self, engine: Engine) -> str | None:
        """Why this builder cannot build on ``engine`` (None: it can)."""

    def build(self, engine: Engine, request: BuildRequest, emit: Emit) -> Built:
        """Build ``request`` and tag it with every reference (and, for a builder that
        PUSHES, push it as ``request.push_to``). A failed build raises ``ImageError`` naming
        the step and the last lines of its output."""


def freshen_outputs(request: BuildRequest) -> None:
    """Give the artifact and the staged layer files (``ARTIFACT``, ``LAYERS``) this build's
    time. A reproducible jar has one fixed time (``project.build.outputTimestamp``), and a
    one-line change often keeps its size; BuildKit's context transfer (fsutil) takes a file
    whose time and size it has seen for the one it was sent before — and would build the
    old code. Only BuildKit needs it: the direct builder and the classic builder read
    contents."""
    now = time.time()
    for name in ("ARTIFACT", "LAYERS"):
        if not (relative := request.build_args.get(name)):
            continue
        top = request.dockerfile.context / relative
        paths = [top] if top.is_file() else [top, *top.rglob("*")] if top.is_dir() else []
        for path in paths:
            if not path.is_symlink():
                os.utime(path, (now, now))


def hint_for(message: str) -> str:
    lowered = message.lower()
    if "pull access denied" in lowered or "not found" in lowered and "manifest" in lowered or "no such image" in lowered:
        return "the base image is not in the engine and cannot be pulled: build or load it first (scripts/base-image)"
    if "network bridge not found" in lowered:
        return "the engine has no bridge network: give --network host or --network none"
    if "dockerfile" in lowered:
        return "check -f/--file and the build context"
    return "see the build output above; run with -v for every line"


def short(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:300]
