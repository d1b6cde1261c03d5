"""Real-world Spring Boot 3 services, built online from Maven Central by the installed command
into images whose containers answer UP on /actuator/health:

- ``spring-boot/web-service``: version ``${revision}`` from ``.mvn/maven.config``, the jar
  repackaged in place (Boot leaves ``*.jar.original`` beside it);
- ``spring-boot/exec-classifier``: the runnable jar is the ``-exec`` one, not the thin main jar;
- ``spring-boot/reactor``: a library and two services, one image each;
- ``maven-wrapper``: built by its own ``./mvnw`` (Maven 3.9, downloaded by the wrapper).
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.conftest import autopack, copy_fixture, images_named

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def health_of(engine: docker.DockerClient, image: str, deadline: float = 90.0) -> dict[str, Any]:
    """Start ``image`` on the host network with a free ``SERVER_PORT``, wait (bounded) for
    /actuator/health to answer, stop the container, and return what it said, with ``/``'s
    answer under ``"root"``."""
    port = free_port()
    container = engine.containers.run(image, detach=True, network_mode="host", environment={"SERVER_PORT": str(port)})
    try:
        give_up = time.monotonic() + deadline
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/actuator/health", timeout=5) as answer:
                    health = json.loads(answer.read())
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                    return {**health, "root": json.loads(answer.read())}
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                container.reload()
                if container.status == "exited" or time.monotonic() > give_up:
                    logs = container.logs(tail=30).decode(errors="replace")
                    pytest.fail(f"{image} did not answer on /actuator/health within {deadline:.0f} s ({container.status}):\n{logs}")
                time.sleep(0.5)
    finally:
        container.remove(force=True)


def build(project: Path, image_name: str, *args: str) -> dict[str, Any]:
    run = autopack("build", project, "--image", image_name, "--json", "--plain", *args)
    assert run.returncode == 0, run.stderr
    return {"result": json.loads(run.stdout), "stderr": run.stderr}


def test_a_repackaged_service_with_its_version_in_maven_config_runs(tmp_path: Path, engine: docker.DockerClient, image_name: str) -> None:
    project = copy_fixture("spring-boot/web-service", tmp_path)

    built = build(project, image_name)

    [image] = built["result"]["images"]
    assert built["result"]["project"]["version"] == "1.3.0"
    assert Path(image["artifact"]).name == "boot-web-service-1.3.0.jar"
    assert (project / "target" / "boot-web-service-1.3.0.jar.original").is_file()
    assert images_named(engine, image_name) == [f"{image_name}:1.3.0"]
    health = health_of(engine, f"{image_name}:1.3.0")
    assert health["status"] == "UP"
    assert health["root"]["service"] == "boot-web-service"


def test_the_exec_classifier_jar_is_the_one_in_the_image(tmp_path: Path, engine: docker.DockerClient, image_name: str) -> None:
    project = copy_fixture("spring-boot/exec-classifier", tmp_path)

    built = build(project, image_name)

    [image] = built["result"]["images"]
    assert Path(image["artifact"]).name == "boot-exec-service-1.0.0-exec.jar"
    assert (project / "target" / "boot-exec-service-1.0.0.jar").is_file()  # the thin one is there too
    assert health_of(engine, f"{image_name}:1.0.0")["status"] == "UP"


def test_a_spring_boot_reactor_gives_one_running_image_per_service(tmp_path: Path, engine: docker.DockerClient, image_name: str) -> None:
    project = copy_fixture("spring-boot/reactor", tmp_path)

    built = build(project, image_name)

    images = {i["module"]: i for i in built["result"]["images"]}
    assert sorted(images) == ["billing-service", "orders-service"]
    for module, image in images.items():
        assert Path(image["artifact"]).name == f"{module}-2.0.0.jar"
        health = health_of(engine, f"{image_name}/{module}:2.0.0")
        assert health["status"] == "UP", module
        assert health["root"]["service"] == module


def test_a_project_with_the_maven_wrapper_is_built_by_it(tmp_path: Path, engine: docker.DockerClient, image_name: str) -> None:
    project = copy_fixture("maven-wrapper", tmp_path)
    assert (project / "mvnw").stat().st_mode & 0o111, "copy_fixture keeps mvnw executable"

    built = build(project, image_name, "--maven-arg=--show-version")

    assert "$ ./mvnw --batch-mode" in built["stderr"]
    maven_log = Path(built["result"]["logs"]["maven"]).read_text()
    assert "Apache Maven 3.9." in maven_log, maven_log[:2000]  # the wrapper's Maven, not the machine's 3.8
    assert health_of(engine, f"{image_name}:1.0.0")["status"] == "UP"
