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


@dataclass(frozen=True)
class ExternalsRepository:
    """``ext-repo`` beside ``repo`` under the same svnserve (see ``externals_repository``)."""

    svn_url: str  # svn://127.0.0.1:PORT/ext-repo
    file_url: str
    port: int


def _commit_externals(wc: Path, value: str, message: str) -> None:
    svn("update", "--ignore-externals", str(wc))  # a directory's property is committed from an up-to-date directory
    svn("propset", "svn:externals", value, str(wc))
    svn("commit", "--username", AUTHOR, "-m", message, cwd=wc)


def _props(pairs: dict[str, str]) -> bytes:
    body = b"".join(b"K %d\n%s\nV %d\n%s\n" % (len(k.encode()), k.encode(), len(v.encode()), v.encode()) for k, v in pairs.items())
    return body + b"PROPS-END\n"


def _set_externals_raw(repo: Path, path: str, value: str, message: str) -> None:
    """Commit ``svn:externals`` = ``value`` on ``path`` as a hostile server-side writer can:
    through ``svnadmin load``, which does not check it (svn's own propset refuses a '..')."""
    revision = int(subprocess.run(["svnlook", "youngest", str(repo)], check=True, capture_output=True, text=True).stdout) + 1
    revprops = _props({"svn:log": message, "svn:author": AUTHOR, "svn:date": "2024-01-01T00:00:00.000000Z"})
    props = _props({"svn:externals": value})
    dump = (
        b"SVN-fs-dump-format-version: 2\n\n"
        + b"Revision-number: %d\nProp-content-length: %d\nContent-length: %d\n\n" % (revision, len(revprops), len(revprops))
        + revprops
        + b"\nNode-path: %s\nNode-kind: dir\nNode-action: change\nProp-content-length: %d\nContent-length: %d\n\n" % (path.encode(), len(props), len(props))
        + props
        + b"\n"
    )
    subprocess.run(["svnadmin", "load", "--quiet", str(repo)], input=dump, check=True, capture_output=True)


@pytest.fixture(scope="session")
def externals_repository(svn_server: SvnServer, tmp_path_factory: pytest.TempPathFactory) -> ExternalsRepository:
    """A repository whose trunk has ``svn:externals``, served by ``svn_server``'s svnserve:

        r1  mkdir trunk lib vendor branches
        r2  import hello-service into trunk; lib/LIB.txt "lib r2"; vendor/VENDOR.txt
        r3  lib/LIB.txt "lib r3"
        r4  lib: svn:externals "^/vendor vendor" (an external of the external)
        r5  trunk: svn:externals "^/lib libs/head", "-r2 ^/lib libs/r2", "../lib@2 libs/peg",
            and the old form "libs/old -r3 <svn_url>/lib"
        r6… branches/<name>: a copy of trunk whose svn:externals is one hostile line each —
            file (a file:// URL), host (another host), scheme (http:// on the same host),
            escape (a path out of the checkout), at (an unencoded '@' in a password),
            date (a date revision), option (a path beginning with '-')
    """
    base = tmp_path_factory.mktemp("svn-ext")
    repo = svn_server.root / "ext-repo"
    subprocess.run(["svnadmin", "create", str(repo)], check=True)
    for name in ("svnserve.conf", "passwd"):
        shutil.copy(svn_server.repo / "conf" / name, repo / "conf" / name)
    url = repo.as_uri()
    port = int(svn_server.svn_url.rsplit(":", 1)[1].split("/", 1)[0])
    served = f"svn://127.0.0.1:{port}/ext-repo"
    commit = ("--username", AUTHOR)
    svn("mkdir", *commit, "-m", "layout", f"{url}/trunk", f"{url}/lib", f"{url}/vendor", f"{url}/branches")  # r1
    wc = base / "wc"
    svn("checkout", url, str(wc))
    shutil.copytree(HELLO, wc / "trunk", ignore=shutil.ignore_patterns("target"), dirs_exist_ok=True)
    (wc / "lib" / "LIB.txt").write_text("lib r2\n")
    (wc / "vendor" / "VENDOR.txt").write_text("vendor\n")
    svn("add", "--force", str(wc / "trunk"), str(wc / "lib"), str(wc / "vendor"))
    svn("commit", *commit, "-m", "content", cwd=wc)  # r2
    (wc / "lib" / "LIB.txt").write_text("lib r3\n")
    svn("commit", *commit, "-m", "lib r3", cwd=wc)  # r3
    _commit_externals(wc / "lib", "^/vendor vendor", "lib's own external")  # r4
    _commit_externals(wc / "trunk", f"^/lib libs/head\n-r2 ^/lib libs/r2\n../lib@2 libs/peg\nlibs/old -r3 {served}/lib\n", "trunk's externals")  # r5
    hostile = {
        "file": f"{svn_server.file_url}/trunk from-disk",
        "host": f"svn://localhost:{port}/ext-repo/lib elsewhere",
        "scheme": f"http://127.0.0.1:{port}/ext-repo/lib other-scheme",
        "escape": "^/lib ../../outside",
        "at": f"svn://ada:p@ss@127.0.0.1:{port}/ext-repo/lib at",
        "date": "-r {2020-01-01} ^/lib dated",
        "option": "^/lib -x",
    }
    for name, value in hostile.items():
        svn("copy", *commit, "-m", f"branch {name}", f"{url}/trunk", f"{url}/branches/{name}")
        _set_externals_raw(repo, f"branches/{name}", value + "\n", f"hostile external: {name}")
    return ExternalsRepository(served, url, port)
