"""A remote engine: a second dockerd on a loopback TCP port, reached through ``DOCKER_HOST``
or ``--docker-host``, under both builders. The image is built there and only there, and the
build context sent is what ``.dockerignore`` admits."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.conftest import BASE_IMAGE, autopack, copy_fixture, images_named
from tests.servers.engine import SecondEngine

pytestmark = pytest.mark.e2e

HELLO_LINE = '{"service":"hello-service","message":"Hello from autopack"}'


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory, engine: docker.DockerClient) -> Iterator[docker.DockerClient]:
    if os.geteuid() != 0:
        pytest.skip("starting a second dockerd needs root")
    with SecondEngine(tmp_path_factory.mktemp("second-engine"), BASE_IMAGE) as url:
        client = docker.DockerClient(base_url=url, timeout=60)
        client.url = url  # type: ignore[attr-defined]
        yield client


@pytest.mark.parametrize(("builder", "how"), [("buildkit", "env"), ("docker-api", "option")])
def test_a_build_on_a_remote_engine_lands_there_only(tmp_path: Path, engine: docker.DockerClient, remote: docker.DockerClient, image_name: str, builder: str, how: str) -> None:
    project = copy_fixture("hello-service", tmp_path)
    (project / "notes.bin").write_bytes(os.urandom(8 * 1024 * 1024))  # .dockerignore leaves it out
    where = {"env": ([], {"DOCKER_HOST": remote.url}), "option": (["--docker-host", remote.url], {})}[how]  # type: ignore[attr-defined]

    run = autopack("build", project, "--image", image_name, "--engine", builder, "--plain", "-v", "--skip-tests", "--json", *where[0], env=where[1])

    assert run.returncode == 0, run.stderr
    assert images_named(remote, image_name) == [f"{image_name}:1.0.0"]
    assert images_named(engine, image_name) == []
    assert json.loads(run.stdout)["images"][0]["id"] == remote.images.get(f"{image_name}:1.0.0").id
    assert remote.containers.run(f"{image_name}:1.0.0", remove=True).decode().strip() == HELLO_LINE
    if builder == "buildkit":
        sent = re.findall(r"transferring context: ([\d.]+)(k?B|MB)", run.stderr)
        assert sent and all(unit != "MB" or float(size) < 5 for size, unit in sent), sent
    for image in remote.images.list(name=image_name):
        remote.images.remove(image.id, force=True)
