"""A real Subversion repository served by a real ``svnserve`` on loopback, for the svn tests.

The repository has the standard layout and six revisions:

    r1  mkdir trunk branches tags
    r2  import fixtures/hello-service into trunk           (pom version 1.0.0)
    r3  trunk: version 1.1.0
    r4  copy trunk to branches/release-1
    r5  branches/release-1: version 1.2.0-SNAPSHOT
    r6  copy trunk@3 to tags/v1.1.0

It is built with ``svn`` over file:// (as user ``ada``) and served by
``svnserve -d --foreground`` with ``anon-access = none``: every svn:// access needs the
login in ``SvnServer.username`` / ``SvnServer.password``.

Import the fixture into a test module: ``from tests.source.svn_fixtures import svn_server``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "fixtures" / "hello-service"
AUTHOR = "ada"


@dataclass(frozen=True)
class SvnServer:
    root: Path  # the svnserve root (parent of the repository)
    repo: Path
    svn_url: str  # svn://127.0.0.1:PORT/repo (the repository root)
    file_url: str  # file:///…/repo
    username: str
    password: str
    head: int
    versions: dict[int, str] = field(default_factory=dict)  # trunk revision -> pom version
    branch_versions: dict[int, str] = field(default_factory=dict)  # branches/release-1 revision -> version


def svn(*args: str, cwd: Path | None = None) -> str:
    env = {**os.environ, "LC_ALL": "C"}
    return subprocess.run(
        ["svn", "--non-interactive", "--no-auth-cache", *args],
        cwd=cwd, env=env, check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL,
    ).stdout


def pom_version(project: Path) -> str:
    import re

    text = (project / "pom.xml").read_text()
    # The project's own <version> follows <artifactId>hello-service</artifactId>.
    return re.search(r"<artifactId>hello-service</artifactId>\s*<version>([^<]+)</version>", text)[1]


def _set_version(pom: Path, version: str) -> None:
    text = pom.read_text()
    old = "<artifactId>hello-service</artifactId>\n  <version>"
    start = text.index(old) + len(old)
    end = text.index("</version>", start)
    pom.write_text(text[:start] + version + text[end:])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"svnserve exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("svnserve did not start listening")


def build_repository(base: Path, username: str, password: str) -> tuple[Path, str]:
    root = base / "svnroot"
    root.mkdir()
    repo = root / "repo"
    subprocess.run(["svnadmin", "create", str(repo)], check=True)
    (repo / "conf" / "svnserve.conf").write_text(
        "[general]\nanon-access = none\nauth-access = write\npassword-db = passwd\nrealm = autopack-test\n"
    )
    (repo / "conf" / "passwd").write_text(f"[users]\n{username} = {password}\n")
    url = repo.as_uri()
    commit = ("--username", AUTHOR)
    svn("mkdir", *commit, "-m", "standard layout", f"{url}/trunk", f"{url}/branches", f"{url}/tags")  # r1
    project = base / "import"
    shutil.copytree(HELLO, project, ignore=shutil.ignore_patterns("target"))
    svn("import", *commit, "-m", "hello-service 1.0.0", str(project), f"{url}/trunk")  # r2
    wc = base / "wc"
    svn("checkout", *commit, f"{url}/trunk", str(wc))
    _set_version(wc / "pom.xml", "1.1.0")
    svn("commit", *commit, "-m", "version 1.1.0", cwd=wc)  # r3
    svn("copy", *commit, "-m", "branch release-1", f"{url}/trunk", f"{url}/branches/release-1")  # r4
    svn("switch", f"{url}/branches/release-1", cwd=wc)
    _set_version(wc / "pom.xml", "1.2.0-SNAPSHOT")
    svn("commit", *commit, "-m", "release-1: 1.2.0-SNAPSHOT", cwd=wc)  # r5
    svn("copy", *commit, "-m", "tag v1.1.0", f"{url}/trunk@3", f"{url}/tags/v1.1.0")  # r6
    return repo, url


@pytest.fixture(scope="session")
def svn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SvnServer]:
    base = tmp_path_factory.mktemp("svn")
    username, password = "builder", "s3cret-Svn-pass"
    repo, file_url = build_repository(base, username, password)
    for attempt in range(5):
        port = _free_port()
        proc = subprocess.Popen(
            ["svnserve", "-d", "--foreground", "--listen-host", "127.0.0.1", "--listen-port", str(port), "-r", str(repo.parent)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            _wait_for_port(port, proc)
            break
        except RuntimeError:
            proc.kill()
            proc.wait()
            if attempt == 4:
                raise
    try:
        yield SvnServer(
            root=repo.parent, repo=repo, svn_url=f"svn://127.0.0.1:{port}/{repo.name}", file_url=file_url,
            username=username, password=password, head=6,
            versions={2: "1.0.0", 3: "1.1.0", 4: "1.1.0", 5: "1.1.0", 6: "1.1.0"},
            branch_versions={4: "1.1.0", 5: "1.2.0-SNAPSHOT", 6: "1.2.0-SNAPSHOT"},
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
