"""The file in the image is the one Maven built for it, end to end with real Maven: a shaded
jar attached beside the thin one, a war, and two candidates that stop the run before the
image stage. (Spring Boot's forms: test_spring_boot.py; a finalName from a profile in
.mvn/maven.config: test_maven_setup.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import docker
import pytest

from tests.conftest import autopack, copy_fixture, images_named

pytestmark = pytest.mark.e2e

HELLO_LINE = '{"service":"hello-service","message":"Hello from autopack"}'


def attach_shaded(project: Path) -> None:
    pom = project / "pom.xml"
    pom.write_text(pom.read_text().replace("<createDependencyReducedPom>", "<shadedArtifactAttached>true</shadedArtifactAttached>\n              <createDependencyReducedPom>", 1))


def test_a_shaded_jar_attached_beside_the_thin_one_is_the_one_that_runs(tmp_path: Path, engine: docker.DockerClient, image_name: str) -> None:
    project = copy_fixture("hello-service", tmp_path)
    attach_shaded(project)

    run = autopack("build", project, "--image", image_name, "--json", "--plain")

    assert run.returncode == 0, run.stderr
    assert Path(json.loads(run.stdout)["images"][0]["artifact"]).name == "hello-service-1.0.0-shaded.jar"
    assert (project / "target" / "hello-service-1.0.0.jar").is_file()
    assert engine.containers.run(f"{image_name}:1.0.0", remove=True).decode().strip() == HELLO_LINE


WAR_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.example</groupId><artifactId>orders-web</artifactId><version>3.1.0</version><packaging>war</packaging>
  <properties>
    <maven.compiler.release>17</maven.compiler.release>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
  <build>
    <plugins>
      <plugin><artifactId>maven-clean-plugin</artifactId><version>3.3.2</version></plugin>
      <plugin><artifactId>maven-resources-plugin</artifactId><version>3.3.1</version></plugin>
      <plugin><artifactId>maven-compiler-plugin</artifactId><version>3.13.0</version></plugin>
      <plugin><artifactId>maven-surefire-plugin</artifactId><version>3.2.5</version></plugin>
      <plugin><artifactId>maven-war-plugin</artifactId><version>3.4.0</version></plugin>
    </plugins>
  </build>
</project>
"""

WAR_DOCKERFILE = """ARG BASE_IMAGE=autopack/jre:17
FROM ${BASE_IMAGE}
ARG ARTIFACT
COPY ${ARTIFACT} /srv/webapps/ROOT.war
CMD ["sh", "-c", "cd /tmp && jar xf /srv/webapps/ROOT.war WEB-INF/classes/com/example/Orders.class && ls WEB-INF/classes/com/example"]
"""


def test_a_war_is_the_artifact_of_war_packaging(tmp_path: Path, engine: docker.DockerClient, image_name: str) -> None:
    project = tmp_path / "orders-web"
    (project / "src/main/java/com/example").mkdir(parents=True)
    (project / "src/main/java/com/example/Orders.java").write_text("package com.example;\npublic class Orders {}\n")
    (project / "src/main/webapp/WEB-INF").mkdir(parents=True)
    (project / "src/main/webapp/WEB-INF/web.xml").write_text('<web-app xmlns="https://jakarta.ee/xml/ns/jakartaee" version="6.0"/>\n')
    (project / "pom.xml").write_text(WAR_POM)
    (project / "Dockerfile").write_text(WAR_DOCKERFILE)

    run = autopack("build", project, "--image", image_name, "--json", "--plain")

    assert run.returncode == 0, run.stderr
    assert Path(json.loads(run.stdout)["images"][0]["artifact"]).name == "orders-web-3.1.0.war"
    assert images_named(engine, image_name) == [f"{image_name}:3.1.0"]


ASSEMBLY = """
      <plugin>
        <artifactId>maven-assembly-plugin</artifactId>
        <version>3.7.1</version>
        <configuration><descriptorRefs><descriptorRef>jar-with-dependencies</descriptorRef></descriptorRefs>
          <archive><manifest><mainClass>com.example.hello.App</mainClass></manifest></archive></configuration>
        <executions><execution><phase>package</phase><goals><goal>single</goal></goals></execution></executions>
      </plugin>
    </plugins>
  </build>"""


def test_two_candidates_stop_the_run_before_the_image_and_an_artifact_pattern_chooses(tmp_path: Path, engine: docker.DockerClient, image_name: str) -> None:
    """The shaded jar attached, and an assembly beside it: either could be meant."""
    project = copy_fixture("hello-service", tmp_path)
    attach_shaded(project)
    pom = project / "pom.xml"
    pom.write_text(pom.read_text().replace("    </plugins>\n  </build>", ASSEMBLY, 1))

    refused = autopack("build", project, "--image", image_name, "--plain", "--result-file", tmp_path / "r.json")

    assert refused.returncode == 4, refused.stderr
    last = refused.stderr.strip().splitlines()[-1]
    assert "hello-service: Maven built 2 files that could go in the image: target/hello-service-1.0.0-shaded.jar, target/hello-service-1.0.0-jar-with-dependencies.jar" in last
    assert "--artifact 'target/hello-service-1.0.0-jar-with-dependencies.jar'" in last
    assert images_named(engine, image_name) == []
    assert [s["name"] for s in json.loads((tmp_path / "r.json").read_text())["stages"]] == ["source", "plan", "maven"]

    (project / "autopack.toml").write_text('artifacts = { hello-service = "target/*-jar-with-dependencies.jar" }\n')
    chosen = autopack("build", project, "--image", image_name, "--json", "--plain")

    assert chosen.returncode == 0, chosen.stderr
    assert Path(json.loads(chosen.stdout)["images"][0]["artifact"]).name == "hello-service-1.0.0-jar-with-dependencies.jar"
    assert engine.containers.run(f"{image_name}:1.0.0", remove=True).decode().strip() == HELLO_LINE
