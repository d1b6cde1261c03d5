"""Go tools built from source for the tests (``scripts/go-tool``), and a registry with the
OCI referrers API. Import the fixtures into a test module:
``from tests.servers.go_tools import cosign, referrers_registry``.

``cosign`` (session): the real cosign CLI, for tests that check autopack's signatures the way
a user would (``cosign verify-blob``, ``cosign verify``); a few minutes to build on a fresh
machine, a no-op once the pinned binary is in ~/.cache/autopack-test/go/bin. Tests run it
with ``cosign_env``: its TUF cache in the test's tmp dir, never the user's ~/.sigstore.

``referrers_registry`` (per test): go-containerregistry's registry with its OCI 1.1 referrers
API on (``tests/servers/referrers_registry``), on a loopback port, blobs on disk under the
test's tmp dir: it answers ``GET /v2/<name>/referrers/<digest>``, which the CNCF distribution
registry does not.

Where a tool cannot be built (no Go, no module proxy), every test that needs it is skipped
with the script's own words.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT
from tests.servers.registry import free_port

SCRIPT = ROOT / "scripts" / "go-tool"


def _said(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip() and not line.startswith("go: downloading")]
    return " | ".join(lines[-4:]) or f"exit code {done.returncode}"


def _install(tool: str) -> Path:
    try:
        installed = subprocess.run([str(SCRIPT), "install", tool], capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.skip(f"{tool} cannot be built here: scripts/go-tool install {tool} took over 30 minutes")
    if installed.returncode != 0:
        pytest.skip(f"{tool} cannot be built here: {_said(installed)}")
    path = Path(installed.stdout.strip().splitlines()[-1])
    assert path.is_file() and os.access(path, os.X_OK), f"scripts/go-tool install {tool} printed {path}, which is no executable"
    return path


@pytest.fixture(scope="session")
def cosign() -> Path:
    return _install("cosign")


@pytest.fixture(scope="session")
def referrers_registry_binary() -> Path:
    return _install("referrers-registry")


def cosign_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment to run cosign in: its TUF metadata cache under ``tmp_path``."""
    return {**os.environ, "TUF_ROOT": str(tmp_path / "tuf"), **extra}


@dataclass(frozen=True)
class ReferrersRegistry:
    host: str

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def referrers(self, repository: str, digest: str) -> list[dict]:
        answer = requests.get(f"{self.url}/v2/{repository}/referrers/{digest}", timeout=10)
        answer.raise_for_status()
        return answer.json()["manifests"]


@pytest.fixture
def referrers_registry(referrers_registry_binary: Path, tmp_path: Path) -> Iterator[ReferrersRegistry]:
    host = f"127.0.0.1:{free_port()}"
    disk = tmp_path / "referrers-registry"
    disk.mkdir()
    log = open(tmp_path / "referrers-registry.log", "wb")
    process = subprocess.Popen([str(referrers_registry_binary), "-address", host, "-disk", str(disk)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:  # bounded: until it answers /v2/ or 30 s pass
            try:
                if requests.get(f"http://{host}/v2/", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, f"the referrers registry did not start: {(tmp_path / 'referrers-registry.log').read_text()[-2000:]}"
            time.sleep(0.1)
        yield ReferrersRegistry(host)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
