"""autopack's own CI image (the root Dockerfile), built by scripts/autopack-image.

The build is skipped when the image's input hash label matches the checkout (the script
decides), so only the first run on a machine, or a change to the Dockerfile, pyproject.toml,
README.md or autopack/, pays for apt and pip: minutes on a fresh machine, seconds after."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import docker
import pytest

from tests.conftest import ROOT, TEST_MAVEN_REPO, copy_fixture, remove_images

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SCRIPT = ROOT / "scripts" / "autopack-image"


def _version() -> str:
    import autopack

    return autopack.__version__


@pytest.fixture(scope="module")
def image(engine: docker.DockerClient) -> str:
    completed = subprocess.run(
        [str(SCRIPT)], capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL
    )
    assert completed.returncode == 0, f"scripts/autopack-image failed:\n{completed.stderr[-4000:]}"
    reference = completed.stdout.strip().splitlines()[-1]
    assert reference == f"autopack/autopack:{_version()}"
    return reference


def run_in(engine: docker.DockerClient, image: str, command: str, **kwargs) -> str:
    """`sh -c COMMAND` in a throwaway container without network, the way a CI job runs its
    script; stdout and stderr together, decoded. A non-zero exit fails with the output."""
    try:
        out = engine.containers.run(
            image, ["sh", "-c", command], remove=True, stdout=True, stderr=True,
            **{"network_mode": "none", **kwargs},
        )
    except docker.errors.ContainerError as e:
        pytest.fail(f"{command!r} exited {e.exit_status} in {image}:\n{e.stderr.decode(errors='replace') if e.stderr else ''}")
    return out.decode(errors="replace")


# Every container costs a full copy of the image's ~600 MB on the vfs storage driver (seconds
# each), so all the probes share one container: each command's output under a "== name" line.
PROBES = {
    "autopack": "autopack --version",
    "git": "git --version",
    "svn": "svn --version --quiet",
    "mvn": "mvn -v",
    "java": "java -version",
    "docker": "docker --version",
    "ssh": "ssh -V",
    "pysvn": "python -c 'import pysvn; print(pysvn.__file__, pysvn.version)'",
    "sys.path": "python -c 'import sys; print(sys.path)'",
    "schema": "autopack schema",
}


@pytest.fixture(scope="module")
def probes(engine: docker.DockerClient, image: str) -> dict[str, str]:
    script = " ; ".join(f"echo '== {name}' ; {command} 2>&1 ; echo \"== exit $?\"" for name, command in PROBES.items())
    out = run_in(engine, image, script)
    sections: dict[str, str] = {}
    for chunk in out.split("== ")[1:]:
        name, _, body = chunk.partition("\n")
        if name.startswith("exit "):
            last = list(sections)[-1]
            assert name == "exit 0", f"{PROBES[last]!r} failed in {image}: {name}\n{sections[last]}"
        else:
            sections[name] = body
    assert list(sections) == list(PROBES)
    return sections


def test_autopack_version(probes: dict[str, str]) -> None:
    assert probes["autopack"].strip() == f"autopack {_version()}"


def test_default_command_is_help(engine: docker.DockerClient, image: str) -> None:
    config = engine.images.get(image).attrs["Config"]
    assert config["Cmd"] == ["autopack", "--help"]
    assert not config.get("Entrypoint")  # CI systems run `sh -c <script>` in the image
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == _version()
    assert labels["org.opencontainers.image.title"] == "autopack"
    assert labels["io.autopack.image.inputs"]


@pytest.mark.parametrize(
    ("probe", "expected"),
    [
        ("git", "git version 2."),
        ("svn", "1."),
        ("mvn", "Apache Maven 3."),
        ("java", 'version "17.'),
        ("docker", "Docker version"),
        ("ssh", "OpenSSH"),
    ],
)
def test_tools(probes: dict[str, str], probe: str, expected: str) -> None:
    assert expected in probes[probe]


def test_pysvn_is_debians_and_nothing_else_leaks(probes: dict[str, str]) -> None:
    assert probes["pysvn"].startswith("/opt/autopack/debian-pysvn/pysvn/")  # the .pth link to python3-svn
    assert "dist-packages" not in probes["sys.path"]  # a plain venv, no --system-site-packages


def test_packaged_data_is_installed(probes: dict[str, str]) -> None:
    # A non-editable install: files outside *.py reach the image only as package data.
    assert '"$schema"' in probes["schema"]


def _local_socket() -> str | None:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    return host.removeprefix("unix://") if host.startswith("unix://") else None


def test_builds_a_service_through_the_mounted_socket(
    engine: docker.DockerClient, image: str, tmp_path: Path
) -> None:
    """What a CI job does with the image: the engine's socket mounted, the checkout as the
    working directory, `autopack build` — Maven offline from the tests' local repository,
    which scripts/setup filled (the engine has no bridge network for the container)."""
    socket = _local_socket()
    if socket is None:
        pytest.skip("needs the engine on a local unix socket")
    assert (TEST_MAVEN_REPO / "org/apache/maven/plugins/maven-shade-plugin").is_dir(), "run scripts/setup: it fills the tests' Maven repository"
    project = copy_fixture("hello-service", tmp_path)
    repository = f"autopack-test/in-image-{uuid.uuid4().hex[:8]}"
    try:
        out = run_in(
            engine, image,
            f"docker version --format 'server {{{{.Server.Version}}}}' && autopack build --plain --image {repository}",
            volumes={
                socket: {"bind": "/var/run/docker.sock", "mode": "rw"},
                str(project): {"bind": "/workspace/hello-service", "mode": "rw"},
                str(TEST_MAVEN_REPO): {"bind": "/root/.m2/repository", "mode": "rw"},
            },
            working_dir="/workspace/hello-service",
            environment={"AUTOPACK_OFFLINE": "1", "CI": "true"},
        )
        assert "server " in out
        assert [t for i in engine.images.list(name=repository) for t in i.tags] == [f"{repository}:1.0.0"]
    finally:
        remove_images(engine, repository)
        # The container ran as root: hand the tree back before pytest removes tmp_path.
        shutil.rmtree(project / "target", ignore_errors=True)
