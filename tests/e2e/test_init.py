"""`autopack init` on pom-only projects (``fixtures/pom-only/``), then the real thing: the
installed command writes the Dockerfile, .dockerignore and autopack.toml, `autopack build`
builds them with real Maven on the real engine, and the container runs — an HTTP answer from
the Spring Boot app and the war, the output line of the jars — as a non-root user, with
autopack's labels, under the image name init wrote into autopack.toml (no --image to build).
"""

from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import tarfile
import time
import tomllib
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from tests.conftest import BASE_IMAGE, TEST_MAVEN_REPO, autopack, copy_fixture, remove_images

pytestmark = pytest.mark.e2e

TOMCAT = "10.1.59"


def init(project: Path, *args: str) -> dict:
    run = autopack("init", project, "--json", *args)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def build(project: Path, *args: str) -> dict:
    """`autopack build` with no name or base image given: both come from what init wrote."""
    run = autopack("build", project, "--json", "--plain", *args)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answer(engine: docker.DockerClient, image: str, url: str, environment: dict[str, str], deadline: float = 90.0) -> bytes:
    """Start ``image`` on the host network (this engine has no bridge), wait (bounded) for
    ``url`` to answer 200, and return the body; the container is removed after."""
    container = engine.containers.run(image, detach=True, network_mode="host", environment=environment)
    try:
        give_up = time.monotonic() + deadline
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    return response.read()
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                container.reload()
                if container.status == "exited" or time.monotonic() > give_up:
                    logs = container.logs(tail=40).decode(errors="replace")
                    pytest.fail(f"{image} did not answer {url} within {deadline:.0f} s ({container.status}):\n{logs}")
                time.sleep(0.5)
    finally:
        container.remove(force=True)


def output_of(engine: docker.DockerClient, image: str) -> str:
    return engine.containers.run(image, network_mode="none", remove=True, stderr=False).decode().strip()


def check_image(engine: docker.DockerClient, reference: str, artifact_id: str) -> None:
    config = engine.images.get(reference).attrs["Config"]
    assert config["User"] == "1000:1000"
    assert config["Labels"]["org.opencontainers.image.title"] == artifact_id
    assert config["Labels"]["org.opencontainers.image.version"] == "1.0.0"
    assert config["Labels"]["io.autopack.inputs"].startswith("sha256:")
    assert "-XX:MaxRAMPercentage=75 -XX:+ExitOnOutOfMemoryError" in " ".join(config["Env"])


def test_a_spring_boot_app_goes_init_doctor_plan_build_to_a_running_container(tmp_path: Path, engine: docker.DockerClient, image_name: str) -> None:
    project = copy_fixture("pom-only/boot-app", tmp_path)
    assert not (project / "Dockerfile").exists()

    written = init(project, "--base-image", BASE_IMAGE, "--image", image_name)

    assert [f["path"] for f in written["files"]] == [str(project / n) for n in ("Dockerfile", ".dockerignore", "autopack.toml")]
    assert not any(f["overwritten"] for f in written["files"])
    assert written["services"] == [{"module": "init-boot-app", "path": ".", "kind": "spring-boot", "baseImage": BASE_IMAGE}]
    assert written["next"][-1].startswith("autopack build")
    dockerfile = (project / "Dockerfile").read_text()
    assert f"ARG BASE_IMAGE={BASE_IMAGE}\nFROM ${{BASE_IMAGE}}\nARG ARTIFACT\n" in dockerfile
    assert "ARG LAYERS\n" in dockerfile
    assert not [line for line in dockerfile.splitlines() if line.startswith("RUN")]
    assert "EXPOSE 8080\n" in dockerfile
    assert '# HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["curl", "-fsS", "http://127.0.0.1:8080/actuator/health"]' in dockerfile
    assert dockerfile.rstrip().endswith('ENTRYPOINT ["java", "org.springframework.boot.loader.launch.JarLauncher"]')
    assert tomllib.loads((project / "autopack.toml").read_text()) == {"image": image_name, "tags": ["{version}"]}

    doctor = autopack("doctor", project)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    plan = autopack("plan", project, "--plain")
    assert plan.returncode == 0, plan.stderr
    assert f"→ {image_name}:1.0.0" in plan.stdout + plan.stderr

    result = build(project)

    [image] = result["images"]
    assert image["tags"] == [f"{image_name}:1.0.0"]  # the name init wrote into autopack.toml
    check_image(engine, f"{image_name}:1.0.0", "init-boot-app")
    port = free_port()
    health = answer(engine, f"{image_name}:1.0.0", f"http://127.0.0.1:{port}/actuator/health", {"SERVER_PORT": str(port)})
    assert json.loads(health)["status"] == "UP"
    root = answer(engine, f"{image_name}:1.0.0", f"http://127.0.0.1:{port}/", {"SERVER_PORT": str(port)})
    assert json.loads(root) == {"service": "init-boot-app", "version": "1.0.0"}


def test_a_plain_jar_with_a_dependency_runs_from_its_layers(tmp_path: Path, engine: docker.DockerClient, image_name: str) -> None:
    project = copy_fixture("pom-only/plain-jar", tmp_path)

    written = init(project, "--base-image", BASE_IMAGE, "--image", image_name)

    assert written["services"][0]["kind"] == "jar"
    dockerfile = (project / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["java", "-cp", "/app/resources:/app/classes:/app/libs/*", "com.example.layered.App"]' in dockerfile
    assert "EXPOSE" not in dockerfile  # nothing says it listens
    assert (project / ".dockerignore").read_text().splitlines()[1:] == ["*", "!Dockerfile", "!target/autopack-layers/"]

    built = build(project, "--engine", "direct")  # no engine needed to build it: the Dockerfile has no RUN

    assert built["engine"].startswith("direct") and built["images"][0]["tags"] == [f"{image_name}:1.0.0"]

    check_image(engine, f"{image_name}:1.0.0", "init-plain-jar")
    assert output_of(engine, f"{image_name}:1.0.0") == '{"service":"init-plain-jar","message":"Hello from a plain jar"}'
    # jackson-databind and what it needs came from Maven's runtime classpath, in the image as /app/libs
    libs = engine.containers.run(f"{image_name}:1.0.0", entrypoint=["ls", "/app/libs"], network_mode="none", remove=True).decode().split()
    assert sorted(libs) == ["jackson-annotations-2.17.2.jar", "jackson-core-2.17.2.jar", "jackson-databind-2.17.2.jar"]


def test_in_a_reactor_only_the_service_gets_a_dockerfile_and_its_image_is_named_from_the_toml(tmp_path: Path, engine: docker.DockerClient, image_name: str) -> None:
    project = copy_fixture("pom-only/reactor", tmp_path)

    written = init(project, "--base-image", BASE_IMAGE, "--image", image_name)

    assert [(s["module"], s["kind"]) for s in written["services"]] == [("greeter", "fat-jar")]
    assert {s["module"]: s["why"] for s in written["skipped"]} == {
        "init-reactor": "packaging pom (an aggregator or parent)",
        "lib": "a library: other modules of the reactor depend on it",
    }
    assert not (project / "lib" / "Dockerfile").exists() and not (project / "Dockerfile").exists()
    assert tomllib.loads((project / "autopack.toml").read_text()) == {"image": image_name, "images": {"greeter": "greeter"}, "tags": ["{version}"]}

    result = build(project, "--engine", "docker-api")  # the classic builder, as an engine without BuildKit has

    assert [(i["module"], i["tags"]) for i in result["images"]] == [("greeter", [f"{image_name}/greeter:1.0.0"])]
    check_image(engine, f"{image_name}/greeter:1.0.0", "greeter")
    assert output_of(engine, f"{image_name}/greeter:1.0.0") == '{"service":"greeter","version":"1.0.0","message":"Hello greeter, from lib"}'


def test_a_second_init_refuses_to_overwrite_and_force_overwrites(tmp_path: Path) -> None:
    project = copy_fixture("pom-only/plain-jar", tmp_path)
    init(project)
    names = ("Dockerfile", ".dockerignore", "autopack.toml")
    (project / "Dockerfile").write_text("FROM scratch\n")  # the user's own edit
    before = {n: (project / n).read_bytes() for n in names}

    again = autopack("init", project)

    assert again.returncode == 2
    assert "Dockerfile, " in again.stderr and ".dockerignore, " in again.stderr and "autopack.toml exist already; nothing was written" in again.stderr
    assert "--force" in again.stderr
    assert {n: (project / n).read_bytes() for n in names} == before

    forced = autopack("init", project, "--force")

    assert forced.returncode == 0, forced.stderr
    assert "overwrote " in forced.stdout and "next: autopack doctor" in forced.stdout
    assert (project / "Dockerfile").read_text().startswith("# init-plain-jar: a runnable jar")
    assert (project / "Dockerfile").stat().st_mode & 0o777 == 0o644 & ~_umask()


def test_one_file_there_already_means_none_is_written(tmp_path: Path) -> None:
    project = copy_fixture("pom-only/boot-app", tmp_path)
    (project / ".dockerignore").write_text("target/\n")

    run = autopack("init", project)

    assert run.returncode == 2
    assert ".dockerignore exists already; nothing was written" in run.stderr
    assert not (project / "Dockerfile").exists() and not (project / "autopack.toml").exists()
    assert (project / ".dockerignore").read_text() == "target/\n"


def test_a_project_without_a_service_is_a_usage_error_saying_what_was_looked_for(tmp_path: Path) -> None:
    project = copy_fixture("pom-only/reactor", tmp_path)
    shutil.rmtree(project / "greeter")
    pom = project / "pom.xml"
    pom.write_text(pom.read_text().replace("    <module>greeter</module>\n", ""))

    run = autopack("init", project)

    assert run.returncode == 2
    assert "is a service" in run.stderr and "lib: a jar without a main class" in run.stderr
    assert "spring-boot-maven-plugin" in run.stderr and "packaging war" in run.stderr
    assert list(project.glob("**/Dockerfile")) == [] and not (project / "autopack.toml").exists()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--base-image", "Not An Image"), "--base-image 'Not An Image' is not an image name"),
        (("--image", "UPPER"), "--image 'UPPER' is not an image name: name 'UPPER' has uppercase letters"),
        (("--module", "nope"), "--module nope: no service module is called so"),
    ],
)
def test_bad_options_are_refused_before_anything_is_written(tmp_path: Path, args: tuple[str, ...], said: str) -> None:
    project = copy_fixture("pom-only/plain-jar", tmp_path)

    run = autopack("init", project, *args)

    assert run.returncode == 2
    assert said in run.stderr
    assert not (project / "Dockerfile").exists()


def test_without_a_pom_init_says_so(tmp_path: Path) -> None:
    run = autopack("init", tmp_path)

    assert run.returncode == 2
    assert f"no pom.xml in {tmp_path}" in run.stderr


@pytest.fixture(scope="module")
def tomcat_image(tmp_path_factory: pytest.TempPathFactory, engine: docker.DockerClient) -> Iterator[str]:
    """A servlet base image made here (nothing can be pulled): Tomcat's distribution from
    Maven Central, fetched by Maven, unpacked by a RUN-less Dockerfile onto the Java image,
    laid out as the official tomcat image is (CATALINA_HOME /usr/local/tomcat, owned by root,
    logs/temp/work world-writable, webapps empty, catalina.sh on PATH). Its HTTP port is
    ``-Dhttp.port`` (CATALINA_OPTS), for the host network, and the shutdown port is off."""
    work = tmp_path_factory.mktemp("tomcat")
    fetched = subprocess.run(
        [
            "mvn", "--batch-mode", "-q", "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy",
            f"-Dartifact=org.apache.tomcat:tomcat:{TOMCAT}:tar.gz", f"-DoutputDirectory={work}", f"-Dmaven.repo.local={TEST_MAVEN_REPO}",
        ],
        cwd=work, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if fetched.returncode != 0:
        pytest.skip(f"Tomcat {TOMCAT} could not be fetched from Maven Central: {fetched.stdout[-500:]}{fetched.stderr[-500:]}")
    _repack(work / f"tomcat-{TOMCAT}.tar.gz", work / "context" / "tomcat.tar.gz")
    (work / "context" / "Dockerfile").write_text(
        f"FROM {BASE_IMAGE}\n"
        "ADD tomcat.tar.gz /usr/local/\n"
        "ENV CATALINA_HOME=/usr/local/tomcat PATH=/usr/local/tomcat/bin:/opt/java/bin:/bin:/usr/bin CATALINA_OPTS=-Dhttp.port=8080\n"
        "WORKDIR /usr/local/tomcat\n"
        "EXPOSE 8080\n"
        'CMD ["catalina.sh", "run"]\n'
    )
    repository = f"autopack-test/tomcat-{uuid.uuid4().hex[:8]}"
    engine.images.build(path=str(work / "context"), tag=f"{repository}:10.1", rm=True)
    yield f"{repository}:10.1"
    remove_images(engine, repository)


def _repack(source: Path, dest: Path) -> None:
    """apache-tomcat-X/ as tomcat/, without the sample webapps, modes as the official image's."""
    dest.parent.mkdir(parents=True)
    with tarfile.open(source) as src, tarfile.open(dest, "w:gz") as out:
        for member in src.getmembers():
            relative = member.name.partition("/")[2]
            if relative.startswith("webapps/"):
                continue
            data = src.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
            if relative == "conf/server.xml" and data is not None:
                text = data.decode().replace('<Connector port="8080"', '<Connector port="${http.port}"').replace('<Server port="8005"', '<Server port="-1"')
                data = text.encode()
                member.size = len(data)
            member.name = f"tomcat/{relative}".rstrip("/")
            member.uid = member.gid = 0
            member.uname = member.gname = "root"
            member.mode |= 0o444 | (0o111 if member.isdir() or member.mode & 0o100 else 0)
            if relative.rstrip("/") in ("logs", "temp", "work"):
                member.mode = 0o1777
            out.addfile(member, io.BytesIO(data) if data is not None else None)


def test_a_war_runs_on_a_servlet_container_as_a_non_root_user(tmp_path: Path, engine: docker.DockerClient, image_name: str, tomcat_image: str) -> None:
    project = copy_fixture("pom-only/war", tmp_path)

    written = init(project, "--image", image_name)  # the default base first: for the pom's Java 17

    assert written["services"][0]["baseImage"] == "tomcat:10.1-jre17"
    written = init(project, "--base-image", tomcat_image, "--image", image_name, "--force")
    assert [Path(f["path"]).name for f in written["files"]] == ["Dockerfile", ".dockerignore", "ROOT.xml", "autopack.toml"]
    assert "COPY ${ARTIFACT} /app/ROOT.war\n" in (project / "Dockerfile").read_text()

    build(project)

    check_image(engine, f"{image_name}:1.0.0", "init-war-app")
    port = free_port()
    body = answer(engine, f"{image_name}:1.0.0", f"http://127.0.0.1:{port}/", {"CATALINA_OPTS": f"-Dhttp.port={port}"})
    assert json.loads(body) == {"service": "init-war-app", "message": "Hello from a war"}


def _umask() -> int:
    import os

    current = os.umask(0o022)
    os.umask(current)
    return current


def write_pom(directory: Path, packaging: str, properties: str = "", parent: str = "", plugins: str = "", dependencies: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pom.xml").write_text(
        f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  {parent}
  <groupId>com.example</groupId>
  <artifactId>probe</artifactId>
  <version>1.0.0</version>
  <packaging>{packaging}</packaging>
  <properties>{properties}</properties>
  <dependencies>{dependencies}</dependencies>
  <build><plugins>{plugins}</plugins></build>
</project>
"""
    )
    return directory


BOOT_2 = "<parent><groupId>org.springframework.boot</groupId><artifactId>spring-boot-starter-parent</artifactId><version>2.7.18</version><relativePath/></parent>"
BOOT_PLUGIN = "<plugin><groupId>org.springframework.boot</groupId><artifactId>spring-boot-maven-plugin</artifactId></plugin>"
ASSEMBLY = "<plugin><artifactId>maven-assembly-plugin</artifactId><configuration><archive><manifest><mainClass>${main}</mainClass></manifest></archive></configuration></plugin>"
JAVAX = "<dependency><groupId>javax.servlet</groupId><artifactId>javax.servlet-api</artifactId><version>4.0.1</version><scope>provided</scope></dependency>"


def test_what_the_pom_says_picks_the_launcher_port_base_image_and_form(tmp_path: Path) -> None:
    boot = write_pom(tmp_path / "boot2", "jar", "<java.version>11</java.version>", BOOT_2, BOOT_PLUGIN)
    (boot / "src/main/resources").mkdir(parents=True)
    (boot / "src/main/resources/application.properties").write_text("server.port=${PORT:9090}\n")
    legacy = write_pom(tmp_path / "legacy-war", "war", "<maven.compiler.source>1.8</maven.compiler.source>", dependencies=JAVAX)
    fat = write_pom(tmp_path / "fat", "jar", "<maven.compiler.release>19</maven.compiler.release><main>com.example.Main</main>", plugins=ASSEMBLY)

    assert init(boot)["services"][0] == {"module": "probe", "path": ".", "kind": "spring-boot", "baseImage": "eclipse-temurin:11-jre"}
    dockerfile = (boot / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["java", "org.springframework.boot.loader.JarLauncher"]' in dockerfile  # Boot before 3.2
    assert "EXPOSE 9090\n" in dockerfile and "http://127.0.0.1:9090/" in dockerfile
    assert init(legacy)["services"][0]["baseImage"] == "tomcat:9.0-jre8"  # javax.servlet: Tomcat 9, Java 8
    assert init(fat)["services"][0] == {"module": "probe", "path": ".", "kind": "fat-jar", "baseImage": "eclipse-temurin:21-jre"}
    assert 'ENTRYPOINT ["java", "-cp", "/app/app.jar", "com.example.Main"]' in (fat / "Dockerfile").read_text()
    assert (fat / ".dockerignore").read_text().splitlines()[1:] == ["*", "!Dockerfile", "!target/*.jar"]


def test_in_a_git_working_copy_the_revision_is_a_tag_and_gitlab_names_the_destination(tmp_path: Path) -> None:
    project = copy_fixture("pom-only/plain-jar", tmp_path, as_git=True)

    run = autopack("init", project, env={"CI_REGISTRY_IMAGE": "registry.gitlab.example.com/group/plain"})

    assert run.returncode == 0, run.stderr
    text = (project / "autopack.toml").read_text()
    assert tomllib.loads(text) == {"image": "init-plain-jar", "tags": ["{version}", "{version}-{revision}"]}
    assert '# destinations = ["registry.gitlab.example.com/group/plain"]' in text  # commented: a build pushes only when asked
    plan = autopack("plan", project, "--plain")
    assert plan.returncode == 0, plan.stderr
    revision = subprocess.run(["git", "rev-parse", "--short=8", "HEAD"], cwd=project, capture_output=True, text=True, check=True).stdout.strip()
    assert f"init-plain-jar:1.0.0-{revision}" in plan.stdout + plan.stderr
