"""Maven's own configuration and environment, end to end: the installed command, real Maven
(online unless a test says otherwise), the real engine.

- ``.mvn/maven.config``, ``.mvn/jvm.config`` and ``.mvn/extensions.xml`` (fixtures/maven-config);
- a ``-s`` settings file whose mirror Maven downloads through and whose profile's property
  names the jar;
- the environment Maven and the project's tests get: without autopack's credentials,
  with ``--maven-env NAME``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import docker
import pytest

from tests.conftest import TEST_MAVEN_REPO, autopack, copy_fixture, images_named
from tests.servers.maven_repo import MavenRepo

pytestmark = pytest.mark.e2e


def test_maven_config_sets_the_version_profile_and_final_name(tmp_path: Path, engine: docker.DockerClient, image_name: str) -> None:
    """The project's version is ``${revision}`` from .mvn/maven.config, its jar's name comes
    from a property of a profile that maven.config activates, and an extension of
    .mvn/extensions.xml defines a property the jar's manifest uses. Today's Maven honours
    all of it; so must the model autopack reads before Maven runs."""
    project = copy_fixture("maven-config", tmp_path)

    run = autopack("build", project, "--image", image_name, "--json", "--plain")

    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["project"]["version"] == "4.5.6"
    assert Path(result["images"][0]["artifact"]).name == "maven-config-app-container.jar"
    assert images_named(engine, image_name) == [f"{image_name}:4.5.6"]
    assert ".mvn/maven.config: -Drevision=4.5.6 -Pcontainer" in run.stderr
    output = engine.containers.run(f"{image_name}:4.5.6", remove=True).decode().strip()
    assert output == '{"service":"maven-config-app","flavour":"container"}'


def test_autopacks_own_options_override_maven_config(tmp_path: Path, engine: docker.DockerClient, image_name: str) -> None:
    project = copy_fixture("maven-config", tmp_path)

    run = autopack("build", project, "--image", image_name, "-D", "revision=7.0.1", "--json", "--plain")

    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["project"]["version"] == "7.0.1"
    assert images_named(engine, image_name) == [f"{image_name}:7.0.1"]
    labels = engine.images.get(f"{image_name}:7.0.1").labels
    assert labels["org.opencontainers.image.version"] == "7.0.1"


SETTINGS = """<settings>
  <localRepository>{local}</localRepository>
  <mirrors>
    <mirror><id>corp-mirror</id><name>the company's one repository</name><url>{mirror}</url><mirrorOf>*</mirrorOf></mirror>
  </mirrors>
  <profiles>
    <profile><id>corp</id><properties><build.flavour>corp</build.flavour></properties></profile>
  </profiles>
  <activeProfiles><activeProfile>corp</activeProfile></activeProfiles>
</settings>
"""


def test_a_settings_file_with_a_mirror_and_a_profile_property(tmp_path: Path, engine: docker.DockerClient, image_name: str) -> None:
    """Every download goes through the settings' mirror (an HTTP repository on loopback that
    serves the tests' repository) into a new, empty local repository; the profile that the
    settings activate names the jar through ``${build.flavour}``."""
    assert (TEST_MAVEN_REPO / "org/apache/maven/plugins/maven-shade-plugin").is_dir(), "run scripts/setup first"
    project = copy_fixture("hello-service", tmp_path)
    pom = project / "pom.xml"
    pom.write_text(pom.read_text().replace("<build>", "<build>\n    <finalName>${project.artifactId}-${build.flavour}</finalName>", 1))
    local = tmp_path / "fresh-repository"
    settings = tmp_path / "ci-settings.xml"
    log_dir = tmp_path / "logs"
    with MavenRepo("serve", root=TEST_MAVEN_REPO) as mirror:
        settings.write_text(SETTINGS.format(local=local, mirror=mirror.url))
        run = autopack("build", project, "--image", image_name, "-s", settings, "--json", "--plain", "--log-dir", log_dir,
                       env={"MAVEN_OPTS": ""})  # the settings' localRepository, not the tests' one
        served = mirror.paths(200)

    assert run.returncode == 0, run.stderr
    assert Path(json.loads(run.stdout)["images"][0]["artifact"]).name == "hello-service-corp.jar"
    maven_log = Path(json.loads(run.stdout)["logs"]["maven"]).read_text()
    downloads = re.findall(r"Download(?:ing|ed) from (\S+):", maven_log)
    assert downloads and set(downloads) == {"corp-mirror"}
    assert (local / "com/fasterxml/jackson/core/jackson-databind/2.17.2/jackson-databind-2.17.2.jar").is_file()
    assert any(p.endswith("jackson-databind-2.17.2.jar") for p in served)


def test_a_mirror_that_refuses_fails_in_one_line_naming_the_artifact_and_mirror(tmp_path: Path, image_name: str) -> None:
    project = copy_fixture("hello-service", tmp_path)
    settings = tmp_path / "ci-settings.xml"
    with MavenRepo("forbidden") as mirror:
        url = mirror.url.replace("http://", "http://deployer:hunter2-secret@")
        settings.write_text(SETTINGS.format(local=tmp_path / "empty-repository", mirror=url))
        run = autopack("build", project, "--image", image_name, "-s", settings, "--plain", "--result-file", tmp_path / "r.json",
                       env={"MAVEN_OPTS": ""})

    assert run.returncode == 4, run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert re.fullmatch(
        rf"autopack: error: Maven could not download org\.apache\.maven\.plugins:maven-\S+:(pom|jar):[\d.]+ \(for plugin \S+\) "
        rf"from corp-mirror \({re.escape(mirror.url)}\): 403 Forbidden — check the <mirror> corp-mirror in settings.xml .*",
        last,
    ), last
    assert len(last) < 400
    everything = run.stdout + run.stderr + (tmp_path / "r.json").read_text()
    assert "hunter2-secret" not in everything
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["error"]["stage"] == "maven" and result["exitCode"] == 4


ENV_PROBE = """package com.example.hello;

import java.nio.file.*;
import java.util.*;
import org.junit.jupiter.api.Test;

class EnvProbeTest {
    @Test
    void writeTheEnvironment() throws Exception {
        StringBuilder out = new StringBuilder();
        new TreeMap<>(System.getenv()).forEach((k, v) -> out.append(k).append('=').append(v).append('\\n'));
        Files.writeString(Path.of("target", "maven-env.txt"), out.toString());
    }
}
"""


def test_maven_and_the_projects_tests_get_no_credential_autopack_holds(tmp_path: Path, image_name: str) -> None:
    project = copy_fixture("hello-service", tmp_path)
    (project / "src/test/java/com/example/hello/EnvProbeTest.java").write_text(ENV_PROBE)
    secrets = {
        "AUTOPACK_GIT_TOKEN": "git-token-value-1",
        "AUTOPACK_SVN_PASSWORD": "svn-password-value-2",
        "AUTOPACK_REGISTRY_USER_REGISTRY_EXAMPLE_COM": "deployer",
        "AUTOPACK_REGISTRY_PASSWORD_REGISTRY_EXAMPLE_COM": "registry-password-3",
        "CI_REGISTRY_PASSWORD": "ci-registry-password-4",
        "GITLAB_TOKEN": "gitlab-token-value-5",
    }
    kept = {"CI_JOB_TOKEN": "job-token-for-the-package-registry", "PROJECT_SETTING": "kept-as-is", "NPM_TOKEN": "not-autopacks"}

    run = autopack("build", project, "--image", image_name, "--maven-env", "CI_JOB_TOKEN", "--plain", env={**secrets, **kept})

    assert run.returncode == 0, run.stderr
    seen = (project / "target" / "maven-env.txt").read_text()
    for name, value in secrets.items():
        assert value not in seen and f"{name}=" not in seen, name
    for name, value in kept.items():
        assert f"{name}={value}\n" in seen, name
    assert "MAVEN_OPTS=" in seen and "PATH=" in seen


def test_without_maven_env_the_job_token_is_withheld(tmp_path: Path, image_name: str) -> None:
    project = copy_fixture("hello-service", tmp_path)
    (project / "src/test/java/com/example/hello/EnvProbeTest.java").write_text(ENV_PROBE)

    run = autopack("build", project, "--image", image_name, "--plain", env={"CI_JOB_TOKEN": "job-token-for-the-package-registry"})

    assert run.returncode == 0, run.stderr
    assert "job-token-for-the-package-registry" not in (project / "target" / "maven-env.txt").read_text()
    shutil.rmtree(project / "target")
