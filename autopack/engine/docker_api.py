"""The classic builder, through the Docker Engine API's streaming build (the docker SDK): for
engines without BuildKit.

The Engine returns HTTP 200 for a build as soon as it starts, and reports a failing step
only inside the stream; so every decoded line is checked, and an ``error``/``errorDetail``
fails the stage even though the API call itself succeeded. The engine adds the labels as one
``LABEL`` step per label at the end, each a layer commit (a full copy of the root file
system on the vfs storage driver); so autopack appends all of them as one ``LABEL``
instruction to a copy of the Dockerfile instead, which the SDK sends with the context.
"""

from __future__ import annotations

import re
import tempfile
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING

import docker.errors
import requests

from autopack import printable
from autopack.engine.base import STAGE, BuildRequest, Built, hint_for, short
from autopack.errors import ImageError, UsageError
from autopack.events import Emit, LogLine, Progress

if TYPE_CHECKING:
    from autopack.engine import Engine

PUSHES = False  # pushes only from its store, after the build (Engine.push)
NAME = "docker-api"
_BUILD_TIMEOUT = 3600  # seconds a single read may wait: a quiet RUN step can take long


def unavailable(engine: Engine) -> str | None:
    return None  # every Docker engine has it


def build(engine: Engine, request: BuildRequest, emit: Emit) -> Built:
    if request.secrets:
        raise UsageError(
            f"build secrets ({', '.join(request.secrets)}) need BuildKit; the classic builder would put them in a layer",
            "use --engine buildkit (or auto, on an engine with BuildKit)",
        )
    with tempfile.TemporaryDirectory(prefix="autopack-build-") as scratch:
        return _build(engine, request, emit, Path(scratch))


def _build(engine: Engine, request: BuildRequest, emit: Emit, scratch: Path) -> Built:
    log = open(request.log, "a", encoding="utf-8") if request.log else None  # noqa: SIM115 — closed below
    watcher = _BuildWatcher(emit, log)
    dockerfile, labels = _labelled(request, scratch)
    try:
        stream = engine.api.build(
            path=str(request.dockerfile.context),
            dockerfile=dockerfile,
            buildargs=dict(request.build_args),
            labels=labels,
            target=request.target,
            nocache=request.no_cache,
            pull=request.pull,
            network_mode=request.network,
            rm=True,
            forcerm=True,  # intermediate containers go even when a step fails
            decode=True,
            timeout=_BUILD_TIMEOUT,
        )
        for chunk in stream:
            watcher(chunk)
    except docker.errors.APIError as e:
        raise ImageError(f"the engine refused the build: {short(e)}", hint_for(str(e))) from e
    except (docker.errors.DockerException, requests.RequestException, OSError) as e:  # the stream broke: the engine went away
        raise ImageError(f"image build failed: {short(e)}", "check the engine's log") from e
    finally:
        if log:
            log.close()
    watcher.finish()
    if watcher.error:
        raise watcher.failure()
    if not watcher.image_id:
        raise ImageError("the engine finished the build without reporting an image id", "look at the engine's log")
    engine.tag(watcher.image_id, request.references)
    return Built(watcher.image_id)


def _labelled(request: BuildRequest, scratch: Path) -> tuple[str, dict[str, str]]:
    """The Dockerfile to send and the labels left for the engine to add: a copy ending in one
    ``LABEL`` with all of them, unless ``--target`` names an earlier stage than the last."""
    if not request.labels or (request.target and request.target.lower() != request.dockerfile.last_stage.lower()):
        return request.dockerfile_arg, dict(request.labels)
    pairs = " ".join(f'"{_quoted(k)}"="{_quoted(v)}"' for k, v in request.labels.items())
    copy = scratch / "Dockerfile"
    copy.write_text(request.dockerfile.path.read_text(encoding="utf-8").rstrip("\n") + f"\nLABEL {pairs}\n", encoding="utf-8")
    return str(copy), {}  # an absolute path outside the context: the SDK puts it in the context


def _quoted(text: str) -> str:
    """A LABEL word in double quotes: no escape, quote or variable of the value is read."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("\n", " ")


class _BuildWatcher:
    """Turns the build stream into events; remembers the step, the image id, the step's last
    lines of output and any error."""

    # The engine's own lines; a step's output that merely starts alike ("Step one : …") is output.
    _STEP = re.compile(r"Step (?P<step>(?P<number>[0-9]+)(?:/(?P<total>[0-9]+))?) : (?P<instruction>.*)")
    _BUILT = re.compile(r"Successfully built (\S+)\s*")

    def __init__(self, emit: Emit, log: IO[str] | None = None) -> None:
        self.emit = emit
        self.log = log  # the image log: every line, as the CLI builders' process.run writes theirs
        self.buffer = ""
        self.step = ""
        self.image_id = ""
        self.error = ""
        self.output: deque[str] = deque(maxlen=10)  # of the current step

    def __call__(self, chunk: Mapping) -> None:
        # A chunk is whatever JSON the engine sent: a value of an unexpected type is absent.
        if "error" in chunk or "errorDetail" in chunk:
            detail = chunk.get("errorDetail")
            said = (detail.get("message") if isinstance(detail, Mapping) else None, chunk.get("error"))
            self.error = next((m.strip() for m in said if isinstance(m, str) and m.strip()), "unknown error")
            if self.log:
                self.log.write(printable.clean(self.error) + "\n")
            self.emit(LogLine(STAGE, self.error, "error"))
        if isinstance(aux := chunk.get("aux"), Mapping) and isinstance(aux.get("ID"), str) and aux["ID"]:
            self.image_id = aux["ID"]
        if isinstance(status := chunk.get("status"), str) and status:  # a pull of the base image
            layer = chunk.get("id")
            self.emit(LogLine(STAGE, f"{layer if isinstance(layer, str) else ''} {status}".strip(), "debug"))
        if isinstance(text := chunk.get("stream"), str) and text:
            self.buffer += text
            *lines, self.buffer = self.buffer.split("\n")
            for line in lines:
                self._line(line.rstrip("\r"))

    def _line(self, line: str) -> None:
        if self.log:
            self.log.write(printable.clean(line) + "\n")
        if not line.strip():
            return
        if m := self._STEP.fullmatch(line):
            self.step, instruction = m["step"], m["instruction"]
            self.output.clear()
            self.emit(Progress(STAGE, f"Step {self.step} · {instruction}", {"step": int(m["number"]), "steps": int(m["total"] or 0), "instruction": instruction}))
            self.emit(LogLine(STAGE, line, "debug"))
            return
        if (m := self._BUILT.fullmatch(line)) and not self.image_id:
            self.image_id = m[1]
        elif not line.startswith((" ---> ", "Removing intermediate container")):
            self.output.append(line)
        self.emit(LogLine(STAGE, line, "debug"))

    def finish(self) -> None:
        if self.buffer.strip():
            self._line(self.buffer)
        self.buffer = ""

    def failure(self) -> ImageError:
        where = f" at step {self.step}" if self.step else ""
        said = [line for line in self.output if line.strip() and line.strip() != self.error]
        tail = f"; its last output: {' | '.join(said[-3:])}" if said else ""
        return ImageError(f"image build failed{where}: {self.error}{tail}", hint_for(self.error))
