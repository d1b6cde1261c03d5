"""Building the image through the Docker Engine API's streaming build.

The Engine returns HTTP 200 for a build as soon as it starts, and reports a failing step
only inside the stream; so every decoded line is checked, and an ``error``/``errorDetail``
fails the stage even though the API call itself succeeded.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
from dockerfile_parse import DockerfileParser

from autopack import tags
from autopack.errors import ImageError
from autopack.events import Emit, LogLine, Progress

STAGE = "image"
_BUILD_TIMEOUT = 3600  # seconds a single read may wait: a quiet RUN step can take long


@dataclass(frozen=True)
class Dockerfile:
    path: Path
    context: Path
    stages: int
    args: tuple[str, ...]
    base_images: tuple[str, ...]


@dataclass(frozen=True)
class Image:
    id: str
    references: tuple[str, ...]
    labels: Mapping[str, str]
    size: int
    seconds: float


def inspect_dockerfile(context: Path, dockerfile: Path | None) -> Dockerfile:
    """Find and parse the Dockerfile before anything runs: a missing one is an image-stage
    error now, not after a long Maven build."""
    path = dockerfile if dockerfile else context / "Dockerfile"
    if not path.is_file():
        raise ImageError(f"no Dockerfile at {path}", "add one to the project, or point -f/--file at it")
    try:
        parser = DockerfileParser(path=str(path), cache_content=True)
        structure = parser.structure
    except (OSError, ValueError) as e:
        raise ImageError(f"cannot read {path}: {e}", "check the file") from e
    args = tuple(i["value"].split("=")[0].strip() for i in structure if i["instruction"] == "ARG")
    froms = tuple(i["value"].split()[0] for i in structure if i["instruction"] == "FROM")
    if not froms:
        raise ImageError(f"{path} has no FROM instruction", "start the Dockerfile with FROM <base image>")
    return Dockerfile(path, context, len(froms), args, froms)


class Engine:
    """A connection to the Docker engine (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH)."""

    def __init__(self) -> None:
        try:
            self.client = docker.from_env(timeout=10)
            self.client.ping()
        except docker.errors.DockerException as e:
            raise ImageError(
                f"no Docker engine answers ({_short(e)})",
                "start one (`sudo systemctl start docker`, or scripts/engine start in this repository) or set DOCKER_HOST",
            ) from e
        self.api = self.client.api

    def existing(self, reference: str) -> Image:
        """An image already in the engine, for pushing it without a build."""
        try:
            details = self.api.inspect_image(reference)
        except docker.errors.ImageNotFound:
            raise ImageError(f"no image {reference} in the engine", "build it first (autopack build), or check the name with docker images") from None
        return _image(details, (reference,), 0.0)

    def build(
        self,
        dockerfile: Dockerfile,
        references: list[str],
        *,
        build_args: Mapping[str, str],
        labels: Mapping[str, str],
        target: str | None,
        no_cache: bool,
        pull: bool,
        network: str | None,
        emit: Emit,
    ) -> Image:
        started = time.monotonic()
        watcher = _BuildWatcher(emit)
        try:
            rel = dockerfile.path.resolve().relative_to(dockerfile.context.resolve())
            dockerfile_arg = str(rel)
        except ValueError:  # outside the context: the SDK sends it along in the tarball
            dockerfile_arg = str(dockerfile.path.resolve())
        try:
            stream = self.api.build(
                path=str(dockerfile.context),
                dockerfile=dockerfile_arg,
                buildargs=dict(build_args),
                labels=dict(labels),
                target=target,
                nocache=no_cache,
                pull=pull,
                network_mode=network,
                rm=True,
                forcerm=True,  # intermediate containers go even when a step fails
                decode=True,
                timeout=_BUILD_TIMEOUT,
            )
            for chunk in stream:
                watcher(chunk)
        except docker.errors.APIError as e:
            raise ImageError(f"the engine refused the build: {_short(e)}", _hint_for(str(e))) from e
        except docker.errors.DockerException as e:
            raise ImageError(f"image build failed: {_short(e)}", "check the engine's log") from e
        watcher.finish()
        if watcher.error:
            raise watcher.failure()
        if not watcher.image_id:
            raise ImageError("the engine finished the build without reporting an image id", "look at the engine's log")
        for reference in references:
            repository, tag = tags.split_reference(reference)
            self.api.tag(watcher.image_id, repository, tag, force=True)
        return _image(self.api.inspect_image(watcher.image_id), tuple(references), time.monotonic() - started)


def _image(details: Mapping, references: tuple[str, ...], seconds: float) -> Image:
    return Image(
        id=details["Id"],
        references=references,
        labels=(details.get("Config") or {}).get("Labels") or {},
        size=int(details.get("Size") or 0),
        seconds=seconds,
    )


class _BuildWatcher:
    """Turns the build stream into events; remembers the step, the image id and any error."""

    def __init__(self, emit: Emit) -> None:
        self.emit = emit
        self.buffer = ""
        self.step = ""
        self.image_id = ""
        self.error = ""

    def __call__(self, chunk: Mapping) -> None:
        if "error" in chunk or "errorDetail" in chunk:
            detail = chunk.get("errorDetail") or {}
            self.error = (detail.get("message") or chunk.get("error") or "unknown error").strip()
            self.emit(LogLine(STAGE, self.error, "error"))
        if aux := chunk.get("aux"):
            self.image_id = aux.get("ID", self.image_id)
        if status := chunk.get("status"):  # a pull of the base image
            self.emit(LogLine(STAGE, f"{chunk.get('id', '')} {status}".strip(), "debug"))
        if text := chunk.get("stream"):
            self.buffer += text
            *lines, self.buffer = self.buffer.split("\n")
            for line in lines:
                self._line(line.rstrip("\r"))

    def _line(self, line: str) -> None:
        if not line.strip():
            return
        if line.startswith("Step ") and " : " in line:
            self.step, _, instruction = line[len("Step ") :].partition(" : ")
            number, _, total = self.step.partition("/")
            self.emit(Progress(STAGE, f"Step {self.step} · {instruction}", {"step": int(number), "steps": int(total or 0), "instruction": instruction}))
            self.emit(LogLine(STAGE, line, "debug"))
            return
        if line.startswith("Successfully built ") and not self.image_id:
            self.image_id = line.split()[-1]
        self.emit(LogLine(STAGE, line, "debug"))

    def finish(self) -> None:
        if self.buffer.strip():
            self._line(self.buffer)
        self.buffer = ""

    def failure(self) -> ImageError:
        where = f" at step {self.step}" if self.step else ""
        return ImageError(f"image build failed{where}: {self.error}", _hint_for(self.error))


def _hint_for(message: str) -> str:
    lowered = message.lower()
    if "pull access denied" in lowered or "not found" in lowered and "manifest" in lowered or "no such image" in lowered:
        return "the base image is not in the engine and cannot be pulled: build or load it first (scripts/base-image)"
    if "dockerfile" in lowered:
        return "check -f/--file and the build context"
    return "see the build output above; run with -v for every line"


def _short(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:300]
