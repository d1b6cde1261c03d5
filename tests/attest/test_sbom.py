"""The image's SBOM from Maven's own graph: fixtures/spring-boot/web-service built with the
CycloneDX plugin and fixtures/multi-module with the dependency:list fallback (real Maven, online
into the tests' repository, each fixture copied to tmp first), the documents checked against
the CycloneDX 1.6 schema, against what `mvn dependency:list` prints and against the jars'
own bytes; and the choice between the two goals on real and empty local repositories."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from autopack.attest import sbom
from autopack.attest.sbom import BOM_FILE, CYCLONEDX_GOAL, LIST_FILE, LIST_GOAL, SbomError, document, maven_additions, read_graph
from tests.conftest import TEST_MAVEN_REPO, copy_fixture

DIGEST = "sha256:" + "3f" * 32
BASE_DIGEST = "sha256:" + "0a" * 32
CREATED = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
IMAGE = "registry:5000/team/app"
# "[INFO]    org.slf4j:slf4j-api:jar:2.0.17:compile -- module org.slf4j"
_LISTED = re.compile(r"^\[INFO\]\s+(?P<g>[^:\s]+):(?P<a>[^:\s]+):(?P<t>[^:\s]+):(?:(?P<c>[^:\s]+):)?(?P<v>[^:\s]+):(?P<s>compile|runtime|provided|system|test)\b")


def mvn(project: Path, *args: str) -> str:
    if shutil.which("mvn") is None:
        pytest.skip("needs mvn on PATH")
    completed = subprocess.run(["mvn", "-B", "-Dstyle.color=never", *args], cwd=project, capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return completed.stdout


def build(project: Path, goals: tuple[str, ...], defines: dict[str, str]) -> None:
    mvn(project, "-q", "package", "-DskipTests", *goals, *(f"-D{name}={value}" for name, value in defines.items()))


def listed(project: Path) -> dict[str, str]:
    """What `mvn dependency:list` prints for the runtime classpath: purl -> scope."""
    out = mvn(project, "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:list", "-DincludeScope=runtime")
    found = {}
    for line in out.splitlines():
        if m := _LISTED.match(line):
            qualifiers = f"?classifier={m['c']}&type={m['t']}" if m["c"] else f"?type={m['t']}"
            found[f"pkg:maven/{m['g']}/{m['a']}@{m['v']}{qualifiers}"] = m["s"]
    return found


def repository_jar(purl: str) -> Path:
    group, name, version = re.match(r"pkg:maven/([^/]+)/([^@]+)@([^?]+)", purl).groups()  # type: ignore[union-attr]
    return TEST_MAVEN_REPO.joinpath(*group.split("."), name, version, f"{name}-{version}.jar")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def validate(sbom: bytes) -> dict:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(sbom.decode())
    assert error is None, error
    return json.loads(sbom)


def fake_repository(root: Path, *coordinates: str) -> Path:
    """A local repository holding only the jar and pom of each ``group:artifact:version``."""
    for gav in coordinates:
        group, name, version = gav.split(":")
        directory = root.joinpath(*group.split("."), name, version)
        directory.mkdir(parents=True)
        (directory / f"{name}-{version}.jar").write_bytes(b"PK")
        (directory / f"{name}-{version}.pom").write_text("<project/>")
    return root


CYCLONEDX = ("org.cyclonedx:cyclonedx-maven-plugin:2.9.1", "org.cyclonedx:cyclonedx-core-java:9.0.5")
DEPENDENCY = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


# --- which goal -------------------------------------------------------------------------------


def test_the_cyclonedx_plugin_runs_online_where_the_project_names_it_or_it_is_asked_for(tmp_path: Path) -> None:
    for chosen in (maven_additions(tmp_path, offline=False, declared=True), maven_additions(tmp_path, offline=False, tool="cyclonedx-maven-plugin")):
        goals, defines = chosen
        assert goals == (CYCLONEDX_GOAL, LIST_GOAL)  # the list beside it: a graph still, should the pom send the plugin's output elsewhere
        assert defines == {
            "outputName": "autopack-bom",
            "outputFormat": "json",
            "cyclonedx.skipAttach": "true",
            "cyclonedx.skipNotDeployed": "false",
            "includeProvidedScope": "false",
            "includeSystemScope": "false",
            "outputFile": "${project.build.directory}/autopack-dependencies.txt",
            "outputAbsoluteArtifactFilename": "true",
            "includeScope": "runtime",
        }


def test_by_default_the_dependency_list_online_and_offline(tmp_path: Path) -> None:
    """A service that did not ask for the plugin does not pay its 2.5–3 s a build."""
    assert maven_additions(tmp_path, offline=False)[0] == (LIST_GOAL,)
    assert maven_additions(tmp_path, offline=False, tool="dependency-list", declared=True)[0] == (LIST_GOAL,)
    goals, defines = maven_additions(fake_repository(tmp_path, DEPENDENCY), offline=True)
    assert goals == (LIST_GOAL,)
    assert defines == {"outputFile": "${project.build.directory}/autopack-dependencies.txt", "outputAbsoluteArtifactFilename": "true", "includeScope": "runtime"}


def test_offline_falls_back_even_when_the_project_names_the_cyclonedx_plugin(tmp_path: Path) -> None:
    # makeBom requires online mode (test_maven_refuses_makebom_offline).
    assert maven_additions(fake_repository(tmp_path, *CYCLONEDX, DEPENDENCY), offline=True, declared=True)[0] == (LIST_GOAL,)
    with pytest.raises(SbomError, match="cannot run offline"):
        maven_additions(tmp_path, offline=True, tool="cyclonedx-maven-plugin")


def test_offline_with_a_jar_but_no_pom_is_not_there(tmp_path: Path) -> None:
    fake_repository(tmp_path, DEPENDENCY)
    next(tmp_path.rglob("*.pom")).unlink()
    with pytest.raises(SbomError):
        maven_additions(tmp_path, offline=True)


def test_offline_without_the_dependency_plugin_says_there_is_no_sbom(tmp_path: Path) -> None:
    with pytest.raises(SbomError, match="no SBOM: Maven runs offline, and .* is not in") as raised:
        maven_additions(tmp_path, offline=True)
    assert "online" in raised.value.hint


@pytest.mark.parametrize("goal", [CYCLONEDX_GOAL, LIST_GOAL])
def test_every_define_is_a_parameter_of_the_goal_it_is_for(web_service: Path, goal: str) -> None:
    """The defines reach every plugin of the run: each must be a user property the goal
    really reads (checked in the plugin.xml Maven used), or it would silently do nothing."""
    group, name, version, mojo = goal.split(":")
    jar = TEST_MAVEN_REPO.joinpath(*group.split("."), name, version, f"{name}-{version}.jar")
    with zipfile.ZipFile(jar) as plugin:
        descriptor = plugin.read("META-INF/maven/plugin.xml").decode()
    section = descriptor[descriptor.index(f"<goal>{mojo}</goal>") :]
    section = section[: section.index("</mojo>")]
    for define in sbom._CYCLONEDX_DEFINES if goal == CYCLONEDX_GOAL else sbom._LIST_DEFINES:
        assert f"${{{define}}}" in section, f"{define} is not a property of {goal}"
    # The two goals run side by side: neither plugin reads the other's defines.
    other_goal = LIST_GOAL if goal == CYCLONEDX_GOAL else CYCLONEDX_GOAL
    group, name, version, _ = other_goal.split(":")
    with zipfile.ZipFile(TEST_MAVEN_REPO.joinpath(*group.split("."), name, version, f"{name}-{version}.jar")) as plugin:
        other = plugin.read("META-INF/maven/plugin.xml").decode()
    for define in sbom._CYCLONEDX_DEFINES if goal == CYCLONEDX_GOAL else sbom._LIST_DEFINES:
        assert f"${{{define}}}" not in other, f"{other_goal} reads {define} too"


def test_offline_against_the_filled_repository(tmp_path: Path, web_service: Path) -> None:
    """What the tests' repository holds (scripts/maven-repo; web_service ran dependency-resolving
    goals online first) is enough for the fallback with Maven --offline."""
    goals, defines = maven_additions(TEST_MAVEN_REPO, offline=True)
    assert goals == (LIST_GOAL,)
    project = copy_fixture("hello-service", tmp_path)
    build(project, ("--offline", *goals), defines)
    graph = read_graph(project / "target")
    assert {c.purl for c in graph.components} == {
        "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.17.2?type=jar",
        "pkg:maven/com.fasterxml.jackson.core/jackson-core@2.17.2?type=jar",
        "pkg:maven/com.fasterxml.jackson.core/jackson-annotations@2.17.2?type=jar",
    }


def test_maven_refuses_makebom_offline(tmp_path: Path, web_service: Path) -> None:
    """Why offline means the fallback: with the plugin in the repository, Maven still refuses
    makeBom (its plugin.xml says requiresOnline). Should a new version drop that, this fails."""
    assert (TEST_MAVEN_REPO / "org/cyclonedx/cyclonedx-maven-plugin/2.9.1/cyclonedx-maven-plugin-2.9.1.jar").is_file()
    project = copy_fixture("hello-service", tmp_path)
    completed = subprocess.run(["mvn", "-B", "-Dstyle.color=never", "-q", "--offline", "package", "-DskipTests", CYCLONEDX_GOAL], cwd=project, capture_output=True, text=True, timeout=600)
    assert completed.returncode != 0
    assert "Goal requires online mode for execution but Maven is currently offline" in completed.stdout


# --- the CycloneDX plugin: Spring Boot ----------------------------------------------------------


@pytest.fixture(scope="module")
def web_service(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert os.environ["MAVEN_OPTS"] == f"-Dmaven.repo.local={TEST_MAVEN_REPO}"
    project = copy_fixture("spring-boot/web-service", tmp_path_factory.mktemp("sbom"))
    build(project, *maven_additions(tmp_path_factory.mktemp("empty-repo"), offline=False, tool="cyclonedx-maven-plugin"))
    return project


@pytest.fixture(scope="module")
def web_sbom(web_service: Path) -> dict:
    return validate(web_document(web_service))


def web_document(project: Path, digest: str = DIGEST) -> bytes:
    return document(
        read_graph(project / "target"),
        group_id="com.example",
        artifact_id="boot-web-service",
        version="1.3.0",
        artifact=project / "target/boot-web-service-1.3.0.jar",
        image_name=IMAGE,
        image_digest=digest,
        base=("eclipse-temurin:17-jre", BASE_DIGEST),
        created=CREATED,
        tool_version="1.2.3",
    )


def libraries(sbom: dict) -> dict[str, dict]:
    return {c["purl"]: c for c in sbom["components"] if c["type"] == "library"}


def test_the_plugin_wrote_its_graph_into_target_and_did_not_attach_it(web_service: Path) -> None:
    target = web_service / "target"
    assert (target / BOM_FILE).is_file()
    assert not (target / "autopack-bom.xml").exists() and not (target / "bom.json").exists()
    graph = read_graph(target)
    assert graph.tool == "cyclonedx-maven-plugin 2.9.1"
    assert graph.root == "pkg:maven/com.example/boot-web-service@1.3.0?type=jar"
    assert set(graph.direct()) == {
        "pkg:maven/org.springframework.boot/spring-boot-starter-web@3.5.7?type=jar",
        "pkg:maven/org.springframework.boot/spring-boot-starter-actuator@3.5.7?type=jar",
    }
    assert json.loads((target / BOM_FILE).read_text())["metadata"]["properties"][1] == {"name": "maven.scopes", "value": "compile,runtime"}


def test_the_sbom_lists_what_maven_resolves(web_service: Path, web_sbom: dict) -> None:
    expected = listed(web_service)
    found = libraries(web_sbom)
    assert len(expected) > 30
    assert set(found) == set(expected)
    for purl in (
        "pkg:maven/org.springframework/spring-webmvc@6.2.12?type=jar",
        "pkg:maven/org.apache.tomcat.embed/tomcat-embed-core@10.1.48?type=jar",
        "pkg:maven/ch.qos.logback/logback-classic@1.5.20?type=jar",
        "pkg:maven/io.micrometer/micrometer-core@1.15.5?type=jar",
    ):
        assert purl in found and purl in expected
    assert not any("junit" in purl for purl in found), "test scope is not in the image"


def test_every_dependency_hash_is_its_jar_in_the_repository(web_sbom: dict) -> None:
    for purl, component in libraries(web_sbom).items():
        hashes = {h["alg"]: h["content"] for h in component["hashes"]}
        jar = repository_jar(purl)
        assert hashes["SHA-256"] == sha256(jar), purl
        assert hashes["SHA-1"] == hashlib.sha1(jar.read_bytes()).hexdigest(), purl


def test_the_image_application_and_base(web_service: Path, web_sbom: dict) -> None:
    assert web_sbom["specVersion"] == "1.6"
    image = web_sbom["metadata"]["component"]
    assert image["type"] == "container" and image["name"] == IMAGE and image["version"] == DIGEST
    assert image["purl"] == f"pkg:oci/app@{DIGEST}?repository_url=registry:5000/team/app"
    app = next(c for c in web_sbom["components"] if c["type"] == "application")
    assert app["purl"] == "pkg:maven/com.example/boot-web-service@1.3.0?type=jar"
    assert app["hashes"] == [{"alg": "SHA-256", "content": sha256(web_service / "target/boot-web-service-1.3.0.jar")}]
    base = next(c for c in web_sbom["components"] if c["type"] == "container")
    assert base["purl"].startswith("pkg:oci/eclipse-temurin@sha256") and "repository_url=docker.io/library/eclipse-temurin" in base["purl"] and "tag=17-jre" in base["purl"]
    assert web_sbom["metadata"]["timestamp"].startswith("2026-01-01T12:00:00")
    tools = {(t.get("group"), t["name"], t["version"]) for t in web_sbom["metadata"]["tools"]["components"]}
    assert tools == {(None, "autopack", "1.2.3"), ("org.cyclonedx", "cyclonedx-maven-plugin", "2.9.1")}
    licensed = libraries(web_sbom)["pkg:maven/org.springframework/spring-webmvc@6.2.12?type=jar"]
    assert licensed["licenses"] == [{"license": {"id": "Apache-2.0"}}]


def test_the_dependency_edges(web_sbom: dict) -> None:
    edges = {d["ref"]: set(d.get("dependsOn", ())) for d in web_sbom["dependencies"]}
    app = "pkg:maven/com.example/boot-web-service@1.3.0?type=jar"
    base = next(c["bom-ref"] for c in web_sbom["components"] if c["type"] == "container")
    assert edges[web_sbom["metadata"]["component"]["bom-ref"]] == {app, base}
    assert edges[app] == {
        "pkg:maven/org.springframework.boot/spring-boot-starter-web@3.5.7?type=jar",
        "pkg:maven/org.springframework.boot/spring-boot-starter-actuator@3.5.7?type=jar",
    }
    assert "pkg:maven/org.springframework/spring-webmvc@6.2.12?type=jar" in edges["pkg:maven/org.springframework.boot/spring-boot-starter-web@3.5.7?type=jar"]


def test_the_same_inputs_give_the_same_bytes(web_service: Path) -> None:
    first = web_document(web_service)
    assert web_document(web_service) == first
    other = web_document(web_service, "sha256:" + "4e" * 32)
    assert json.loads(other)["serialNumber"] != json.loads(first)["serialNumber"]


def test_the_same_bytes_in_another_process(web_service: Path) -> None:
    """Nothing hangs on set order or the clock: a fresh interpreter with another hash seed
    writes the same bytes; and importing the module alone loads no cyclonedx."""
    script = (
        "import sys; from pathlib import Path; import autopack.attest.sbom; "
        "assert not [m for m in sys.modules if m.startswith(('cyclonedx', 'packageurl'))]; "
        "from tests.attest.test_sbom import web_document; sys.stdout.buffer.write(web_document(Path(sys.argv[1])))"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", script, str(web_service)], cwd=root, env=env, capture_output=True, check=True).stdout
    assert out == web_document(web_service)


def test_no_base_image_and_a_base_without_digest(web_service: Path) -> None:
    graph = read_graph(web_service / "target")
    common = dict(group_id="com.example", artifact_id="boot-web-service", version="1.3.0", artifact=web_service / "target/boot-web-service-1.3.0.jar", image_name=IMAGE, image_digest=DIGEST, created=CREATED, tool_version="1")
    alone = validate(document(graph, base=None, **common))  # type: ignore[arg-type]
    assert [c["type"] for c in alone["components"]].count("container") == 0
    tagged = validate(document(graph, base=("ghcr.io/acme/jre:21", None), **common))  # type: ignore[arg-type]
    base = next(c for c in tagged["components"] if c["type"] == "container")
    assert base["purl"] == "pkg:oci/jre?repository_url=ghcr.io/acme/jre&tag=21"
    assert base["version"] == "21"


# --- the dependency:list fallback: a reactor ---------------------------------------------------


@pytest.fixture(scope="module")
def reactor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = copy_fixture("multi-module", tmp_path_factory.mktemp("sbom-list"))
    goals, defines = maven_additions(fake_repository(tmp_path_factory.mktemp("repo"), DEPENDENCY), offline=True)
    assert goals == (LIST_GOAL,)
    # As autopack runs it for a layered plain jar: copy-dependencies in the same run, the same includeScope.
    build(project, (*goals, "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"), defines)
    return project


def reactor_document(project: Path, module: str) -> dict:
    return validate(
        document(
            read_graph(project / module / "target"),
            group_id="com.example.multi",
            artifact_id=module.rsplit("/", 1)[-1],
            version="2.1.0",
            artifact=project / module / f"target/{module.rsplit('/', 1)[-1]}-2.1.0.jar",
            image_name="registry:5000/multi/" + module.rsplit("/", 1)[-1],
            image_digest=DIGEST,
            base=("registry:5000/base/jre:17@" + BASE_DIGEST, None),
            created=CREATED,
            tool_version="1.2.3",
        )
    )


def test_each_module_gets_its_own_graph(reactor: Path) -> None:
    jackson = {
        "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.17.2?type=jar",
        "pkg:maven/com.fasterxml.jackson.core/jackson-core@2.17.2?type=jar",
        "pkg:maven/com.fasterxml.jackson.core/jackson-annotations@2.17.2?type=jar",
    }
    graphs = {module: read_graph(reactor / module / "target") for module in ("lib", "greeter", "echo", "services/clock")}
    assert {module: {c.purl for c in graph.components} for module, graph in graphs.items()} == {
        "lib": set(),
        "greeter": jackson | {"pkg:maven/com.example.multi/lib@2.1.0?type=jar"},
        "echo": jackson,
        "services/clock": jackson,
    }
    assert {graph.tool for graph in graphs.values()} == {"maven-dependency-plugin 3.8.1"}
    assert all(c.scope == "compile" for graph in graphs.values() for c in graph.components)
    assert (reactor / "greeter/target/dependency/lib-2.1.0.jar").is_file(), "copy-dependencies still did its work"


def test_the_fallback_sbom_lists_what_maven_resolves_with_the_jars_hashes(reactor: Path) -> None:
    # echo alone: `mvn dependency:list` in greeter/ would look for lib in the local repository.
    assert set(libraries(reactor_document(reactor, "echo"))) == set(listed(reactor / "echo"))
    sbom = reactor_document(reactor, "greeter")
    found = libraries(sbom)
    assert "pkg:maven/com.example.multi/lib@2.1.0?type=jar" in found
    for purl, component in found.items():
        hashes = {h["alg"]: h["content"] for h in component["hashes"]}
        jar = reactor / "lib/target/lib-2.1.0.jar" if "/lib@" in purl else repository_jar(purl)
        assert hashes == {"SHA-256": sha256(jar), "SHA-1": hashlib.sha1(jar.read_bytes()).hexdigest()}, purl
    assert sbom["metadata"]["component"]["version"] == DIGEST and DIGEST.removeprefix("sha256:") in sbom["metadata"]["component"]["purl"]
    app = next(c for c in sbom["components"] if c["type"] == "application")
    assert app["hashes"][0]["content"] == sha256(reactor / "greeter/target/greeter-2.1.0.jar")
    base = next(c for c in sbom["components"] if c["type"] == "container")
    assert "repository_url=registry:5000/base/jre" in base["purl"] and BASE_DIGEST.removeprefix("sha256:") in base["purl"]
    # Flat: the application depends on every jar, and no other edges are claimed.
    edges = {d["ref"]: set(d.get("dependsOn", ())) for d in sbom["dependencies"]}
    assert edges[app["bom-ref"]] == set(found)
    assert not set(edges) & set(found)
    assert {t["name"] for t in sbom["metadata"]["tools"]["components"]} == {"autopack", "maven-dependency-plugin"}


def test_a_module_without_dependencies(reactor: Path) -> None:
    sbom = reactor_document(reactor, "lib")
    assert libraries(sbom) == {}


# --- what the run left -------------------------------------------------------------------------


def test_no_graph_in_the_build_directory(tmp_path: Path) -> None:
    with pytest.raises(SbomError, match=f"no SBOM: Maven left no dependency graph in {tmp_path}"):
        read_graph(tmp_path)


def test_the_plugins_graph_wins_and_an_earlier_builds_is_never_read(tmp_path: Path, web_service: Path, reactor: Path) -> None:
    shutil.copy(web_service / "target" / BOM_FILE, tmp_path / BOM_FILE)
    shutil.copy(reactor / "echo/target" / LIST_FILE, tmp_path / LIST_FILE)
    assert read_graph(tmp_path, since=time.time() - 60).tool == "cyclonedx-maven-plugin 2.9.1"
    os.utime(tmp_path / BOM_FILE, (1_000, 1_000))  # an earlier build's, left by one without clean
    assert read_graph(tmp_path, since=time.time() - 60).tool == "maven-dependency-plugin 3.8.1"
    os.utime(tmp_path / LIST_FILE, (500, 500))
    with pytest.raises(SbomError, match="from this run"):
        read_graph(tmp_path, since=time.time() - 60)


def test_a_list_naming_a_missing_jar(tmp_path: Path) -> None:
    (tmp_path / LIST_FILE).write_text("\nThe following files have been resolved:\n   g:a:jar:1.0:compile:/nonexistent/a-1.0.jar -- module a\n")
    with pytest.raises(SbomError, match="g:a:1.0 resolves to /nonexistent/a-1.0.jar, which is not a file"):
        read_graph(tmp_path)
