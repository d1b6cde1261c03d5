"""A BuildKit daemon at an address (``--builder ADDR``, ``BUILDKIT_HOST``): a standalone
``buildkitd`` on this machine or another (``unix:///run/buildkit/buildkitd.sock``,
``tcp://builder:1234``, ``docker-container://NAME``, …), driven by its own client,
``buildctl`` — no docker CLI needed, and no Docker engine unless the image should end up in
one.

The image goes where the run needs it, from the one build:

- into the Docker engine (``--output type=docker``): the tarball streams through a named
  pipe into the engine's image load while buildctl receives it, every reference a name of
  it; the image id is its config digest;
- to a registry, pushed by the builder itself (``--output type=image,push=true``): the first
  destination's references in one push (the other destinations are then copied from it, as
  after any seed push); its login in a temporary ``DOCKER_CONFIG`` (a 0700 directory whose
  config.json has that registry's ``auths`` entry and no other, removed afterwards), never in
  argv or output; ``registry.insecure=true`` for a loopback registry;
- or both at once (two outputs, one manifest).

Base images are pulled by the daemon itself, from registries it reaches (loopback ones over
plain HTTP): a Docker engine's local images are not visible to it. Labels, target, secrets
(``--secret id=…,src=…``), ``--no-cache``, pull (``image-resolve-mode=pull``) and the
networks ``none`` and ``host`` are options of the one build. Progress is BuildKit's plain
output, read by buildkit.py's ``ProgressWatcher``; buildctl runs through ``process.run`` in its
own process group (Ctrl-C ends it, and the daemon cancels a build whose session closed).

Build-arg values travel in buildctl's environment (``--opt build-arg:NAME``, which buildctl
resolves from its environment since BuildKit v0.33), not in its argv; with an older buildctl,
and for names buildctl reads itself (proxies, ``BUILDKIT_*``, ``DOCKER_*``…), the value has to
be in argv, where ``ps`` on this machine shows it while the build runs (never in autopack's
output): keep credentials in ``--secret`` files, not build args.
"""

from __future__ import annotations

import base64
import errno
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import docker
import docker.errors
import requests

from autopack import process
from autopack.engine.base import STAGE, BuildRequest, Built, freshen_outputs, hint_for, short
from autopack.engine.buildkit import ProgressWatcher
from autopack.errors import AutopackError, ImageError, PushError, UsageError
from autopack.events import Emit, LogLine, Progress
from autopack.files import write_atomically
from autopack.push.credentials import RegistryAuth
from autopack.push.registry import is_loopback

if TYPE_CHECKING:
    from autopack.engine import Engine
    from autopack.engine.base import Builder

NAME = "buildkitd"
ENV = "BUILDKIT_HOST"  # where buildctl (and so autopack) finds the daemon without --builder
LOAD_TIMEOUT = 3600  # seconds the engine may take to load the image after the build, and wait between bytes
_GIVE_UP = 30  # seconds a load of a failed build's partial tarball is given to end
_ADDRESS = re.compile(r"[a-z][a-z0-9+.-]*://\S+")
_VERSION = re.compile(r"\bv(\d+)\.(\d+)\.(\d+)")
_ARGS_FROM_ENV = (0, 33, 0)  # the first buildctl that reads ``--opt build-arg:NAME`` from its environment
# Variables buildctl itself reads (or gRPC and Go under it): a build arg of that name goes in
# argv, so that it cannot change how buildctl connects or prints.
_CLIENT_NAMES = frozenset({"PATH", "HOME", "TMPDIR", "USER", "NO_COLOR", "TTY_DISPLAY_RATE", "PROGRESS_NO_TRUNC", "SOURCE_DATE_EPOCH"})
_CLIENT_PREFIXES = ("BUILDKIT_", "BUILDCTL_", "DOCKER_", "ACTIONS_", "OTEL_", "GRPC_", "GO", "SSL_")
_PROXIES = frozenset({"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"})
_HUB = "docker.io"
_HUB_CONFIG_KEY = "https://index.docker.io/v1/"  # the key the docker CLI's config uses for Docker Hub


def check_address(address: str) -> str:
    """``address`` if it is one buildctl takes (``scheme://…``); else a usage error."""
    address = address.strip()
    if not _ADDRESS.fullmatch(address):
        raise UsageError(
            f"'{address}' is not a BuildKit daemon address",
            "give --builder (or BUILDKIT_HOST) as unix:///path/buildkitd.sock, tcp://host:port, docker-container://name, …",
        )
    return address


def address_from(option: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The daemon to build on: ``--builder`` first, then ``BUILDKIT_HOST``; None for neither."""
    environ = os.environ if environ is None else environ
    value = option or environ.get(ENV) or ""
    return check_address(value) if value.strip() else None


class Daemon:
    """The builder for the BuildKit daemon at ``address`` (a ``base.Builder``: what an
    ``Engine`` holds when --builder / BUILDKIT_HOST is given). ``buildctl``: the client's
    path (default: the one on PATH)."""

    NAME = NAME
    PUSHES = True

    def __init__(self, address: str, buildctl: str | None = None) -> None:
        self.address = check_address(address)
        self.buildctl = buildctl or shutil.which("buildctl") or ""
        self._why: str | None = None
        self._checked = False
        self._version: tuple[int, int, int] | None = None

    def __repr__(self) -> str:
        return f"Daemon({self.address!r})"

    @property
    def description(self) -> str:
        return f"{NAME} at {self.address}"

    # --- the Builder protocol -------------------------------------------------------------

    def unavailable(self, engine: Engine | None = None) -> str | None:
        """Why this daemon cannot build (None: it answers). Asked once; the engine is not
        needed for that."""
        if not self._checked:
            self._why = self._probe()
            self._checked = True
        return self._why

    def build(self, engine: Engine, request: BuildRequest, emit: Emit) -> Built:
        """Build ``request``; load it into ``engine``'s Docker engine when one answers, and
        push it as ``request.push_to`` when given."""
        freshen_outputs(request)
        return self.run(request, emit, load_into=engine.client.api if engine.client is not None else None, push_to=request.push_to, auth=request.push_auth)

    # --- the build ------------------------------------------------------------------------

    def run(
        self,
        request: BuildRequest,
        emit: Emit,
        *,
        load_into: docker.APIClient | None = None,
        push_to: Sequence[str] = (),
        auth: RegistryAuth | None = None,
    ) -> Built:
        """Build ``request`` once; load it into the Docker engine behind ``load_into`` under
        ``request.references``, and/or have the daemon push it as ``push_to`` (references of
        one registry, whose login is ``auth``). Raises ``ImageError`` for a failed build,
        ``PushError`` when only the push failed."""
        if load_into is None and not push_to:
            raise ImageError("a BuildKit daemon's image must go somewhere", "give a Docker engine to load it into, or a destination to push it to")
        registry = _one_registry(push_to)
        if why := self.unavailable():
            raise ImageError(f"the BuildKit daemon cannot build: {why}", _UNAVAILABLE_HINT)
        watcher = ProgressWatcher(emit, hint=_hint)
        values_in_env = self._values_in_env()
        with tempfile.TemporaryDirectory(prefix="autopack-buildkitd-") as scratch:  # 0700
            metadata = Path(scratch) / "metadata.json"
            argv = command(self.buildctl, self.address, request, metadata, values_in_env=values_in_env)
            env = {**os.environ, **build_arg_env(request, values_in_env)}
            loader: _Loader | None = None
            if load_into is not None:
                fifo = Path(scratch) / "image.tar"
                os.mkfifo(fifo, 0o600)
                argv += ["--output", csv("type=docker", *([f"name={','.join(request.references)}"] if request.references else []), f"dest={fifo}")]
                loader = _Loader(load_into, fifo)
            if push_to:
                argv += ["--output", csv("type=image", f"name={','.join(push_to)}", "push=true", *(["registry.insecure=true"] if is_loopback(registry) else []))]
                env["DOCKER_CONFIG"] = str(_docker_config(Path(scratch) / "docker-config", registry, auth))
            outputs = [*(["the Docker engine"] if loader else []), *([f"a push to {', '.join(push_to)}"] if push_to else [])]
            emit(LogLine(STAGE, f"BuildKit daemon at {self.address} builds {request.dockerfile.path.name} into {' and '.join(outputs)}", "info"))
            if loader is not None:
                loader.start()
            try:
                process.run(argv, env=env, on_line=watcher, log_path=request.log)
            except process.ProcessFailed as e:
                if loader is not None:
                    loader.finish(_GIVE_UP)
                raise _failure(watcher, e.completed, push_to) from e
            except BaseException:  # Ctrl-C: buildctl is stopped, the load ends with its pipe
                if loader is not None:
                    loader.finish(_GIVE_UP)
                raise
            if loader is not None:
                loader.finish(LOAD_TIMEOUT)
            image_id, digest = _digests(metadata)
        if loader is not None:
            loader.check(image_id)
        if push_to:
            emit(Progress(STAGE, f"pushed by the builder: {', '.join(push_to)} · {digest}", {"pushed": list(push_to), "digest": digest}))
        return Built(image_id, digest, tuple(push_to), loaded=loader is not None)

    # --- helpers --------------------------------------------------------------------------

    def _probe(self) -> str | None:
        if not self.buildctl:
            return "buildctl (BuildKit's client) is not installed: put it on PATH (scripts/buildkit install builds it)"
        try:
            done = subprocess.run([self.buildctl, "--addr", self.address, "debug", "workers"], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return f"no BuildKit daemon answered at {self.address} within 30s"
        except OSError as e:
            return f"cannot run {self.buildctl}: {short(e)}"
        if done.returncode != 0:
            said = [line for line in done.stderr.splitlines() if line.strip()]
            return f"no BuildKit daemon answers at {self.address} ({re.sub(r'^error: ', '', said[-1]) if said else f'exit code {done.returncode}'})"
        if not done.stdout.strip().splitlines()[1:]:
            return f"the BuildKit daemon at {self.address} has no worker"
        return None

    def _values_in_env(self) -> bool:
        """Whether this buildctl reads build-arg values from its environment (v0.33 on)."""
        if self._version is None:
            try:
                out = subprocess.run([self.buildctl, "--version"], capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL).stdout
            except (OSError, subprocess.TimeoutExpired):
                out = ""
            m = _VERSION.search(out)
            self._version = (int(m[1]), int(m[2]), int(m[3])) if m else (0, 0, 0)
        return self._version >= _ARGS_FROM_ENV


_UNAVAILABLE_HINT = "start it (scripts/buildkit start in this repository), or check --builder / BUILDKIT_HOST"


def command(buildctl: str, address: str, request: BuildRequest, metadata: Path, *, values_in_env: bool = True) -> list[str]:
    """buildctl's argv for ``request``, without its outputs (a pure function). A build arg is
    passed by NAME, its value left to buildctl's environment (``build_arg_env``), unless
    ``values_in_env`` is false (a buildctl before v0.33) or buildctl reads that name itself."""
    path = request.dockerfile.path.resolve()
    argv = [buildctl, "--addr", address, "build", "--frontend", "dockerfile.v0", "--progress", "plain", "--metadata-file", str(metadata)]
    argv += ["--local", f"context={request.dockerfile.context.resolve()}", "--local", f"dockerfile={path.parent}", "--opt", f"filename={path.name}"]
    for key, value in request.build_args.items():
        argv += ["--opt", f"build-arg:{key}" if values_in_env and not _client_reads(key) else f"build-arg:{key}={value}"]
    for key, value in request.labels.items():
        argv += ["--opt", f"label:{key}={value}"]
    for name, secret in request.secrets.items():
        argv += ["--secret", csv(f"id={name}", f"src={secret}")]
    if request.target:
        argv += ["--opt", f"target={request.target}"]
    if request.no_cache:
        argv.append("--no-cache")
    if request.pull:
        argv += ["--opt", "image-resolve-mode=pull"]
    if request.network in ("none", "host"):
        argv += ["--opt", f"force-network-mode={request.network}"]
        if request.network == "host":
            argv += ["--allow", "network.host"]
    elif request.network:
        raise UsageError(f"a BuildKit daemon has no network '{request.network}'", "give --network none or --network host, or leave it to the daemon")
    return argv


def build_arg_env(request: BuildRequest, values_in_env: bool = True) -> dict[str, str]:
    """The build args whose values ``command`` leaves to buildctl's environment."""
    return {k: v for k, v in request.build_args.items() if values_in_env and not _client_reads(k)}


def _client_reads(name: str) -> bool:
    return name in _CLIENT_NAMES or name.upper() in _PROXIES or name.startswith(_CLIENT_PREFIXES)


def csv(*fields: str) -> str:
    """One CSV record, as buildctl parses ``--output`` and ``--secret``: a field with a comma
    or a quote is quoted."""
    return ",".join('"' + f.replace('"', '""') + '"' if ("," in f or '"' in f) else f for f in fields)


def registry_of(reference: str) -> str:
    """The registry host[:port] of an image reference (Docker Hub when it names none)."""
    first, sep, _ = reference.partition("/")
    return first if sep and ("." in first or ":" in first or first == "localhost") else _HUB


def _one_registry(references: Sequence[str]) -> str:
    registries = {registry_of(r) for r in references}
    if len(registries) > 1:
        raise ValueError(f"the builder pushes to one registry at a time, not {sorted(registries)}")
    return next(iter(registries), "")


def _docker_config(directory: Path, registry: str, auth: RegistryAuth | None) -> Path:
    """A DOCKER_CONFIG for buildctl with ``registry``'s login and nothing else."""
    directory.mkdir(mode=0o700)
    auths: dict[str, dict[str, str]] = {}
    if auth is not None:
        token = base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode()
        auths[_HUB_CONFIG_KEY if registry == _HUB else registry] = {"auth": token}
    write_atomically(directory / "config.json", json.dumps({"auths": auths}), mode=0o600)
    return directory


def _digests(metadata: Path) -> tuple[str, str]:
    try:
        data = json.loads(metadata.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ImageError(f"buildctl finished without its metadata file ({short(e)})", "run with -v and look at the build output") from e
    image_id, digest = str(data.get("containerimage.config.digest") or ""), str(data.get("containerimage.digest") or "")
    if not image_id.startswith("sha256:") or not digest.startswith("sha256:"):
        raise ImageError("BuildKit finished without reporting the image's digests", "run with -v and look at the build output")
    return image_id, digest


def _hint(message: str) -> str:
    lowered = message.lower()
    if "push" not in lowered and any(s in lowered for s in ("not found", "pull access denied", "failed to resolve source metadata", "unauthorized")):
        return "the BuildKit daemon pulls every base image itself: put the base image in a registry it reaches (it cannot see the Docker engine's images)"
    if "network.host" in lowered or "entitlement" in lowered:
        return "start the daemon with --allow-insecure-entitlement network.host, or give --network none"
    return hint_for(message)


def _failure(watcher: ProgressWatcher, completed: process.Completed, push_to: Sequence[str]) -> AutopackError:
    error = watcher.failure(completed)
    if push_to and watcher.failed is not None:
        vertex, message = watcher.failed
        if watcher.names.get(vertex, "").startswith("exporting to image") or "failed to push" in message.lower():
            return PushError(f"{registry_of(push_to[0])}: the builder's push failed: {message}", "check the login for that registry (see the pre-flight line above) and the registry")
    return error


class _Loader(threading.Thread):
    """Streams the tarball buildctl writes into a named pipe into the Docker engine's image
    load, while buildctl writes it. buildctl opens the pipe as it starts; whatever happens to
    the load, the pipe is read to its end, so that buildctl never blocks on a full pipe."""

    def __init__(self, api: docker.APIClient, fifo: Path) -> None:
        super().__init__(name="autopack-buildkitd-load", daemon=True)
        self.api, self.fifo = api, fifo
        self.opened = threading.Event()
        self.loaded: list[str] = []
        self.error: str | None = None
        self.received = 0

    def run(self) -> None:
        fd = os.open(self.fifo, os.O_RDONLY)  # blocks until a writer opens it
        self.opened.set()
        with os.fdopen(fd, "rb", buffering=0) as pipe:
            try:
                first = pipe.read(1 << 20)
                if not first:
                    return  # buildctl wrote nothing: its own exit code tells why
                self.received = len(first)
                self._load(first, pipe)
            except (docker.errors.DockerException, requests.RequestException, OSError) as e:
                self.error = short(e)
            finally:
                while pipe.read(1 << 20):
                    pass

    def _load(self, first: bytes, pipe: io.FileIO) -> None:
        def chunks() -> Iterator[bytes]:
            yield first
            while data := pipe.read(1 << 20):
                self.received += len(data)
                yield data

        before, self.api.timeout = self.api.timeout, LOAD_TIMEOUT
        try:
            for message in self.api.load_image(chunks()):
                if isinstance(message, dict) and (message.get("error") or message.get("errorDetail")):
                    self.error = str(message.get("error") or (message.get("errorDetail") or {}).get("message") or message)
                elif isinstance(message, dict) and message.get("stream"):
                    self.loaded.append(str(message["stream"]).strip())
        finally:
            self.api.timeout = before

    def finish(self, wait: float) -> None:
        """Wait up to ``wait`` seconds for the load; a loader still waiting for buildctl to
        open the pipe (it never did: it failed first) is let go."""
        deadline = time.monotonic() + 10
        while self.is_alive() and not self.opened.is_set() and time.monotonic() < deadline:
            try:
                os.close(os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK))  # the loader reads an empty pipe
            except OSError as e:
                if e.errno != errno.ENXIO:  # ENXIO: the loader has not opened its end yet
                    raise
                time.sleep(0.01)
        self.join(timeout=wait)

    def check(self, image_id: str) -> None:
        if self.is_alive():
            raise ImageError(f"the Docker engine did not finish loading the image within {LOAD_TIMEOUT}s", "look at the engine's log")
        if self.error or not self.received:
            raise ImageError(f"the Docker engine did not load the image: {self.error or 'buildctl sent no image'}", "look at the engine's log")
        if not any(line.startswith("Loaded image") for line in self.loaded):
            raise ImageError(f"the Docker engine's load of {image_id} said: {' | '.join(self.loaded) or 'nothing'}", "look at the engine's log")


if TYPE_CHECKING:
    _BUILDER_CHECK: Builder = Daemon("unix:///run/buildkit/buildkitd.sock")  # mypy: a Daemon is a base.Builder
