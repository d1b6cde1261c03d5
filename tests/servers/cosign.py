"""The real cosign CLI, for tests that check autopack's signatures the way a user would
(``cosign verify-blob``, ``cosign verify``). Import the fixture into a test module:
``from tests.servers.cosign import cosign``.

``cosign`` (session): ``scripts/cosign install`` (a no-op once the pinned binary is in
~/.cache/autopack-test/go/bin; a few minutes on a fresh machine) and the binary's path.
Where cosign cannot be built (no Go, no module proxy), every test that needs it is skipped
with the script's own words. Tests run it with ``cosign_env``: its TUF cache in the test's
tmp dir, never the user's ~/.sigstore.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "cosign"


def _said(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip() and not line.startswith("go: downloading")]
    return " | ".join(lines[-4:]) or f"exit code {done.returncode}"


@pytest.fixture(scope="session")
def cosign() -> Path:
    try:
        installed = subprocess.run([str(SCRIPT), "install"], capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.skip("cosign cannot be built here: scripts/cosign install took over 30 minutes")
    if installed.returncode != 0:
        pytest.skip(f"cosign cannot be built here: {_said(installed)}")
    path = Path(installed.stdout.strip().splitlines()[-1])
    assert path.is_file() and os.access(path, os.X_OK), f"scripts/cosign install printed {path}, which is no executable"
    return path


def cosign_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment to run cosign in: its TUF metadata cache under ``tmp_path``."""
    return {**os.environ, "TUF_ROOT": str(tmp_path / "tuf"), **extra}
