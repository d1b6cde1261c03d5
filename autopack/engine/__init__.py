"""The engine seam: one connection to the Docker engine for the whole run (``Engine``) and
the builders that can build on it, one module each, picked by name from ``BUILDERS``:

- ``buildkit`` (``buildkit.py``): BuildKit through the docker CLI — the default where the
  engine and a CLI support it;
- ``docker-api`` (``docker_api.py``): the Engine API's classic builder, for the rest;
- ``buildah`` (``buildah.py``): daemonless, for runners without a Docker daemon;
- ``direct`` (``direct.py``): no engine at all, for RUN-less Dockerfiles: reproducible
  layers written by autopack, pushed straight from its blob store.

``--engine auto`` takes the first available of the first two; the plan then switches to
the direct builder (``choose``) when every Dockerfile is one it can build and the image is
pushed without ``--load``, or no Docker engine answers. With no engine and a Dockerfile the
direct builder cannot build, buildah builds when no Docker engine is set up here (no socket
file). A builder named explicitly that cannot run here is a usage error naming why.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

if not os.environ.get("DOCKER_HOST", "").startswith("ssh://"):
    # The docker SDK imports paramiko (a tenth of a second) whenever it is installed, though
    # only an ssh:// engine uses it: refused here, before the SDK's first import, unless
    # DOCKER_HOST (--docker-host sets it before any engine module is imported) is one.
    sys.modules.setdefault("paramiko", None)  # type: ignore[arg-type]  # None: "import paramiko" raises ImportError

import docker  # noqa: E402
import docker.errors  # noqa: E402
import requests  # noqa: E402

from autopack import tags
from autopack.engine import buildah, buildkit, buildkitd, direct, docker_api, docker_push
from autopack.engine.base import Builder, BuildRequest, Image, short
from autopack.errors import ImageError, UsageError
from autopack.events import Emit, LogLine
from autopack.image import oci
from autopack.push.credentials import RegistryAuth

BUILDERS: dict[str, Builder] = {buildkit.NAME: buildkit, docker_api.NAME: docker_api, buildah.NAME: buildah, direct.NAME: direct}
_DAEMON_BUILDERS = (buildkit, docker_api)  # what auto picks from when a Docker engine answers
KINDS = ("auto", *BUILDERS, buildkitd.NAME)
PUSH_TIMEOUT = 3600  # seconds a push's stream may go without a byte

__all__ = ["BUILDERS", "KINDS", "BuildRequest", "Engine", "Image"]


class Engine:
    """A connection to the Docker engine (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH)
    and the builder chosen for it. ``builder_address`` (``--builder``, else
    ``BUILDKIT_HOST``) is a BuildKit daemon to build on instead: the image is loaded into the
    Docker engine when one answers, and the daemon pushes the first destination itself."""

    def __init__(self, kind: str = "auto", builder_address: str | None = None, *, auth_file: Path | None = None, pull: bool = False, retries: int = 3, read_only: bool = False) -> None:
        if kind not in KINDS:
            raise UsageError(f"unknown engine '{kind}'", f"choose one of: {', '.join(KINDS)}")
        if builder_address and kind not in ("auto", buildkitd.NAME):
            raise UsageError(f"--builder names a BuildKit daemon, which --engine {kind} does not use", "drop --builder, or use --engine auto")
        address = buildkitd.address_from(builder_address) if kind in ("auto", buildkitd.NAME) else None
        if kind == buildkitd.NAME and address is None:
            raise UsageError("--engine buildkitd needs the daemon's address", "give --builder ADDR, or set BUILDKIT_HOST")
        self.buildkit_cli: tuple | None = None  # found by buildkit.py, once
        self._bridge: bool | None = None
        self._push_turn = threading.Lock()
        self.version, self.os_type = "", "linux"
        self.kind = kind
        self.builder: Builder
        self._auth_file, self._pull, self._retries = auth_file, pull, retries
        self._bases: oci.Bases | None = None
        self.read_only = read_only  # a plan only (autopack plan): base images are read, never saved into the cache
        self._no_engine: ImageError | None = None  # auto with no engine: raised unless the direct builder can build
        try:
            self.client: docker.DockerClient | None = docker.from_env(timeout=10, use_ssh_client=ssh_host())
            self.client.ping()
            version = self.client.version()
        except docker.errors.DockerException as e:
            self.client = None
            if address:
                self.builder = _daemon(address)  # the daemon builds, and pushes what it built
                return
            if kind == direct.NAME:
                self.builder = direct
                return
            if (kind == buildah.NAME or kind == "auto" and _no_daemon_here()) and buildah.unavailable() is None:
                self.builder = buildah  # daemonless: buildah builds, and pushes what it built
                return
            self._no_engine = ImageError(
                f"no Docker engine answers ({short(e)})",
                "start one (`sudo systemctl start docker`, or scripts/engine start in this repository), set DOCKER_HOST, or install buildah",
            )
            if kind != "auto":
                raise self._no_engine from e
            self.builder = direct  # if the Dockerfiles allow it: ``choose`` decides
            return
        self.version = str(version.get("Version", "?"))
        self.os_type = str(version.get("Os", "linux"))
        self.builder = _daemon(address) if address else self._choose(kind)

    @property
    def bases(self) -> oci.Bases:
        """The run's base images for the direct builder, read once each."""
        if self._bases is None:
            self._bases = oci.Bases(self._auth_file, self.client.api if self.client is not None else None, self._pull, self._retries, read_only=self.read_only)
        return self._bases

    def may_build_directly(self, push: bool, load: bool, platforms: int) -> bool:
        """Whether the direct builder is one ``choose`` may pick: asked for, or ``auto`` where
        it would be (pushed without ``--load``, no engine, several platforms)."""
        if self.kind == direct.NAME:
            return True
        if platforms > 1 and self.kind != "auto":
            raise UsageError(f"several platforms need the direct builder, not {self.kind}", "use --engine auto or direct, or build one platform at a time")
        return self.kind == "auto" and not isinstance(self.builder, buildkitd.Daemon) and (self.client is None or push and not load or platforms > 1)

    def choose(self, direct_why_not: str | None, emit: Emit, platforms: int = 1) -> None:
        """The plan's last word on the builder where ``may_build_directly``, once it knows
        whether the direct builder can build every Dockerfile (``direct_why_not`` is None):
        then it does; else ``--engine direct`` refuses it, and ``auto`` keeps the engine's
        builder — or, with no engine, fails as it would have."""
        if direct_why_not is None:
            self.builder = direct
            return
        if self.kind == direct.NAME:
            raise UsageError(f"--engine direct cannot build this: {direct_why_not}", "use --engine auto (an engine builds it), or drop that instruction")
        if platforms > 1:
            raise UsageError(f"several platforms need the direct builder, and it cannot build this: {direct_why_not}", "build one platform at a time, or make the Dockerfile RUN-less")
        if self.builder is direct:  # no engine answers, and no buildah either
            assert self._no_engine is not None
            emit(LogLine("plan", f"the direct builder cannot build this: {direct_why_not}", "warning"))
            raise self._no_engine
        emit(LogLine("plan", f"the direct builder cannot build this, so {self.builder.NAME} does: {direct_why_not}", "info"))

    @property
    def api(self) -> docker.APIClient:
        if self.client is None:
            raise ImageError("this needs a Docker engine, and none answers", "start one, or set DOCKER_HOST")
        return self.client.api

    def _choose(self, kind: str) -> Builder:
        if kind != "auto":
            builder = BUILDERS[kind]
            if why := builder.unavailable(self):
                raise UsageError(f"--engine {kind} cannot build here: {why}", f"use --engine auto, or one of: {', '.join(BUILDERS)}")
            return builder
        return next(b for b in _DAEMON_BUILDERS if b.unavailable(self) is None)  # docker-api always is

    @property
    def description(self) -> str:
        builder = self.builder.description if isinstance(self.builder, buildkitd.Daemon) else self.builder.NAME
        return f"{builder} (Docker engine {self.version})" if self.client is not None else f"{builder} (no Docker engine)"

    @property
    def has_bridge(self) -> bool:
        """Whether the engine has its default bridge network (``dockerd --bridge=none`` has not)."""
        if self._bridge is None:
            try:
                self._bridge = self.client is None or bool(self.client.networks.list(names=["bridge"]))
            except docker.errors.DockerException:
                self._bridge = True
        return self._bridge

    def existing(self, reference: str) -> Image:
        """An image already in the engine, for pushing it without a build."""
        with engine_calls(f"inspecting {reference}"):
            try:
                details = self.api.inspect_image(reference)
            except docker.errors.ImageNotFound:
                raise ImageError(f"no image {reference} in the engine", "build it first (autopack build), or check the name with docker images") from None
        return _image(details, (reference,), 0.0)

    def labelled(self, label: str, value: str) -> Image | None:
        """The newest image in the local store (the Docker engine's, or buildah's) whose
        ``label`` is ``value``; None when there is none, or no local store."""
        if self.builder is buildah:
            found = buildah.labelled(label, value)
            return _image(buildah.inspect(found), (), 0.0, buildah.NAME) if found else None
        if self.client is None:
            return None
        with engine_calls(f"looking for an image labelled {label}"):
            images = self.api.images(filters={"label": f"{label}={value}"})
            if not images:
                return None
            newest = max(images, key=lambda i: int(i.get("Created") or 0))
            return _image(self.api.inspect_image(newest["Id"]), tuple(t for t in newest.get("RepoTags") or () if t != "<none>:<none>"), 0.0)

    def base_id(self, name: str) -> str | None:
        """The id of image ``name`` in the store the builder takes its base images from; None
        when it is not there (or the builder reads base images from a registry only: a
        BuildKit daemon)."""
        if self.builder is buildah:
            try:
                return str(buildah.inspect(name)["Id"])
            except ImageError:
                return None
        if self.client is None or isinstance(self.builder, buildkitd.Daemon) or self.builder is direct and tags.registry_of(name) is not None:
            return None  # the direct builder reads a base named with its registry from there
        with engine_calls(f"inspecting the base image {name}"):
            try:
                return str(self.api.inspect_image(name)["Id"])
            except docker.errors.ImageNotFound:
                return None

    def tag(self, image_id: str, references: Sequence[str]) -> None:
        for reference in references:
            repository, tag = tags.split_reference(reference)
            with engine_calls(f"tagging {reference}"):
                self.api.tag(image_id, repository, tag, force=True)

    def build(self, request: BuildRequest, emit: Emit) -> Image:
        """Build ``request`` with the chosen builder; the image as the store that holds it
        reports it (id, labels, size)."""
        started = time.monotonic()
        built = self.builder.build(self, request, emit)
        pushed = {reference: built.digest for reference in built.pushed}
        if built.assembled is not None:  # the direct builder: in its blob store, and (--load) in the engine
            loaded = bool(request.load or request.load is None and self.client is not None)
            if loaded:
                direct.load(self, built.assembled, request.references, emit)
            elif request.load is None:
                emit(LogLine("image", f"no Docker engine to load the image into: {built.assembled.digest} is in autopack's blob store only (give --push)", "warning"))
            return Image(built.image_id, request.references, dict(request.labels), built.assembled.size, time.monotonic() - started, "docker" if loaded else direct.NAME, assembled=built.assembled)
        if self.builder is buildah:
            return _image(buildah.inspect(built.image_id), request.references, time.monotonic() - started, buildah.NAME)
        if not built.loaded:  # only in the registry the builder pushed it to
            return Image(built.image_id, request.references, dict(request.labels), 0, time.monotonic() - started, "registry", pushed)
        with engine_calls(f"inspecting the built image {built.image_id}"):
            details = self.api.inspect_image(built.image_id)
        return replace(_image(details, request.references, time.monotonic() - started), pushed=pushed)

    @property
    def pushes_while_building(self) -> bool:
        return self.builder.PUSHES

    def push(self, image: Image, name: str, tag: str, auth: RegistryAuth | None, retries: int, emit: Emit, on_attempt: Callable[[int], None], own_connection: bool = False) -> str:
        """Push ``image`` as ``name:tag`` (``registry/repository``) from the store that holds
        it — buildah's own, or the Docker engine's through this run's one client (or, with
        ``own_connection``, a connection of this push's own, so that pushes to several
        registries run at once) — and return the manifest digest the push reports. Raises
        ``PushError``."""
        if digest := image.pushed.get(f"{name}:{tag}"):
            on_attempt(1)  # the builder pushed it as it built it
            return digest
        if image.store == buildah.NAME:
            on_attempt(1)
            return buildah.push(image.id, name, tag, auth, emit)
        if own_connection:
            with engine_calls(f"connecting to push {name}:{tag}"):
                api = docker.from_env(timeout=PUSH_TIMEOUT, use_ssh_client=ssh_host()).api
            try:
                api.tag(image.id, name, tag, force=True)
                return docker_push.push_tag(api, name, tag, auth, retries, emit, on_attempt)
            finally:
                api.close()
        self.api.tag(image.id, name, tag, force=True)
        with self._long_calls():
            return docker_push.push_tag(self.api, name, tag, auth, retries, emit, on_attempt)

    @contextlib.contextmanager
    def _long_calls(self) -> Iterator[None]:
        """A push streams for as long as its layers take: no read timeout meanwhile (the
        Engine API's push takes none of its own). The client's ten seconds stand for every
        other call; engine pushes take turns, so that one cannot restore another's timeout."""
        api = self.api
        with self._push_turn:
            before, api.timeout = api.timeout, PUSH_TIMEOUT
            try:
                yield
            finally:
                api.timeout = before


def _daemon(address: str) -> buildkitd.Daemon:
    daemon = buildkitd.Daemon(address)
    if why := daemon.unavailable():
        raise UsageError(f"--builder {address} cannot build here: {why}", "start it (scripts/buildkit start in this repository), or check --builder / BUILDKIT_HOST")
    return daemon


@contextlib.contextmanager
def engine_calls(what: str) -> Iterator[None]:
    """The Engine API's boundary: whatever the docker SDK or its HTTP layer raises (an engine
    that went away, a refusal, a reply of the wrong shape) becomes the image stage's error."""
    try:
        yield
    except docker.errors.DockerException as e:
        raise ImageError(f"the engine failed {what}: {short(e)}", "look at the engine's log; is it still running?") from e
    except (requests.RequestException, OSError, KeyError, ValueError) as e:
        raise ImageError(f"the engine failed {what}: {type(e).__name__}: {short(e)}", "look at the engine's log; is it still running?") from e


def _no_daemon_here() -> bool:
    """No Docker engine is set up on this machine: no socket file where DOCKER_HOST (or the
    default) says. An engine that is configured but does not answer is an error, not a
    reason to build elsewhere."""
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    return host.startswith("unix://") and not Path(host.removeprefix("unix://")).exists()


def ssh_host() -> bool:
    """An ``ssh://`` engine is reached through the ssh client, as the docker CLI does it (your
    agent, keys and ~/.ssh/config), not through paramiko."""
    return os.environ.get("DOCKER_HOST", "").startswith("ssh://")


def _image(details: Mapping, references: tuple[str, ...], seconds: float, store: str = "docker") -> Image:
    return Image(
        id=details["Id"],
        references=references,
        labels=(details.get("Config") or {}).get("Labels") or {},
        size=int(details.get("Size") or 0),
        seconds=seconds,
        store=store,
    )
