"""Fixtures for the git backend: a real bare repository served over smart HTTP with basic
auth by ``tests/servers/git_http.py`` on loopback, at the GitLab-shaped path
``group/subgroup/project.git``.

History (pom ``<version>`` of hello-service at each commit):

    main        c1 1.0.0  ← tag v1.0.0 (annotated)
                c2 1.1.0  (also adds services/hello, version 2.0.0-sub)  ← main, HEAD
    feature/x   c3 1.2.0-SNAPSHOT (child of c2)
    refs/merge-requests/1/head
                c4 1.3.0-mr (child of c2; on no branch)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.servers.git_http import GitHttpServer

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "fixtures" / "hello-service"
PROJECT = "group/subgroup/project.git"


@dataclass
class GitRemote:
    server: GitHttpServer
    bare: Path  # the served bare repository
    url: str  # credential-free
    shas: dict[str, str] = field(default_factory=dict)  # "c1".."c4", "tag" (the tag object)
    versions: dict[str, str] = field(default_factory=dict)  # commit name -> pom version

    @property
    def username(self) -> str:
        return self.server.username

    @property
    def password(self) -> str:
        return self.server.password


def run_git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Ada Tester",
        "GIT_AUTHOR_EMAIL": "ada@example.com",
        "GIT_COMMITTER_NAME": "Ada Tester",
        "GIT_COMMITTER_EMAIL": "ada@example.com",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL).stdout.strip()


def pom_version(project: Path) -> str:
    text = (project / "pom.xml").read_text()
    return re.search(r"<artifactId>hello-service</artifactId>\s*<version>([^<]+)</version>", text)[1]


def _set_version(pom: Path, version: str) -> None:
    text = pom.read_text()
    pom.write_text(re.sub(r"(<artifactId>hello-service</artifactId>\s*<version>)[^<]+", rf"\g<1>{version}", text, count=1))


def _commit(work: Path, version: str, message: str) -> str:
    _set_version(work / "pom.xml", version)
    run_git(work, "add", "-A")
    run_git(work, "commit", "-q", "-m", message)
    return run_git(work, "rev-parse", "HEAD")


@pytest.fixture(scope="session")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHttpServer]:
    with GitHttpServer(tmp_path_factory.mktemp("git-served")) as server:
        yield server


@pytest.fixture(scope="session")
def git_remote(git_server: GitHttpServer, tmp_path_factory: pytest.TempPathFactory) -> GitRemote:
    work = tmp_path_factory.mktemp("git-work") / "hello-service"
    shutil.copytree(HELLO, work, ignore=shutil.ignore_patterns("target"))
    run_git(work, "init", "-q", "-b", "main")
    shas, versions = {}, {}
    shas["c1"] = _commit(work, "1.0.0", "hello-service 1.0.0")
    run_git(work, "tag", "-a", "v1.0.0", "-m", "release 1.0.0")
    sub = work / "services" / "hello"
    shutil.copytree(HELLO, sub, ignore=shutil.ignore_patterns("target"))
    _set_version(sub / "pom.xml", "2.0.0-sub")
    shas["c2"] = _commit(work, "1.1.0", "version 1.1.0, services/hello")
    run_git(work, "checkout", "-q", "-b", "feature/x")
    shas["c3"] = _commit(work, "1.2.0-SNAPSHOT", "feature x")
    run_git(work, "checkout", "-q", "--detach", shas["c2"])
    shas["c4"] = _commit(work, "1.3.0-mr", "merge request 1")
    run_git(work, "checkout", "-q", "main")
    versions.update(c1="1.0.0", c2="1.1.0", c3="1.2.0-SNAPSHOT", c4="1.3.0-mr")
    shas["tag"] = run_git(work, "rev-parse", "v1.0.0")
    bare = git_server.root / PROJECT
    bare.parent.mkdir(parents=True)
    run_git(work.parent, "clone", "-q", "--bare", str(work), str(bare))
    run_git(work, "push", "-q", str(bare), f"{shas['c4']}:refs/merge-requests/1/head")
    return GitRemote(git_server, bare, git_server.url(PROJECT), shas, versions)


@pytest.fixture
def fresh_remote(git_remote: GitRemote) -> Iterator[GitRemote]:
    """A copy of the repository under its own URL, for a test that changes it."""
    name = f"group/subgroup/copy-{uuid.uuid4().hex[:8]}.git"
    bare = git_remote.server.root / name
    shutil.copytree(git_remote.bare, bare)
    yield GitRemote(git_remote.server, bare, git_remote.server.url(name), dict(git_remote.shas), dict(git_remote.versions))
    shutil.rmtree(bare, ignore_errors=True)
