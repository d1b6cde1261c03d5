"""buildah, the daemonless builder, against real registries on loopback: the base image comes
from a registry (buildah reads no Docker engine), the image is built with the same tags and
labels and pushed by buildah to the first destination and copied to the others; with no
Docker engine at all, ``--engine auto`` picks buildah."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.conftest import BASE_IMAGE, autopack, copy_fixture
from tests.servers.fixtures import B_PASSWORD, B_USER, Registries, registries  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(shutil.which("buildah") is None, reason="buildah is not installed (scripts/setup installs it)")]

HELLO_LINE = '{"service":"hello-service","message":"Hello from autopack"}'


@pytest.fixture
def based(registries: Registries, engine: docker.DockerClient) -> Iterator[tuple[Registries, str]]:  # noqa: F811
    """The three registries, the base image pushed to registry a (nothing can be pulled from elsewhere)."""
    base = registries.a.ref("base/jre", "17")
    engine.images.get(BASE_IMAGE).tag(base)
    for _ in engine.api.push(base, stream=True, decode=True):
        pass
    engine.images.remove(base)
    yield registries, base


def login_env(registry) -> dict[str, str]:
    key = "".join(c if c.isalnum() else "_" for c in registry.host.upper())
    return {f"AUTOPACK_REGISTRY_USER_{key}": B_USER, f"AUTOPACK_REGISTRY_PASSWORD_{key}": B_PASSWORD}


def test_buildah_builds_and_pushes_one_digest_to_every_destination(tmp_path: Path, engine: docker.DockerClient, based, image_name: str) -> None:
    (a, b, c), base = based
    project = copy_fixture("hello-service", tmp_path)
    destinations = [f"{r.host}/team/hello" for r in (b, c)]

    run = autopack("build", project, "--engine", "buildah", "--image", image_name, "--build-arg", f"BASE_IMAGE={base}", "--skip-tests",
                   "--push", destinations[0], "--push", destinations[1], "--json", "--plain", env=login_env(b))

    assert run.returncode == 0, run.stderr
    assert "engine: buildah" in run.stderr
    result = json.loads(run.stdout)
    digests = {d["destination"]: d["digest"] for d in result["destinations"]}
    assert set(digests) == set(destinations) and len(set(digests.values())) == 1
    assert b.manifest_digest("team/hello", "1.0.0") == c.manifest_digest("team/hello", "1.0.0") == next(iter(digests.values()))
    assert B_PASSWORD not in run.stdout + run.stderr
    pulled = f"{c.host}/team/hello:1.0.0"
    engine.images.pull(pulled)
    try:
        image = engine.images.get(pulled)
        assert image.labels["org.opencontainers.image.version"] == "1.0.0"
        assert image.labels["org.opencontainers.image.title"] == "hello-service"
        assert engine.containers.run(pulled, remove=True).decode().strip() == HELLO_LINE
    finally:
        engine.images.remove(pulled, force=True)


def test_without_a_docker_engine_auto_builds_a_run_step_and_pushes_with_buildah(tmp_path: Path, based, image_name: str) -> None:
    """A RUN-less Dockerfile would go to the direct builder (tests/e2e/test_direct.py): this one
    has a RUN step, which only buildah can build without a Docker engine."""
    (a, b, c), base = based
    project = copy_fixture("hello-service", tmp_path)
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("WORKDIR /app\n", "WORKDIR /app\nRUN echo built > /app/built.txt\n"))

    run = autopack("build", project, "--image", image_name, "--build-arg", f"BASE_IMAGE={base}", "--skip-tests", "--push", f"{b.host}/team/daemonless", "--network", "host",
                   "--json", "--plain", env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock", "BUILDAH_ISOLATION": "chroot", **login_env(b)})

    assert run.returncode == 0, run.stderr
    assert "engine: buildah (no Docker engine)" in run.stderr
    assert "the direct builder cannot build this, so buildah does: RUN (line" in run.stderr
    [destination] = json.loads(run.stdout)["destinations"]
    assert destination["status"] == "ok" and destination["digest"] == b.manifest_digest("team/daemonless", "1.0.0")
    assert B_PASSWORD not in run.stdout + run.stderr


def test_a_failing_run_step_under_buildah_names_the_step_and_its_output(tmp_path: Path, based, image_name: str) -> None:
    (a, b, c), base = based
    project = copy_fixture("broken/dockerfile-run-fails", tmp_path)

    run = autopack("build", project, "--engine", "buildah", "--image", image_name, "--build-arg", f"BASE_IMAGE={base}", "--skip-tests", "--network", "host", "--plain",
                   "--log-dir", tmp_path / "logs", env={"BUILDAH_ISOLATION": "chroot"})

    assert run.returncode == 5, run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert re.match(r"autopack: error: image build failed at step \d+/\d+ \(RUN echo .*\): .*exit status 3; its last output: provisioning step fails on purpose —", last), last
    [log] = (tmp_path / "logs").glob("*/image.log")  # beside maven.log
    assert (log.parent / "maven.log").is_file() and "provisioning step fails on purpose" in log.read_text()
