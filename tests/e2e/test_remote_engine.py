"""A remote engine: a second dockerd on a loopback TCP port, reached through ``DOCKER_HOST``
or ``--docker-host``, under both builders. The image is built there and only there, and the
build context sent is what ``.dockerignore`` admits. The same engine behind a real sshd on
loopback (``ssh://root@127.0.0.1:PORT``, the session's ``DOCKER_HOST`` pointing at it): the
docker CLI and the docker SDK reach it through the ssh client, never the real ``~/.ssh``."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.conftest import BASE_IMAGE, autopack, copy_fixture, images_named
from tests.servers.engine import SecondEngine
from tests.servers.sshd import SSHD, Sshd

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


@pytest.fixture(scope="module")
def over_ssh(tmp_path_factory: pytest.TempPathFactory, remote: docker.DockerClient) -> Iterator[Sshd]:
    """sshd on loopback whose sessions' DOCKER_HOST is the second engine's (not the main one's)."""
    if not os.access(SSHD, os.X_OK):
        pytest.fail(f"{SSHD} is missing: scripts/setup installs openssh-server", pytrace=False)
    with Sshd(tmp_path_factory.mktemp("sshd"), env={"DOCKER_HOST": remote.url}) as sshd:  # type: ignore[attr-defined]
        yield sshd


def ssh_dir_state() -> object:
    """The real ~/.ssh as the tests found it: whether it exists, its files and their sizes and times."""
    home = Path.home() / ".ssh"
    if not home.is_dir():
        return None
    return sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in home.iterdir())


def ssh_clients(port: int) -> list[str]:
    """ssh clients to the test's sshd still running (the wrapper's exec of /usr/bin/ssh)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            words = [w.decode(errors="replace") for w in (proc / "cmdline").read_bytes().split(b"\0") if w]
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z" and any(os.path.basename(w) == "ssh" for w in words[:2]) and str(port) in words:
            found.append(" ".join(words))
    return found


@pytest.mark.parametrize("how", ["env", "option"])
@pytest.mark.parametrize("builder", ["buildkit", "docker-api"])
def test_a_build_on_an_engine_over_ssh_lands_there_only(tmp_path: Path, engine: docker.DockerClient, remote: docker.DockerClient, over_ssh: Sshd, image_name: str, builder: str, how: str) -> None:
    project = copy_fixture("hello-service", tmp_path)
    where = {"env": ([], {"DOCKER_HOST": over_ssh.url}), "option": (["--docker-host", over_ssh.url], {})}[how]
    accepted_before = over_ssh.log().count("Accepted publickey for root")
    ssh_before = ssh_dir_state()

    run = autopack("build", project, "--image", image_name, "--engine", builder, "--plain", "-v", "--skip-tests", "--json", *where[0], env={**over_ssh.client_env, **where[1]})

    assert run.returncode == 0, run.stderr + over_ssh.log()[-3000:]
    assert f"engine: {builder} (Docker engine " in run.stderr, run.stderr
    assert images_named(remote, image_name) == [f"{image_name}:1.0.0"]
    assert images_named(engine, image_name) == []
    assert json.loads(run.stdout)["images"][0]["id"] == remote.images.get(f"{image_name}:1.0.0").id
    assert remote.containers.run(f"{image_name}:1.0.0", remove=True).decode().strip() == HELLO_LINE
    # It went through this sshd, with the test's key, and left the user's own ssh files alone.
    assert over_ssh.log().count("Accepted publickey for root") > accepted_before
    assert ssh_dir_state() == ssh_before
    # Every connection the run opened is closed: no ssh client and no session left.
    deadline = time.monotonic() + 10
    while (ssh_clients(over_ssh.port or 0) or over_ssh.sessions()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ssh_clients(over_ssh.port or 0) == [], "an ssh client of the run outlived it"
    assert over_ssh.sessions() == [], "a session of the run stayed open on the server"
    for image in remote.images.list(name=image_name):
        remote.images.remove(image.id, force=True)
