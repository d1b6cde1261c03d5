"""A real standalone BuildKit daemon for the remote-builder tests, and a registry it pulls
the base image from. Import the fixtures into a test module:
``from tests.servers.buildkitd import base_registry, buildkitd``.

``buildkitd`` (session): ``scripts/buildkit install`` (a no-op once the pinned binaries are
in ~/.cache/autopack-test/go/bin; about three minutes on a fresh machine) and ``start`` with
a state dir of its own under the session's tmp dir — the OCI worker with runc, the
snapshotter buildkitd picks (overlayfs here; AUTOPACK_BUILDKIT_SNAPSHOTTER=native forces the
other) — listening on a unix socket and a loopback TCP port. Stopped and removed when the
session ends. Where buildkitd cannot be built (no Go, no module proxy) or started (not root,
runc refused), every test that needs it is skipped with the script's own words.

``base_registry`` (session): a plain loopback registry holding the tests' base image, pushed
there from the Docker engine — the daemon pulls its base images itself and cannot see the
engine's. ``base_registry.ref("autopack/jre", "17")`` is what a Dockerfile's FROM names.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from tests.conftest import BASE_IMAGE, ROOT
from tests.servers.registry import Registry, free_port

SCRIPT = ROOT / "scripts" / "buildkit"
BASE_REPOSITORY, BASE_TAG = "autopack/jre", "17"


@dataclass(frozen=True)
class BuildkitDaemon:
    unix: str  # unix:///…/buildkitd.sock
    tcp: str  # tcp://127.0.0.1:PORT
    buildctl: str  # the client built with it
    state: Path
    log: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _script(command: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), command], env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _said(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip() and not line.startswith("go: downloading")]
    return " | ".join(lines[-4:]) or f"exit code {done.returncode}"


@pytest.fixture(scope="session")
def buildkitd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuildkitDaemon]:
    state = tmp_path_factory.mktemp("buildkitd")
    env = {**os.environ, "AUTOPACK_BUILDKIT_STATE": str(state), "AUTOPACK_BUILDKIT_TCP": f"127.0.0.1:{free_port()}"}
    try:
        installed = _script("install", env, timeout=1800)
    except subprocess.TimeoutExpired:
        pytest.skip("buildkitd cannot be built here: scripts/buildkit install took over 30 minutes")
    if installed.returncode != 0:
        pytest.skip(f"buildkitd cannot be built here: {_said(installed)}")
    try:
        started = _script("start", env, timeout=180)
    except subprocess.TimeoutExpired:
        _script("stop", env, timeout=120)
        pytest.skip("buildkitd cannot be started here: scripts/buildkit start took over 3 minutes")
    if started.returncode != 0:
        _script("stop", env, timeout=120)
        pytest.skip(f"buildkitd cannot be started here: {_said(started)}")
    addresses = started.stdout.split()
    unix = next(a for a in addresses if a.startswith("unix://"))
    tcp = next(a for a in addresses if a.startswith("tcp://"))
    bin_dir = Path(env.get("AUTOPACK_BUILDKIT_BIN") or Path.home() / ".cache/autopack-test/go/bin")
    try:
        yield BuildkitDaemon(unix, tcp, str(bin_dir / "buildctl"), state, state / "buildkitd.log")
    finally:
        stopped = _script("stop", env, timeout=120)
        assert stopped.returncode == 0, f"scripts/buildkit stop failed: {_said(stopped)}"
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def base_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    client = docker.from_env(timeout=60)
    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.DockerException as e:
        pytest.fail(f"base image {BASE_IMAGE} is not in the Docker engine ({e}); run scripts/base-image", pytrace=False)
    with Registry(tmp_path_factory.mktemp("base-registry"), name="base-registry") as registry:
        repository = f"{registry.host}/{BASE_REPOSITORY}"
        client.api.tag(BASE_IMAGE, repository, BASE_TAG)
        try:
            errors = [m for m in client.api.push(repository, BASE_TAG, stream=True, decode=True) if "error" in m or "errorDetail" in m]
        finally:
            client.api.remove_image(f"{repository}:{BASE_TAG}")  # only the tag: the image stays
        assert not errors, f"pushing {BASE_IMAGE} to {registry}: {errors}"
        assert registry.manifest_digest(BASE_REPOSITORY, BASE_TAG), f"{registry} has no {BASE_REPOSITORY}:{BASE_TAG} after the push"
        yield registry
