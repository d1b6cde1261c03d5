"""BuildKit, through the docker CLI: ``docker buildx build`` where the buildx plugin is
installed, else ``DOCKER_BUILDKIT=1 docker build`` on a CLI that embeds the BuildKit client
(the docker CLI before 23.0, such as Debian's 20.10). The default wherever it is available.

Labels, tags and build args are options of the one build (no extra steps, no layer commits
for them); ``RUN --mount=type=cache`` and ``--mount=type=secret`` work, and ``--secret
id=…,src=…`` hands a file to the build without it reaching a layer or the history. Build-arg
values travel in the CLI's environment (``--build-arg NAME``), never in its argv. Progress is
read from ``--progress=plain``; the image id from ``--iidfile``. The CLI runs through
``process.run``, in its own process group: Ctrl-C ends it, and BuildKit cancels a build whose
session closed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from autopack import process
from autopack.engine.base import STAGE, BuildRequest, Built, cli_options, freshen_outputs, hint_for
from autopack.errors import ImageError
from autopack.events import Emit, LogLine, Progress

if TYPE_CHECKING:
    from autopack.engine import Engine

PUSHES = False  # pushes only from its store, after the build (Engine.push)
NAME = "buildkit"
# Names the docker CLI itself reads: a build arg of that name goes in argv, not the environment.
_CLI_VARIABLES = frozenset({"PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "DOCKER_BUILDKIT", "DOCKER_CONTEXT"})


def unavailable(engine: Engine) -> str | None:
    if engine.os_type != "linux":
        return f"the engine runs {engine.os_type} containers"
    if _cli(engine) is None:
        return "no docker CLI with BuildKit: install the buildx plugin (or a docker CLI before 23.0)"
    return None


def _cli(engine: Engine) -> tuple[tuple[str, ...], dict[str, str]] | None:
    """The build command and the environment it needs, found once per engine."""
    if engine.buildkit_cli is not None:
        return engine.buildkit_cli or None
    found: tuple[tuple[str, ...], dict[str, str]] | tuple[()] = ()
    plugin = _buildx_plugin()
    for candidate in dict.fromkeys(p for p in (shutil.which("docker"), "/usr/bin/docker") if p and os.access(p, os.X_OK)):
        if plugin and _succeeds([candidate, "buildx", "version"]):
            found = ((candidate, "buildx", "build", "--load"), {})
            break
        # The client's own version, without asking the engine (``docker version`` would).
        version = re.match(r"Docker version (\d+)\.", _output([candidate, "--version"]))
        if version and int(version[1]) < 23:
            found = ((candidate, "build"), {"DOCKER_BUILDKIT": "1"})
            break
    engine.buildkit_cli = found
    return found or None


# Where the docker CLI looks for plugins, besides $DOCKER_CONFIG/cli-plugins (its documented list).
_PLUGIN_DIRS = ("/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins", "/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins")


def _buildx_plugin() -> bool:
    """Whether a buildx plugin is installed where the docker CLI finds plugins: asking
    ``docker buildx version`` only then saves a child on every run of a machine without one."""
    config = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    return any((directory / "docker-buildx").exists() for directory in (config / "cli-plugins", *map(Path, _PLUGIN_DIRS)))


def _succeeds(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=20, stdin=subprocess.DEVNULL).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _output(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def command(base: tuple[str, ...], request: BuildRequest, iidfile: Path, network: str | None) -> list[str]:
    """The CLI's argv for ``request`` (a pure function: no value of a build arg in it)."""
    argv = [*base, "--progress=plain", "--iidfile", str(iidfile), "-f", str(request.dockerfile.path.resolve())]
    argv += cli_options(request, pull_flag="--pull", network=network, in_argv=_CLI_VARIABLES)
    return [*argv, str(request.dockerfile.context)]


def build(engine: Engine, request: BuildRequest, emit: Emit) -> Built:
    cli = _cli(engine)
    if cli is None:
        raise ImageError(f"BuildKit is not available: {unavailable(engine)}", "use --engine docker-api")
    base, extra_env = cli
    # Without a bridge network a RUN step cannot get one; the classic builder then runs it
    # with loopback only, and so does this.
    network = request.network or (None if engine.has_bridge else "none")
    watcher = ProgressWatcher(emit)
    freshen_outputs(request)
    with tempfile.TemporaryDirectory(prefix="autopack-build-") as scratch:
        iidfile = Path(scratch) / "iid"
        env = {**os.environ, **extra_env, **{k: v for k, v in request.build_args.items() if k not in _CLI_VARIABLES}}
        try:
            process.run(command(base, request, iidfile, network), env=env, on_line=watcher, log_path=request.log)
        except process.ProcessFailed as e:
            raise watcher.failure(e.completed) from e
        image_id = iidfile.read_text().strip() if iidfile.is_file() else ""
    if not image_id:
        raise ImageError("BuildKit finished without writing the image id", "run with -v and look at the build output")
    return Built(image_id)


class ProgressWatcher:
    """Reads BuildKit's plain progress: ``#N [stage i/n] INSTRUCTION`` starts a step, ``#N
    CACHED``/``#N DONE 0.1s`` end it, ``#N 0.215 text`` is its output, ``#N ERROR: …`` its
    failure. Keeps each step's last lines for the error."""

    _STEP = re.compile(r"^#(?P<id>\d+) \[(?:(?P<stage>[^\]]*?) )?(?P<i>\d+)/(?P<n>\d+)\] (?P<instruction>.+)$")
    _OUTPUT = re.compile(r"^#(?P<id>\d+) \d+\.\d+ (?P<text>.*)$")
    _STATE = re.compile(r"^#(?P<id>\d+) (?P<state>CACHED|DONE|ERROR|CANCELED)\b:? ?(?P<rest>.*)$")
    _VERTEX = re.compile(r"^#(?P<id>\d+) (?P<name>.+)$")

    def __init__(self, emit: Emit, hint: Callable[[str], str] = hint_for) -> None:
        self.emit = emit
        self.hint = hint  # a failure's hint from its message (buildkitd.py has its own)
        self.steps: dict[str, tuple[int, int, str]] = {}  # vertex → (i, n, instruction)
        self.names: dict[str, str] = {}  # vertex → its first line ("exporting to image", a step, …)
        self.output: dict[str, deque[str]] = {}
        self.failed: tuple[str, str] | None = None  # (vertex, message)
        self.cached = 0

    def __call__(self, line: str) -> None:
        if (m := self._VERTEX.match(line)) and m["id"] not in self.names:
            self.names[m["id"]] = m["name"]
        if m := self._STEP.match(line):
            self.steps[m["id"]] = (int(m["i"]), int(m["n"]), m["instruction"])
            self._step(m["id"])
        elif m := self._OUTPUT.match(line):
            self.output.setdefault(m["id"], deque(maxlen=10)).append(m["text"])
        elif m := self._STATE.match(line):
            if m["state"] == "CACHED" and m["id"] in self.steps:
                self.cached += 1
                self._step(m["id"], cached=True)
            elif m["state"] == "ERROR" and self.failed is None:
                self.failed = (m["id"], m["rest"].strip())
                self.emit(LogLine(STAGE, line, "error"))
                return
        self.emit(LogLine(STAGE, line, "debug"))

    def _step(self, vertex: str, cached: bool = False) -> None:
        i, n, instruction = self.steps[vertex]
        facts = {"step": i, "steps": n, "instruction": instruction, **({"cached": True} if cached else {})}
        self.emit(Progress(STAGE, f"Step {i}/{n} · {instruction}{' · cached' if cached else ''}", facts))

    def failure(self, completed: process.Completed) -> ImageError:
        if self.failed is None:
            said = [line for line in completed.tail if line.strip() and not line.startswith("#")]
            message = said[-1] if said else f"exit code {completed.returncode}"
            message = re.sub(r"^(error|ERROR): ", "", message)
            return ImageError(f"image build failed: {message}", self.hint(message))
        vertex, message = self.failed
        i, n, instruction = self.steps.get(vertex, (0, 0, ""))
        where = f" at step {i}/{n} ({instruction})" if i else ""
        said = [line for line in self.output.get(vertex, ()) if line.strip()]
        tail = f"; its last output: {' | '.join(said[-3:])}" if said else ""
        return ImageError(f"image build failed{where}: {message}{tail}", self.hint(message))
