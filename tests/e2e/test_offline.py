"""``--offline``: Maven against a local repository that is already filled, with no download.

The tests' repository (``TEST_MAVEN_REPO``) is filled by scripts/setup (scripts/maven-repo
builds these fixtures online once), so this group proves what a user sees after one online
build: the same project builds, and a Spring Boot image runs, with ``--offline``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import docker
import pytest

from tests.conftest import TEST_MAVEN_REPO, autopack, copy_fixture, images_named
from tests.e2e.test_spring_boot import health_of

pytestmark = [pytest.mark.e2e, pytest.mark.maven_offline]


@pytest.fixture(autouse=True)
def filled_repository() -> None:
    if not (TEST_MAVEN_REPO / ".autopack-filled").is_file():
        pytest.fail(f"{TEST_MAVEN_REPO} was not filled: run scripts/setup (scripts/maven-repo) first", pytrace=False)


def offline_build(project: Path, image_name: str, *args: str) -> dict:
    run = autopack("build", project, "--image", image_name, "--offline", "--json", "--plain", *args)
    assert run.returncode == 0, run.stderr
    assert re.search(r"\$ mvn .*--offline", run.stderr)
    maven_log = Path(json.loads(run.stdout)["logs"]["maven"]).read_text()
    assert "Downloading from" not in maven_log
    return json.loads(run.stdout)


def test_hello_service_builds_offline(tmp_path: Path, engine: docker.DockerClient, image_name: str) -> None:
    project = copy_fixture("hello-service", tmp_path)

    offline_build(project, image_name)

    output = engine.containers.run(f"{image_name}:1.0.0", remove=True).decode().strip()
    assert output == '{"service":"hello-service","message":"Hello from autopack"}'


def test_a_reactor_builds_offline(tmp_path: Path, engine: docker.DockerClient, image_name: str) -> None:
    project = copy_fixture("multi-module", tmp_path)

    result = offline_build(project, image_name)

    assert sorted(i["module"] for i in result["images"]) == ["clock", "echo", "greeter"]
    assert images_named(engine, f"{image_name}/clock") == [f"{image_name}/clock:2.1.0"]


def test_a_spring_boot_service_builds_offline_and_runs(tmp_path: Path, engine: docker.DockerClient, image_name: str) -> None:
    project = copy_fixture("spring-boot/web-service", tmp_path)

    offline_build(project, image_name)

    assert health_of(engine, f"{image_name}:1.3.0")["status"] == "UP"


def test_offline_with_an_empty_repository_fails_in_one_line(tmp_path: Path, image_name: str) -> None:
    project = copy_fixture("hello-service", tmp_path)
    empty = tmp_path / "empty-repository"

    run = autopack("build", project, "--image", image_name, "--offline", "--plain", env={"MAVEN_OPTS": f"-Dmaven.repo.local={empty}"})

    assert run.returncode == 4, run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert re.match(r"autopack: error: Maven could not download org\.apache\.maven\.plugins:\S+ \(for plugin \S+\) from central \(https://repo\.maven\.apache\.org/maven2\): offline — ", last), last
    assert f"never downloaded into {empty}" in last
