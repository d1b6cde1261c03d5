"""buildah (Debian's package): daemonless builds, for CI runners without a Docker daemon.
The same Dockerfile, tags, labels and build args as the other builders; the image stays in
buildah's own store (containers-storage), and the push stage pushes it with ``buildah push``
to the first destination, from which the others are copied as for any build.

Picked by ``--engine buildah``, or by ``auto`` when no Docker engine answers. Base images
come from their registries (nothing is read from a Docker engine); a loopback registry is
spoken to over plain HTTP, as the Docker engine does. buildah reads its own settings as
usual: ``BUILDAH_ISOLATION=chroot`` where containers cannot be nested, ``STORAGE_DRIVER``,
``/etc/containers/registries.conf``. Build-arg values and credentials never reach argv: the
values travel in the environment, a login in a temporary ``--authfile``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

from autopack import process, tags
from autopack.engine.base import STAGE, BuildRequest, Built, cli_options, hint_for
from autopack.errors import ImageError, PushError
from autopack.events import Emit, LogLine, Progress
from autopack.files import write_atomically
from autopack.push.credentials import RegistryAuth
from autopack.push.registry import is_loopback

if TYPE_CHECKING:
    from autopack.engine import Engine

PUSHES = False  # pushes only from its store, after the build (Engine.push)
NAME = "buildah"
_STEP = re.compile(r"^STEP (?P<i>\d+)/(?P<n>\d+): (?P<instruction>.+)$")
_NOISE = re.compile(r"^(subprocess exited with status|time=\S+ level=warning)")  # the runtime's echo of the exit status


def unavailable(engine: Engine | None = None) -> str | None:
    if shutil.which("buildah") is None:
        return "buildah is not installed (apt-get install buildah)"
    return None


def command(request: BuildRequest, iidfile: Path, insecure: bool) -> list[str]:
    """buildah's argv for ``request`` (a pure function: no value of a build arg in it)."""
    # --force-rm: a step's working container goes even when the step fails or is interrupted
    # (buildah keeps it by default, in its store, for good), as the classic builder's forcerm.
    argv = ["buildah", "build", "--iidfile", str(iidfile), "-f", str(request.dockerfile.path.resolve()), "--layers", "--force-rm"]
    argv += cli_options(request, pull_flag="--pull-always", network=request.network)
    if insecure:
        argv.append("--tls-verify=false")
    argv.append(str(request.dockerfile.context))
    return argv


def base_images(request: BuildRequest) -> list[str]:
    """The FROM references with ``${ARG}`` replaced by the build args (or the ARG's default)."""
    values = {**request.dockerfile.arg_defaults, **request.build_args}
    found = []
    for reference in request.dockerfile.base_images:
        resolved = re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1), m.group(0)), reference)
        if resolved.lower() != "scratch" and resolved not in request.dockerfile.stage_names:
            found.append(resolved)
    return found


def build(engine: Engine, request: BuildRequest, emit: Emit) -> Built:
    # Plain HTTP only when every base image comes from a loopback registry.
    registries = [tags.split_reference(b)[0].split("/")[0] for b in base_images(request)]
    insecure = bool(registries) and all(is_loopback(r) for r in registries)
    output: deque[str] = deque(maxlen=10)
    step = ["", ""]

    def on_line(line: str) -> None:
        if m := _STEP.match(line):
            step[:] = [f"{m['i']}/{m['n']}", m["instruction"]]
            output.clear()
            emit(Progress(STAGE, f"Step {step[0]} · {step[1]}", {"step": int(m["i"]), "steps": int(m["n"]), "instruction": step[1]}))
        elif line.strip() and not _NOISE.match(line):
            output.append(line)
        emit(LogLine(STAGE, line, "debug"))

    with tempfile.TemporaryDirectory(prefix="autopack-build-") as scratch:
        iidfile = Path(scratch) / "iid"
        env = {**os.environ, **request.build_args}
        try:
            process.run(command(request, iidfile, insecure), env=env, on_line=on_line, log_path=request.log)
        except process.ProcessFailed as e:
            said = [line for line in output if line.strip()]
            last = said[-1] if said else f"exit code {e.completed.returncode}"
            where = f" at step {step[0]} ({step[1]})" if step[0] else ""
            tail = f"; its last output: {' | '.join(said[-4:-1])}" if len(said) > 1 else ""
            raise ImageError(f"image build failed{where}: {re.sub(r'^(Error|error): ', '', last)}{tail}", hint_for(last)) from e
        image_id = iidfile.read_text().strip() if iidfile.is_file() else ""
    if not image_id:
        raise ImageError("buildah finished without writing the image id", "run with -v and look at the build output")
    return Built(image_id if image_id.startswith("sha256:") else f"sha256:{image_id}")


def labelled(label: str, value: str) -> str | None:
    """The id of an image in buildah's store whose ``label`` is ``value`` (None: none is)."""
    done = subprocess.run(["buildah", "images", "--quiet", "--no-trunc", "--filter", f"label={label}={value}"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    found = [line.strip() for line in done.stdout.splitlines() if line.strip().startswith("sha256:")] if done.returncode == 0 else []
    return found[0] if found else None


def inspect(image_id: str) -> dict:
    """The image's details in the Docker Engine's shape (Id, Config.Labels, Size)."""
    done = subprocess.run(["buildah", "inspect", "--type", "image", image_id.removeprefix("sha256:")], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise ImageError(f"buildah has no image {image_id}: {done.stderr.strip()[:200]}", "look at the build output")
    details = json.loads(done.stdout)
    config = (details.get("OCIv1") or {}).get("config") or {}
    size = sum(int(layer.get("size") or 0) for layer in (details.get("Manifest") and json.loads(details["Manifest"]).get("layers") or []))
    return {"Id": f"sha256:{image_id.removeprefix('sha256:')}", "Config": {"Labels": config.get("Labels") or {}}, "Size": size}


def push(image_id: str, name: str, tag: str, auth: RegistryAuth | None, emit: Emit) -> str:
    """``buildah push`` of the image to ``name:tag``; returns the digest the registry stored."""
    registry = name.split("/")[0]
    with tempfile.TemporaryDirectory(prefix="autopack-push-") as scratch:
        digestfile = Path(scratch) / "digest"
        # The login autopack resolved, or none: buildah is never left to look for one itself.
        authfile = Path(scratch) / "auth.json"
        token = base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode() if auth is not None else None
        write_atomically(authfile, json.dumps({"auths": {registry: {"auth": token}} if token else {}}), mode=0o600)  # in a 0700 directory
        argv = ["buildah", "push", "--digestfile", str(digestfile), "--authfile", str(authfile)]
        if is_loopback(registry):
            argv.append("--tls-verify=false")
        argv += [image_id.removeprefix("sha256:"), f"docker://{name}:{tag}"]
        emit(LogLine(STAGE, f"buildah push {name}:{tag}", "info"))
        try:
            process.run(argv, on_line=lambda line: emit(LogLine(STAGE, line, "debug")))
        except process.ProcessFailed as e:
            said = " ".join(line for line in e.completed.tail[-2:] if line.strip())
            raise PushError(f"{name}:{tag}: buildah push failed: {said or e}", "check the credential (see the pre-flight line above) and the registry") from e
        return digestfile.read_text().strip() if digestfile.is_file() else ""
