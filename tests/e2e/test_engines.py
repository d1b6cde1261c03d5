"""Every builder behind the engine seam, against the real engine on this machine: BuildKit
through the docker CLI (the default) and the Engine API's classic builder. The same fixture
gives an image with every tag and label that runs; a failing RUN names its step and its last
output; BuildKit's cache and secret mounts work, and a secret reaches no layer, no history
and no output. (Ctrl-C under each builder: test_interrupt.py.)"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
import uuid
from pathlib import Path

import docker
import pytest

from tests.conftest import BASE_IMAGE, autopack, copy_fixture, images_named

pytestmark = pytest.mark.e2e

HELLO_LINE = '{"service":"hello-service","message":"Hello from autopack"}'
BUILDERS = ["buildkit", "docker-api"]


@pytest.mark.parametrize("builder", BUILDERS)
def test_every_builder_gives_the_same_tags_labels_and_a_running_image(tmp_path: Path, engine: docker.DockerClient, image_name: str, builder: str) -> None:
    project = copy_fixture("hello-service", tmp_path)

    run = autopack("build", project, "--image", image_name, "-t", "{version}", "-t", "latest", "--engine", builder, "--json", "--plain", "--skip-tests")

    assert run.returncode == 0, run.stderr
    assert f"engine: {builder} (Docker engine " in run.stderr
    assert images_named(engine, image_name) == [f"{image_name}:1.0.0", f"{image_name}:latest"]
    image = engine.images.get(f"{image_name}:1.0.0")
    ours = {k: v for k, v in image.labels.items() if k.startswith("org.opencontainers.")}
    assert sorted(ours) == [f"org.opencontainers.image.{k}" for k in ("created", "source", "title", "version")]
    assert json.loads(run.stdout)["images"][0]["labels"] == image.labels
    assert engine.containers.run(f"{image_name}:latest", remove=True).decode().strip() == HELLO_LINE
    label_steps = [h for h in image.history() if "LABEL" in (h.get("CreatedBy") or "")]
    assert len(label_steps) <= 1, "the labels are one step at most, not one each"


@pytest.mark.parametrize(("builder", "step"), [("buildkit", r"2/4 \(RUN echo .*\)"), ("docker-api", "3/10")])
def test_a_failing_run_names_its_step_and_last_output_under_every_builder(tmp_path: Path, image_name: str, builder: str, step: str) -> None:
    project = copy_fixture("broken/dockerfile-run-fails", tmp_path)

    run = autopack("build", project, "--image", image_name, "--engine", builder, "--plain", "--skip-tests", "--log-dir", tmp_path / "logs", "--result-file", tmp_path / "r.json")

    assert run.returncode == 5, run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert re.match(rf"autopack: error: image build failed at step {step}: .*(exit code: 3|non-zero code: 3); its last output: provisioning step fails on purpose", last), last
    # The whole build output is kept beside the Maven log, and the result names the file.
    log = Path(json.loads((tmp_path / "r.json").read_text())["logs"]["image"])
    assert log.parent == Path(json.loads((tmp_path / "r.json").read_text())["logs"]["maven"]).parent
    assert "provisioning step fails on purpose" in log.read_text() and "RUN" in log.read_text()


CACHE_DOCKERFILE = """ARG BASE_IMAGE=autopack/jre:17
FROM ${BASE_IMAGE}
ARG ARTIFACT
ARG BUST
RUN --mount=type=cache,target=/root/.m2 sh -c 'echo "$BUST" >> /root/.m2/runs; wc -l < /root/.m2/runs > /cache-runs'
COPY ${ARTIFACT} /app/app.jar
CMD ["sh", "-c", "cat /cache-runs; test ! -e /root/.m2/runs && echo not-in-the-image"]
"""


def test_a_cache_mount_persists_between_builds_and_stays_out_of_the_image(tmp_path: Path, engine: docker.DockerClient, image_name: str) -> None:
    project = copy_fixture("hello-service", tmp_path)
    (project / "Dockerfile").write_text(CACHE_DOCKERFILE)

    first = autopack("build", project, "--image", image_name, "--plain", "--skip-tests", "--build-arg", f"BUST={uuid.uuid4()}")
    second = autopack("build", project, "--image", image_name, "--plain", "--skip-tests", "--build-arg", f"BUST={uuid.uuid4()}")

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    lines = engine.containers.run(f"{image_name}:1.0.0", remove=True).decode().split()
    assert int(lines[0]) >= 2, "the second build saw the first one's cache"
    assert lines[1] == "not-in-the-image"


SECRET_VALUE = "s3cr3t-maven-deploy-password-4711"
SECRET_DOCKERFILE = """ARG BASE_IMAGE=autopack/jre:17
FROM ${BASE_IMAGE}
ARG ARTIFACT
RUN --mount=type=secret,id=maven grep -c '<password>' /run/secrets/maven > /secret-seen
COPY ${ARTIFACT} /app/app.jar
CMD ["cat", "/secret-seen"]
"""


def test_a_build_secret_is_used_and_reaches_no_layer_history_or_output(tmp_path: Path, engine: docker.DockerClient, image_name: str) -> None:
    project = copy_fixture("hello-service", tmp_path)
    (project / "Dockerfile").write_text(SECRET_DOCKERFILE)
    settings = tmp_path / "settings.xml"
    settings.write_text(f"<settings><servers><server><id>corp</id><password>{SECRET_VALUE}</password></server></servers></settings>\n")

    run = autopack("build", project, "--image", image_name, "--secret", f"id=maven,src={settings}", "--plain", "-v", "--skip-tests",
                   "--json", "--result-file", tmp_path / "result.json")

    assert run.returncode == 0, run.stderr
    assert engine.containers.run(f"{image_name}:1.0.0", remove=True).decode().strip() == "1"
    history = engine.api.history(f"{image_name}:1.0.0")
    assert SECRET_VALUE not in json.dumps(history)
    saved = io.BytesIO(b"".join(engine.images.get(f"{image_name}:1.0.0").save()))
    with tarfile.open(fileobj=saved) as image_tar:
        for member in image_tar.getmembers():
            if member.isfile() and member.name.endswith(".tar"):
                layer = image_tar.extractfile(member)
                assert layer is not None
                with tarfile.open(fileobj=io.BytesIO(layer.read())) as layer_tar:
                    for entry in layer_tar.getmembers():
                        data = layer_tar.extractfile(entry).read() if entry.isfile() else b""  # type: ignore[union-attr]
                        assert SECRET_VALUE.encode() not in data, f"{member.name}: {entry.name}"
    assert SECRET_VALUE not in run.stdout + run.stderr + (tmp_path / "result.json").read_text()


def test_a_secret_is_refused_by_the_classic_builder_and_a_missing_one_before_maven(tmp_path: Path, image_name: str) -> None:
    project = copy_fixture("hello-service", tmp_path)
    (project / "Dockerfile").write_text(SECRET_DOCKERFILE)
    settings = tmp_path / "settings.xml"
    settings.write_text("<settings/>\n")

    classic = autopack("build", project, "--image", image_name, "--engine", "docker-api", "--secret", f"id=maven,src={settings}", "--plain", "--skip-tests")
    missing = autopack("build", project, "--image", image_name, "--secret", f"id=maven,src={tmp_path / 'nowhere.xml'}", "--plain")
    malformed = autopack("build", project, "--image", image_name, "--secret", "maven", "--plain")

    assert classic.returncode == 2, classic.stderr
    assert "build secrets (maven) need BuildKit" in classic.stderr.strip().splitlines()[-1]
    assert missing.returncode == 2 and f"--secret id=maven: no file at {tmp_path / 'nowhere.xml'}" in missing.stderr
    assert "--- Maven ---" not in missing.stderr
    assert malformed.returncode == 2 and "--secret expects id=NAME,src=FILE, got 'maven'" in malformed.stderr


@pytest.mark.parametrize("builder", ["buildkit", "docker-api"])
def test_an_artifact_of_the_same_size_and_time_is_never_taken_for_the_last_one(tmp_path: Path, engine: docker.DockerClient, image_name: str, builder: str) -> None:
    """A reproducible jar (``project.build.outputTimestamp``) has the same file time every
    build, and a one-line change often keeps its size: BuildKit's context transfer, which
    compares time and size, would keep the jar it was sent the last time — and build the old
    code. autopack gives the artifact (and the staged layers) the build's time first."""
    from autopack.engine import BuildRequest, Engine
    from autopack.image.dockerfile import inspect_dockerfile

    context = tmp_path / "context"
    (context / "target").mkdir(parents=True)
    (context / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nARG ARTIFACT\nCOPY ${{ARTIFACT}} /app/app.jar\n")
    artifact = context / "target" / "app.jar"
    seen = []
    for content in (b"first build!", b"second one!!"):  # the same size
        artifact.write_bytes(content)
        os.utime(artifact, (1767225600, 1767225600))  # the same time: 2026-01-01, as the pom says
        request = BuildRequest(inspect_dockerfile(context, None), (f"{image_name}:t",), {"ARTIFACT": "target/app.jar"})
        Engine(builder).build(request, lambda event: None)
        seen.append(_file_in(engine, f"{image_name}:t", "/app/app.jar"))
    assert seen == [b"first build!", b"second one!!"]


def _file_in(engine: docker.DockerClient, image: str, path: str) -> bytes:
    """A file of ``image``, read from a created (never started) container: no run, no log to race."""
    container = engine.containers.create(image, network_mode="none")
    try:
        stream, _ = container.get_archive(path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
            member = archive.extractfile(archive.getmembers()[0])
            assert member is not None
            return member.read()
    finally:
        container.remove(force=True)
