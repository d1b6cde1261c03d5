"""`autopack build` end to end: the installed command, real Maven, the real engine."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import docker
import pytest

from tests.conftest import autopack, copy_fixture, git, images_named, remove_images
from tests.servers.registry import free_port

pytestmark = pytest.mark.e2e

HELLO_LINE = '{"service":"hello-service","message":"Hello from autopack"}'
ANSI = re.compile(r"\x1b\[")
TIMESTAMPED = re.compile(r"^\d\d:\d\d:\d\d \S+ +")


@pytest.fixture(scope="module")
def hello(tmp_path_factory: pytest.TempPathFactory, engine: docker.DockerClient):
    """One real build of hello-service from a git working copy on a feature branch, with
    several tag templates, --json and --result-file; the tests below read what it left."""
    work = tmp_path_factory.mktemp("hello")
    project = copy_fixture("hello-service", work, as_git=True, branch="feature/login")
    sha = git(project, "rev-parse", "HEAD")
    repository = f"autopack-test/hello-{uuid.uuid4().hex[:8]}"
    result_file = work / "out" / "result.json"
    run = autopack(
        "build", project,
        "--image", repository,
        "-t", "{version}", "-t", "{version}-{revision}", "-t", "{branch}-b{build}", "-t", "latest",
        "--build-number", "77",
        "--json", "--result-file", result_file,
        "--log-dir", work / "logs",
    )
    yield {"run": run, "project": project, "sha": sha, "repository": repository, "result_file": result_file, "engine": engine}
    remove_images(engine, repository)


def test_build_succeeds_with_every_tag(hello):
    run, repository, sha = hello["run"], hello["repository"], hello["sha"]
    assert run.returncode == 0, run.stderr
    expected = {f"{repository}:1.0.0", f"{repository}:1.0.0-{sha[:8]}", f"{repository}:feature-login-b77", f"{repository}:latest"}
    assert set(images_named(hello["engine"], repository)) == expected


def test_image_carries_oci_labels(hello):
    labels = hello["engine"].images.get(f"{hello['repository']}:1.0.0").labels
    assert labels["org.opencontainers.image.title"] == "hello-service"
    assert labels["org.opencontainers.image.version"] == "1.0.0"
    assert labels["org.opencontainers.image.revision"] == hello["sha"]
    assert labels["org.opencontainers.image.source"] == hello["project"].as_uri()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", labels["org.opencontainers.image.created"])


def test_container_prints_the_fixture_line(hello):
    output = hello["engine"].containers.run(f"{hello['repository']}:latest", remove=True)
    assert output.decode().strip() == HELLO_LINE


def test_json_result_matches_the_image(hello):
    data = json.loads(hello["run"].stdout)
    image = hello["engine"].images.get(f"{hello['repository']}:1.0.0")
    assert data["schemaVersion"] == 1 and data["status"] == "ok" and data["exitCode"] == 0 and data["error"] is None
    assert data["project"] == {"groupId": "com.example", "artifactId": "hello-service", "version": "1.0.0", "packaging": "jar"}
    assert data["source"]["revision"] == hello["sha"] and data["source"]["branch"] == "feature/login"
    [built] = data["images"]
    assert built["id"] == image.id
    assert sorted(built["tags"]) == sorted(image.tags)
    assert built["labels"] == image.labels
    assert built["size"] == image.attrs["Size"]
    assert Path(built["artifact"]).name == "hello-service-1.0.0.jar"
    assert [a["path"] for a in data["artifacts"]] == [built["artifact"]]
    assert data["tests"]["run"] >= 1 and data["tests"]["failures"] == 0
    assert [s["name"] for s in data["stages"]] == ["source", "plan", "maven", "image"]
    assert all(s["status"] == "ok" and s["seconds"] >= 0 for s in data["stages"])
    assert re.fullmatch(r"buildkit \(Docker engine \d+\.\S+\)", data["engine"]), data["engine"]  # what the plan chose


def test_result_file_equals_stdout(hello):
    assert json.loads(hello["result_file"].read_text()) == json.loads(hello["run"].stdout)


def test_maven_log_is_kept_and_reported(hello):
    data = json.loads(hello["run"].stdout)
    log = Path(data["logs"]["maven"])
    assert log.is_file() and "BUILD SUCCESS" in log.read_text()
    assert str(log) in hello["run"].stderr


def test_piped_output_is_plain_timestamped_lines_and_a_summary(hello):
    err = hello["run"].stderr
    assert not ANSI.search(err), "ANSI escape codes in non-terminal output"
    assert "\r" not in err, "redraws in non-terminal output"
    lines = err.splitlines()
    progress = [line for line in lines if TIMESTAMPED.match(line)]
    assert any("Step " in line for line in progress) and any("surefire:test" in line for line in progress)
    assert len(progress) == len(set(progress)), "a progress line was printed twice"
    summary = {line.split(":", 1)[0] for line in lines if not TIMESTAMPED.match(line)}
    assert {"result", "project", "artifact", "image", "tag", "stages", "log"} <= summary


def test_original_and_sources_jars_are_never_chosen(hello):
    target = hello["project"] / "target"
    assert (target / "original-hello-service-1.0.0.jar").is_file()  # shade leaves it beside the fat jar
    data = json.loads(hello["run"].stdout)
    assert data["artifacts"][0]["path"] == str(target / "hello-service-1.0.0.jar")


BROKEN = [
    # fixture, exit code, what the one line must say
    ("pom-not-xml", 2, r"pom\.xml:12:\d+: pom\.xml is not well-formed XML"),
    ("compile-error", 4, r"Maven failed in module broken-compile-error \(compiler:compile\): Compilation failure .*App\.java:\[10,19\] incompatible types"),
    ("failing-test", 4, r"Maven failed in module broken-failing-test \(surefire:test\): There are test failures"),
    # BuildKit (the default here) counts the steps of the stage: the RUN is 2/4.
    ("dockerfile-run-fails", 5, r"image build failed at step 2/4 \(RUN echo .*\): .*exit code: 3; its last output: provisioning step fails on purpose"),
    ("no-dockerfile", 5, r"no Dockerfile at .*no-dockerfile/Dockerfile"),
    ("no-artifact", 4, r"Maven produced no artifact for broken-no-artifact: looked for .*broken-no-artifact-1\.0\.0\.jar"),
]


@pytest.mark.parametrize(("fixture", "code", "message"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_fixture_fails_with_its_exit_code_and_one_line(fixture, code, message, tmp_path, engine, image_name):
    project = copy_fixture(f"broken/{fixture}", tmp_path)
    result_file = tmp_path / "result.json"
    run = autopack("build", project, "--image", image_name, "--result-file", result_file, "--log-dir", tmp_path / "logs")

    assert run.returncode == code, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("autopack: error:")]
    assert len(errors) == 1 and run.stderr.rstrip().endswith(errors[0]), run.stderr
    assert re.search(message, errors[0]), errors[0]
    assert images_named(engine, image_name) == []
    # The failing RUN step's container (its command is the fixture's) must be gone; other
    # containers may come and go meanwhile (the engine is shared with other tests).
    leftovers = [c for c in engine.containers.list(all=True) if "fails on purpose" in " ".join(c.attrs["Config"].get("Cmd") or [])]
    assert leftovers == [], "intermediate containers left behind"
    data = json.loads(result_file.read_text())
    assert data["status"] == "failed" and data["exitCode"] == code and data["images"] == []
    assert data["error"]["message"] in errors[0]
    if fixture == "failing-test":  # the maven stage's value is kept when Maven fails
        assert data["tests"]["run"] >= 1 and data["tests"]["failures"] >= 1, data["tests"]
        assert [s["status"] for s in data["stages"]] == ["ok", "ok", "failed"]
    if fixture == "no-dockerfile":  # the plan stage failed after reading the pom: no plan, but the project
        assert data["engine"] is None and data["plannedReferences"] == [] and data["project"]["artifactId"] == "broken-no-dockerfile"


def test_maven_errors_are_shown_but_not_the_whole_log(tmp_path, image_name):
    project = copy_fixture("broken/compile-error", tmp_path)
    run = autopack("build", project, "--image", image_name, "--log-dir", tmp_path / "logs")
    assert run.returncode == 4
    assert "[ERROR]" in run.stdout and "incompatible types" in run.stdout
    assert "[INFO] Building broken-compile-error" not in run.stdout  # the full log stays in the file
    log = next((tmp_path / "logs").glob("*/maven.log"))
    assert "[INFO] Building broken-compile-error" in log.read_text()


def test_bad_tag_is_refused_before_maven_runs(tmp_path, image_name):
    project = copy_fixture("hello-service", tmp_path)
    run = autopack("build", project, "--image", image_name, "-t", "{version}", "-t", "-nightly")
    assert run.returncode == 2
    assert "tag '-nightly'" in run.stderr.splitlines()[-1]
    assert not (project / "target").exists(), "Maven ran although a tag was invalid"


def test_unreachable_engine_is_reported_before_maven_runs(tmp_path):
    """An engine that is configured but does not answer (not a machine without one, where
    buildah would build: test_buildah.py)."""
    project = copy_fixture("hello-service", tmp_path)
    run = autopack("build", project, env={"DOCKER_HOST": f"tcp://127.0.0.1:{free_port()}"})
    assert run.returncode == 5
    last = run.stderr.splitlines()[-1]
    assert "no Docker engine answers" in last and "DOCKER_HOST" in last
    assert not (project / "target").exists()


def test_ci_friendly_version_from_define_reaches_pom_maven_and_tags(tmp_path, engine, image_name):
    project = copy_fixture("hello-service", tmp_path)
    pom = project / "pom.xml"
    text = pom.read_text()
    text = text.replace("<version>1.0.0</version>", "<version>${revision}</version>", 1)
    text = text.replace("<properties>", "<properties>\n    <revision>0.0.1-SNAPSHOT</revision>", 1)
    pom.write_text(text)
    run = autopack("build", project, "--image", image_name, "-D", "revision=2.3.4", "--skip-tests", "--json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["project"]["version"] == "2.3.4"
    assert Path(data["artifacts"][0]["path"]).name == "hello-service-2.3.4.jar"  # Maven saw -Drevision too
    assert images_named(engine, image_name) == [f"{image_name}:2.3.4"]
    assert data["tests"] == {"run": 0, "failures": 0, "errors": 0, "skipped": 0}


def test_java_home_is_honoured(tmp_path, image_name):
    project = copy_fixture("hello-service", tmp_path)
    run = autopack("build", project, "--image", image_name, env={"JAVA_HOME": str(tmp_path / "no-such-jdk")})
    assert run.returncode == 4
    assert "JAVA_HOME" in run.stdout + run.stderr


def test_version_and_help():
    version = autopack("--version")
    assert version.returncode == 0 and re.fullmatch(r"autopack \d+\.\d+\.\d+\S*\n", version.stdout)
    helptext = autopack("build", "--help", env={"COLUMNS": "200"})
    assert helptext.returncode == 0
    for needle in ("Examples", "--tag", "--define", "--build-arg", "--json", "Maven:", "Image:", "Output:"):
        assert needle in helptext.stdout


def test_a_file_url_source_reads_the_projects_autopack_toml(tmp_path, engine, image_name):
    project = copy_fixture("hello-service", tmp_path)
    (project / "autopack.toml").write_text('tags = ["{version}-from-toml"]\n')
    run = autopack("build", f"file://{project}", "--image", image_name, "--json")
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout)["images"][0]["tags"] == [f"{image_name}:1.0.0-from-toml"]
    assert "settings from" in run.stderr and "autopack.toml" in run.stderr
