"""Shared fixtures: the installed ``autopack`` command, the real Docker engine, fixture
projects copied into tmp_path (optionally as git repositories), and a session that never
touches the user's own logs, caches or Docker credentials."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
AUTOPACK = Path(sys.executable).parent / "autopack"
BASE_IMAGE = os.environ.get("AUTOPACK_BASE_IMAGE", "autopack/jre:17")
# The tests' Maven local repository: filled online as the tests need it, and by scripts/setup
# (scripts/maven-repo) with everything the offline group needs.
TEST_MAVEN_REPO = Path(os.environ.get("AUTOPACK_TEST_MAVEN_REPO") or Path.home() / ".cache/autopack-test/m2").resolve()


@pytest.fixture(scope="session", autouse=True)
def isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Logs, caches and the Docker client config go to a temporary tree for the whole run.
    Maven runs online, as a user's does, into the tests' own local repository
    (``TEST_MAVEN_REPO``), never the user's ~/.m2."""
    base = tmp_path_factory.mktemp("user")
    patch = pytest.MonkeyPatch()
    for name in ("XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        patch.setenv(name, str(base / name.lower()))
    patch.setenv("DOCKER_CONFIG", str(base / "docker-config"))
    patch.setenv("MAVEN_OPTS", f"-Dmaven.repo.local={TEST_MAVEN_REPO}")
    patch.delenv("AUTOPACK_OFFLINE", raising=False)
    # Every test builds what it asks for: many build the same fixture, which the inputs-digest
    # skip would otherwise reuse across tests. tests/e2e/test_unchanged.py turns it off.
    patch.setenv("AUTOPACK_FORCE", "1")
    for name in ("CI", "GITLAB_CI", "JENKINS_URL", "BUILD_NUMBER", "CI_PIPELINE_IID", "NO_COLOR", "FORCE_COLOR"):
        patch.delenv(name, raising=False)
    yield base
    patch.undo()


@pytest.fixture(scope="module", autouse=True)
def engine_space() -> Iterator[None]:
    """Each test module gives the engine back what it made: the containers and images (dangling
    ones too) that appeared while it ran, and the builder's cache. On the vfs storage driver
    every layer is a whole copy, and a suite's worth of them filled a CI machine's disk. What
    was there before the module (the base image, autopack's own image) stays."""
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except docker.errors.DockerException:
        yield  # no engine: nothing of it to give back
        return
    containers = {c.id for c in client.containers.list(all=True)}
    images = {i.id for i in client.images.list(all=True)}
    yield
    try:
        for container in client.containers.list(all=True):
            if container.id not in containers:
                container.remove(force=True)
        made = [i for i in client.images.list(all=True) if i.id not in images]
        for image in sorted(made, key=lambda i: i.attrs.get("Created", ""), reverse=True):  # children before their parents
            try:
                client.images.remove(image.id, force=True)
            except docker.errors.APIError:
                pass  # gone with its child, or still another's parent: the next module's turn
        client.api.prune_builds(all=True)
    except docker.errors.DockerException as e:
        print(f"engine_space: could not give back the engine's space: {e}", file=sys.stderr)
    finally:
        client.close()


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as e:
        pytest.fail(f"no Docker engine answers ({e}); run scripts/test, which starts one", pytrace=False)
    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"base image {BASE_IMAGE} is missing; run scripts/base-image", pytrace=False)
    return client


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def autopack(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 600) -> Run:
    """Run the installed console script, the way a user does. Every result object the run
    produced (--json on stdout, --result-file) is validated against `autopack schema`."""
    assert AUTOPACK.exists(), f"autopack is not installed next to {sys.executable}"
    completed = subprocess.run(
        [str(AUTOPACK), *map(str, args)],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    # Decoded by hand: text mode would turn a "\r" (a redraw, a GitLab section marker) into "\n".
    run = Run(completed.returncode, completed.stdout.decode("utf-8", "replace"), completed.stderr.decode("utf-8", "replace"))
    _validate_results([str(a) for a in args], run, cwd)
    return run


def result_schema(kind: str = "result") -> dict:
    """``autopack schema`` (``--plan``: the plan object's), as the installed command prints it."""
    if kind not in _SCHEMAS:
        completed = subprocess.run([str(AUTOPACK), "schema", *(["--plan"] if kind == "plan" else [])], capture_output=True, text=True, check=True)
        _SCHEMAS[kind] = json.loads(completed.stdout)
    return _SCHEMAS[kind]


_SCHEMAS: dict[str, dict] = {}


def _validate_results(args: list[str], run: Run, cwd: Path | None) -> None:
    if not args or args[0] not in ("build", "checkout", "push", "plan"):
        return
    documents = []
    if "--json" in args and run.stdout.strip():
        documents.append(json.loads(run.stdout))
    if "--result-file" in args:
        path = Path(args[args.index("--result-file") + 1])
        path = path if path.is_absolute() or cwd is None else cwd / path
        if path.exists():
            documents.append(json.loads(path.read_text()))
    for document in documents:
        jsonschema.validate(document, result_schema("plan" if document.get("kind") == "autopack-plan" else "result"))


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Ada Tester",
        "GIT_AUTHOR_EMAIL": "ada@example.com",
        "GIT_COMMITTER_NAME": "Ada Tester",
        "GIT_COMMITTER_EMAIL": "ada@example.com",
        "GIT_CONFIG_GLOBAL": "/dev/null",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def copy_fixture(name: str, dest: Path, *, as_git: bool = False, branch: str = "main") -> Path:
    """A fresh copy of ``fixtures/<name>`` (never built in place), optionally committed to a
    new git repository on ``branch``."""
    project = dest / Path(name).name
    shutil.copytree(FIXTURES / name, project, ignore=shutil.ignore_patterns("target"))
    if as_git:
        git(project, "init", "-q", "-b", branch)
        git(project, "add", "-A")
        git(project, "commit", "-q", "-m", "fixture [bold]markup[/bold] stays literal")
    return project


@pytest.fixture
def image_name(engine: docker.DockerClient) -> Iterator[str]:
    """A repository name unique to the test; every image tagged with it is removed after."""
    name = f"autopack-test/{uuid.uuid4().hex[:10]}"
    yield name
    remove_images(engine, name)


def remove_images(engine: docker.DockerClient, repository: str) -> None:
    for image in engine.images.list(name=repository):
        try:
            engine.images.remove(image.id, force=True)
        except docker.errors.APIError:
            pass


def images_named(engine: docker.DockerClient, repository: str) -> list[str]:
    return sorted(tag for image in engine.images.list(name=repository) for tag in image.tags)
