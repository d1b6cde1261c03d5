"""``--maven-repo DIR`` shared by two concurrent runs, end to end: two ``autopack build`` of
two copies of hello-service at once, online, into one initially empty repository.

- Maven 3.8 (``mvn`` on PATH) has no cross-process locking: one run waits for the other's
  Maven to finish, says so, and then finds everything downloaded;
- Maven 3.9 (the wrapper of fixtures/maven-wrapper, added to the copies) locks each file
  itself: both Mavens download at the same time and neither run waits.

Either way both images are built and the repository is consistent afterwards: every jar and
pom matches its ``.sha1``, Maven left no partial download or lock file, and an offline build
of the project against it alone succeeds.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import pytest

from autopack.maven import repository
from tests.conftest import FIXTURES, Run, autopack, copy_fixture, images_named

pytestmark = pytest.mark.e2e

WAITING = "waiting for the Maven repository {repo}: another run holds it"


def projects(tmp_path: Path, wrapper: bool) -> list[Path]:
    """Three copies of hello-service (two to build at once, one to build offline after),
    with Maven 3.9.11's wrapper when ``wrapper``."""
    made = []
    for name in ("first", "second", "offline"):
        project = copy_fixture("hello-service", tmp_path / name)
        # Inputs of their own, so that no image of an earlier run stands in for this build.
        (project / "src/main/resources").mkdir(parents=True, exist_ok=True)
        (project / "src/main/resources/run.txt").write_text(f"{name} {uuid.uuid4()}\n")
        if wrapper:
            shutil.copy2(FIXTURES / "maven-wrapper" / "mvnw", project / "mvnw")
            shutil.copytree(FIXTURES / "maven-wrapper" / ".mvn", project / ".mvn")
        made.append(project)
    return made


def build_both(first: Path, second: Path, repo: Path, image_name: str) -> list[Run]:
    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(autopack, "build", project, "--image", image_name, "-t", tag, "--maven-repo", repo, "--json", "--plain") for project, tag in ((first, "one"), (second, "two"))]
        return [run.result() for run in runs]


def downloads(run: Run) -> int:
    log = Path(json.loads(run.stdout)["logs"]["maven"]).read_text()
    return log.count("Downloaded from central:")


def assert_consistent(repo: Path) -> None:
    files = [p for p in repo.rglob("*") if p.is_file()]
    checked = 0
    for path in files:
        if path.suffix in (".jar", ".pom"):
            sha1 = path.with_name(path.name + ".sha1")
            assert sha1.is_file(), f"{path} has no .sha1"
            assert hashlib.sha1(path.read_bytes()).hexdigest() == sha1.read_text().split()[0], f"{path} does not match its .sha1"
            checked += 1
    assert checked > 100  # plugins, jackson, junit and what they need
    leftovers = [p for p in files if p.name.endswith((".part", ".lock", ".lastUpdated")) or ".part." in p.name or p.parent.name == ".locks"]
    assert leftovers == [repo / ".autopack.lock"] or leftovers == [], leftovers


def build_offline(project: Path, repo: Path) -> None:
    launcher = "./mvnw" if (project / "mvnw").exists() else "mvn"
    env = {**os.environ, "MAVEN_OPTS": ""}
    completed = subprocess.run([launcher, "--batch-mode", "--offline", f"-Dmaven.repo.local={repo}", "clean", "package"], cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert "Downloading from" not in completed.stdout


def test_two_runs_with_maven_3_8_share_an_empty_repository_one_after_the_other(tmp_path: Path, engine: docker.DockerClient, image_name: str) -> None:
    if repository.locks_itself(repository.installed_version()):
        pytest.skip("the mvn on PATH is Maven 3.9 or later; this machine's set-up (scripts/setup) installs Debian's 3.8")
    first, second, offline = projects(tmp_path, wrapper=False)
    repo = tmp_path / "shared-m2"  # not there yet: the lock's directory is made

    runs = build_both(first, second, repo, image_name)

    for run in runs:
        assert run.returncode == 0, run.stderr
        assert f"-Dmaven.repo.local={repo}" in run.stderr  # over the tests' MAVEN_OPTS
    assert images_named(engine, image_name) == [f"{image_name}:one", f"{image_name}:two"]
    waited = [run for run in runs if WAITING.format(repo=repo) in run.stderr]
    assert len(waited) == 1, [run.stderr for run in runs]
    assert "(Maven 3.8." in waited[0].stderr and "cannot share it safely)" in waited[0].stderr
    holder = next(run for run in runs if run is not waited[0])
    # The waiter's Maven started only once the holder's had finished: it found everything there.
    assert downloads(holder) > 100 and downloads(waited[0]) == 0
    assert_consistent(repo)
    build_offline(offline, repo)


def test_two_runs_with_maven_3_9_share_an_empty_repository_at_the_same_time(tmp_path: Path, engine: docker.DockerClient, image_name: str) -> None:
    first, second, offline = projects(tmp_path, wrapper=True)
    repo = tmp_path / "shared-m2"

    runs = build_both(first, second, repo, image_name)

    for run in runs:
        assert run.returncode == 0, run.stderr
        assert "$ ./mvnw --batch-mode -Dstyle.color=never -Daether.syncContext.named.factory=file-lock -Daether.syncContext.named.nameMapper=file-gav" in run.stderr
        assert "waiting for the Maven repository" not in run.stderr
    assert images_named(engine, image_name) == [f"{image_name}:one", f"{image_name}:two"]
    # Both Mavens began with an empty repository: they ran at once, each file under Maven's own lock.
    assert all(downloads(run) > 0 for run in runs), [downloads(run) for run in runs]
    assert (repo / ".locks").is_dir()  # the resolver's file locks were used
    assert not (repo / ".autopack.lock").exists()
    assert_consistent(repo)
    build_offline(offline, repo)
