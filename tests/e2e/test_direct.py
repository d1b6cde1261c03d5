"""The direct builder (``--engine direct``, and ``auto`` with ``--push``) against real
registries on loopback, real Maven and the real engine — which only runs what was built:

- a RUN-less service built directly runs as the engine-built image does, and ``--load``
  puts it into the engine;
- two clean checkouts, at other times and with other umasks, give one digest;
- a RUN step is named and an engine builds instead; ``--engine direct`` refuses it (exit 2);
- with no Docker engine at all, the image is built and pushed;
- a Spring Boot service is split into layers, and a one-line change uploads only the
  classes layer (counted in the registry's storage);
- a base image behind token auth; multi-stage ``COPY --from``; base layers mounted within
  a registry; a two-platform index over a two-platform base.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import docker
import pytest
import requests

from tests.conftest import BASE_IMAGE, autopack, copy_fixture, git, remove_images
from tests.servers.buildkitd import BASE_REPOSITORY, BASE_TAG, base_registry  # noqa: F401  (fixture)
from tests.servers.fixtures import registries  # noqa: F401  (fixture)
from tests.servers.registry import MANIFEST_TYPES, Registry
from tests.servers.token_auth import TokenRegistry, TokenService

pytestmark = pytest.mark.e2e
HELLO_LINE = '{"service":"hello-service","message":"Hello from autopack"}'
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def base_arg(registry: Registry) -> str:
    return f"BASE_IMAGE={registry.host}/{BASE_REPOSITORY}:{BASE_TAG}"


def build(project: Path, tmp_path: Path, *args: str | Path, env: dict[str, str] | None = None, code: int = 0) -> tuple[dict, str]:
    result = tmp_path / f"result-{uuid.uuid4().hex[:6]}.json"
    tags = () if "-t" in args else ("-t", "latest")
    run = autopack("build", project, "--skip-tests", "--plain", "--result-file", result, *tags, *args, env=env)
    assert run.returncode == code, run.stdout[-4000:] + run.stderr
    return json.loads(result.read_text()), run.stdout + run.stderr


def manifest(registry: Registry, repository: str, reference: str) -> dict:
    answer = requests.get(f"{registry.url}/v2/{repository}/manifests/{reference}", headers={"Accept": MANIFEST_TYPES}, auth=registry.auth, timeout=10)
    answer.raise_for_status()
    return answer.json()


def stored_blobs(registry: Registry) -> dict[str, int]:
    """Every blob in the registry's own storage (manifests are blobs there too), with its size."""
    root = registry.root / "storage" / "docker" / "registry" / "v2" / "blobs" / "sha256"
    return {f"sha256:{data.parent.name}": data.stat().st_size for data in root.glob("*/*/data")} if root.exists() else {}


def run_image(engine: docker.DockerClient, reference: str) -> str:
    engine.images.pull(reference)
    try:
        return engine.containers.run(reference, remove=True, network_mode="none").decode().strip()
    finally:
        engine.images.remove(reference, force=True)


def commit_all(project: Path, message: str) -> str:
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", message)
    return git(project, "rev-parse", "HEAD")


def test_a_direct_build_runs_as_the_engine_built_image_does_and_mounts_base_layers(tmp_path, engine, base_registry, image_name):  # noqa: F811
    project = copy_fixture("hello-service", tmp_path / "p")
    target = f"{base_registry.host}/direct/hello-{uuid.uuid4().hex[:6]}"
    data, out = build(project, tmp_path, "--engine", "direct", "--build-arg", base_arg(base_registry), "--push", target, "-t", "1.0.0")
    [image] = data["images"]
    assert data["engine"].startswith("direct")
    [pushed] = data["destinations"]
    assert pushed["status"] == "ok" and pushed["digest"] == image["digest"]
    assert image["platforms"] == [{"platform": "linux/amd64", "digest": image["digest"]}]
    assert data["plannedImages"][0]["platforms"] == ["linux/amd64"]
    assert "mounted from autopack/jre" in out  # the base is in the same registry: linked, not sent
    assert pushed["tags"] == ["1.0.0"], data["destinations"]
    document = manifest(base_registry, target.partition("/")[2], "1.0.0")
    assert document["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    base_layers = manifest(base_registry, BASE_REPOSITORY, BASE_TAG)["layers"]
    assert [layer["digest"] for layer in document["layers"][: len(base_layers)]] == [layer["digest"] for layer in base_layers]
    config = requests.get(f"{base_registry.url}/v2/{target.partition('/')[2]}/blobs/{document['config']['digest']}", timeout=10).json()
    assert config["config"]["Cmd"] == ["java", "-jar", "/app/app.jar"] and config["config"]["WorkingDir"] == "/app"
    assert "APP_VERSION=1.0.0" in config["config"]["Env"]
    assert config["config"]["Labels"]["org.opencontainers.image.version"] == "1.0.0"
    assert config["created"] == config["config"]["Labels"]["org.opencontainers.image.created"]

    assert run_image(engine, f"{target}:1.0.0") == HELLO_LINE
    engine_built, _ = build(project, tmp_path, "--engine", "buildkit", "--image", image_name, "--build-arg", base_arg(base_registry))
    assert engine.containers.run(f"{image_name}:latest", remove=True, network_mode="none").decode().strip() == HELLO_LINE
    assert engine_built["images"][0]["digest"] is None


def test_without_push_the_direct_image_is_loaded_into_the_engine(tmp_path, engine, image_name):
    project = copy_fixture("hello-service", tmp_path)
    data, _ = build(project, tmp_path, "--engine", "direct", "--image", image_name)
    [image] = data["images"]
    loaded = engine.images.get(f"{image_name}:latest")
    assert loaded.id == image["id"]  # the config digest is the engine's image id
    assert engine.containers.run(f"{image_name}:latest", remove=True, network_mode="none").decode().strip() == HELLO_LINE


def test_two_clean_checkouts_at_other_times_and_umasks_give_one_digest(tmp_path, base_registry):  # noqa: F811
    origin = copy_fixture("hello-service", tmp_path / "origin")
    git(origin, "init", "-q", "-b", "main")
    commit_all(origin, "fixture")
    target = f"{base_registry.host}/direct/repro-{uuid.uuid4().hex[:6]}"
    digests = []
    for n, umask in enumerate((0o022, 0o077)):
        checkout = tmp_path / f"checkout-{n}"
        subprocess.run(["git", "clone", "-q", str(origin), str(checkout)], check=True)
        before = os.umask(umask)  # the child inherits it: Maven's output and every file it writes
        try:
            data, _ = build(checkout, tmp_path, "--engine", "direct", "--build-arg", base_arg(base_registry), "--push", target, "-t", f"run{n}")
        finally:
            os.umask(before)
        digests.append(data["images"][0]["digest"])
        time.sleep(1.1)  # another second on the clock
    assert digests[0] == digests[1]
    assert manifest(base_registry, target.partition("/")[2], "run0") == manifest(base_registry, target.partition("/")[2], "run1")


def test_a_run_step_is_named_and_an_engine_builds_it_unless_direct_is_asked_for(tmp_path, registries, engine):  # noqa: F811
    project = copy_fixture("hello-service", tmp_path)
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("WORKDIR /app\n", "WORKDIR /app\nRUN echo hi > /hi\n"))
    line = dockerfile.read_text().splitlines().index("RUN echo hi > /hi") + 1
    target = f"{registries.a.host}/direct/run"
    data, out = build(project, tmp_path, "--push", target, "--network", "none")
    assert data["engine"].startswith("buildkit") and data["images"][0]["digest"] is None
    assert f"the direct builder cannot build this, so buildkit does: RUN (line {line})" in out
    assert registries.a.manifest_digest("direct/run", "latest") == data["destinations"][0]["digest"]

    refused, out = build(project, tmp_path, "--engine", "direct", "--push", target, code=2)
    assert refused["error"]["stage"] == "config" and f"RUN (line {line})" in refused["error"]["message"]
    assert "--engine auto" in refused["error"]["hint"]


def test_with_no_docker_engine_the_image_is_built_and_pushed(tmp_path, base_registry, registries, engine):  # noqa: F811
    project = copy_fixture("hello-service", tmp_path)
    target = f"{registries.a.host}/direct/nodaemon"
    data, out = build(project, tmp_path, "--build-arg", base_arg(base_registry), "--push", target, env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"})
    assert data["engine"] == "direct (no Docker engine)"
    assert registries.a.manifest_digest("direct/nodaemon", "latest") == data["images"][0]["digest"]
    assert run_image(engine, f"{target}:latest") == HELLO_LINE


def test_spring_boot_layers_and_a_one_line_change_uploads_only_the_classes_layer(tmp_path, base_registry, registries, engine):  # noqa: F811
    project = copy_fixture("spring-boot/layered-service", tmp_path / "p")
    git(project, "init", "-q", "-b", "main")
    commit_all(project, "fixture")
    target = f"{registries.a.host}/direct/layered"
    first, _ = build(project, tmp_path, "--build-arg", base_arg(base_registry), "--push", target)
    assert first["engine"].startswith("direct")
    document = manifest(registries.a, "direct/layered", "latest")
    base_count = len(manifest(base_registry, BASE_REPOSITORY, BASE_TAG)["layers"])
    own = document["layers"][base_count:]
    assert len(own) == 7  # WORKDIR, then dependencies, loader, snapshot-dependencies, project-dependencies, resources, classes
    dependencies, classes = own[1], own[6]
    assert dependencies["size"] > 1_000_000 > classes["size"]
    health = _health(engine, f"{target}:latest")
    assert health == {"status": "UP"}

    source = project / "src/main/java/com/example/boot/layered/RootController.java"
    text = source.read_text()
    changed = text.replace('body.put("version", version);', 'body.put("version", "v" + version);')
    assert changed != text, "the fixture's service name is not where the test expects it"
    source.write_text(changed)
    commit_all(project, "one line")
    before = stored_blobs(registries.a)
    second, _ = build(project, tmp_path, "--build-arg", base_arg(base_registry), "--push", target)
    after = stored_blobs(registries.a)
    new = {digest: size for digest, size in after.items() if digest not in before}
    document2 = manifest(registries.a, "direct/layered", "latest")
    own2 = document2["layers"][base_count:]
    assert [layer["digest"] for layer in own2[:6]] == [layer["digest"] for layer in own[:6]]
    assert own2[6]["digest"] != classes["digest"]
    # besides the classes layer, the config and the manifest: only the new image's SBOM and provenance (its own manifests and blobs)
    supply_chain = set()
    for attached in second["destinations"][0]["attached"]:
        artefact = manifest(registries.a, "direct/layered", attached["digest"])
        supply_chain |= {attached["digest"], artefact["config"]["digest"], *(layer["digest"] for layer in artefact["layers"])}
    assert {a["kind"] for a in second["destinations"][0]["attached"]} == {"sbom", "attestation"}
    assert set(new) == {own2[6]["digest"], document2["config"]["digest"], second["destinations"][0]["digest"]} | (supply_chain - set(before))
    image_bytes = sum(layer["size"] for layer in document2["layers"])
    assert own2[6]["size"] + sum(new[d] for d in supply_chain if d in new) < image_bytes / 100


def _health(engine: docker.DockerClient, reference: str) -> dict:
    engine.images.pull(reference)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    container = engine.containers.run(reference, detach=True, network_mode="host", environment={"SERVER_PORT": str(port), "SERVER_ADDRESS": "127.0.0.1"})
    try:
        give_up = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/actuator/health", timeout=5) as answer:
                    return json.loads(answer.read())
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                container.reload()
                if container.status == "exited" or time.monotonic() > give_up:
                    pytest.fail(f"{reference} did not answer:\n{container.logs(tail=30).decode(errors='replace')}")
                time.sleep(0.5)
    finally:
        container.remove(force=True)
        engine.images.remove(reference, force=True)


USER, PASSWORD = "base-reader", "b4se-Token-Pass"


def test_a_base_image_in_a_registry_that_needs_a_token(tmp_path, engine, registries):  # noqa: F811
    with TokenService(USER, PASSWORD) as tokens, TokenRegistry(tmp_path / "token-registry", tokens) as registry:
        base = f"{registry.host}/{BASE_REPOSITORY}"
        engine.api.tag(BASE_IMAGE, base, BASE_TAG)
        try:
            errors = [m for m in engine.api.push(base, BASE_TAG, stream=True, decode=True, auth_config={"username": USER, "password": PASSWORD}) if "error" in m]
        finally:
            engine.api.remove_image(f"{base}:{BASE_TAG}")
        assert not errors
        key = registry.host.upper().replace(".", "_").replace(":", "_")
        project = copy_fixture("hello-service", tmp_path / "p")
        target = f"{registries.a.host}/direct/tokenbase"
        env = {f"AUTOPACK_REGISTRY_USER_{key}": USER, f"AUTOPACK_REGISTRY_PASSWORD_{key}": PASSWORD}
        data, out = build(project, tmp_path, "--engine", "direct", "--build-arg", f"BASE_IMAGE={base}:{BASE_TAG}", "--push", target, env=env)
        assert PASSWORD not in out
        assert any("scope=repository%3Aautopack%2Fjre%3Apull" in seen.path for seen in tokens.seen)
    assert run_image(engine, f"{target}:latest") == HELLO_LINE
    assert data["destinations"][0]["digest"] == data["images"][0]["digest"]


def test_multi_stage_copy_from_between_run_less_stages(tmp_path, base_registry, registries, engine):  # noqa: F811
    project = copy_fixture("hello-service", tmp_path)
    (project / "config").mkdir()
    (project / "config" / "app.properties").write_text("greeting=hi\n")
    with open(project / ".dockerignore", "a") as ignore:
        ignore.write("!config/\n")
    (project / "Dockerfile").write_text(
        'ARG BASE_IMAGE=autopack/jre:17\nFROM scratch AS files\nARG ARTIFACT\nCOPY ${ARTIFACT} /out/app.jar\nCOPY config/ /out/config/\nFROM ${BASE_IMAGE}\nCOPY --from=files /out/ /app/\nCMD ["java", "-jar", "/app/app.jar"]\n'
    )
    target = f"{registries.a.host}/direct/stages"
    data, _ = build(project, tmp_path, "--engine", "direct", "--build-arg", base_arg(base_registry), "--push", target)
    document = manifest(registries.a, "direct/stages", "latest")
    base_count = len(manifest(base_registry, BASE_REPOSITORY, BASE_TAG)["layers"])
    assert len(document["layers"]) == base_count + 1  # the scratch stage's layers are not in the image
    layer = requests.get(f"{registries.a.url}/v2/direct/stages/blobs/{document['layers'][-1]['digest']}", timeout=30).content
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
        names = sorted(m.name.rstrip("/") for m in tar.getmembers())
    assert {"app/app.jar", "app/config/app.properties"} <= set(names)
    assert run_image(engine, f"{target}:latest") == HELLO_LINE


def _put_blob(registry: Registry, repository: str, data: bytes) -> dict:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    opened = requests.post(f"{registry.url}/v2/{repository}/blobs/uploads/", timeout=10)
    opened.raise_for_status()
    location = opened.headers["Location"]
    location = location if location.startswith("http") else registry.url + location
    done = requests.put(f"{location}{'&' if '?' in location else '?'}digest={digest}", data=data, timeout=30)
    done.raise_for_status()
    return {"digest": digest, "size": len(data)}


def _put_manifest(registry: Registry, repository: str, reference: str, document: dict, media_type: str) -> dict:
    body = json.dumps(document).encode()
    answer = requests.put(f"{registry.url}/v2/{repository}/manifests/{reference}", data=body, headers={"Content-Type": media_type}, timeout=10)
    answer.raise_for_status()
    return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(body).hexdigest(), "size": len(body)}


def test_two_platforms_share_the_application_layers_under_one_index(tmp_path, base_registry, engine):  # noqa: F811
    """The base index is made here: linux/amd64 is the real base image, linux/arm64 a
    one-layer stand-in (its config says arm64; it is never run)."""
    amd64 = manifest(base_registry, BASE_REPOSITORY, BASE_TAG)
    amd64_body = requests.get(f"{base_registry.url}/v2/{BASE_REPOSITORY}/manifests/{BASE_TAG}", headers={"Accept": amd64["mediaType"]}, timeout=10).content
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("etc/arm64-base")
        data = b"arm64\n"
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    diff_id = "sha256:" + hashlib.sha256(buffer.getvalue()).hexdigest()
    repository = "multi/jre"
    layer = _put_blob(base_registry, repository, gzip.compress(buffer.getvalue(), mtime=0))
    config = {"architecture": "arm64", "os": "linux", "variant": "v8", "config": {"Env": ["PATH=/usr/bin:/bin"]}, "rootfs": {"type": "layers", "diff_ids": [diff_id]}, "history": [{"created_by": "test"}]}
    config_blob = _put_blob(base_registry, repository, json.dumps(config).encode())
    arm64 = _put_manifest(
        base_registry,
        repository,
        "arm64",
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_blob},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}],
        },
        "application/vnd.oci.image.manifest.v1+json",
    )
    for blob in [amd64["config"], *amd64["layers"]]:  # the amd64 image into this repository, by mount
        requests.post(f"{base_registry.url}/v2/{repository}/blobs/uploads/?mount={blob['digest']}&from={BASE_REPOSITORY}", timeout=10).raise_for_status()
    answer = requests.put(f"{base_registry.url}/v2/{repository}/manifests/amd64", data=amd64_body, headers={"Content-Type": amd64["mediaType"]}, timeout=10)
    answer.raise_for_status()
    amd64_entry = {"mediaType": amd64["mediaType"], "digest": "sha256:" + hashlib.sha256(amd64_body).hexdigest(), "size": len(amd64_body)}
    _put_manifest(
        base_registry,
        repository,
        "17",
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{**amd64_entry, "platform": {"architecture": "amd64", "os": "linux"}}, {**arm64, "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}}]},
        OCI_INDEX,
    )

    project = copy_fixture("hello-service", tmp_path)
    target = f"{base_registry.host}/direct/multi"
    data, _ = build(project, tmp_path, "--platform", "linux/amd64,linux/arm64", "--build-arg", f"BASE_IMAGE={base_registry.host}/{repository}:17", "--push", target)
    [image] = data["images"]
    assert [p["platform"] for p in image["platforms"]] == ["linux/amd64", "linux/arm64/v8"]
    assert data["plannedImages"][0]["platforms"] == ["linux/amd64", "linux/arm64"]
    index = manifest(base_registry, "direct/multi", "latest")
    assert index["mediaType"] == OCI_INDEX and data["destinations"][0]["digest"] == image["digest"]
    assert [m["digest"] for m in index["manifests"]] == [p["digest"] for p in image["platforms"]]
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["amd64", "arm64"]
    images = [manifest(base_registry, "direct/multi", m["digest"]) for m in index["manifests"]]
    assert images[0]["layers"][: len(amd64["layers"])] == [{**l, "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"} for l in amd64["layers"]]
    assert images[1]["layers"][0]["digest"] == layer["digest"]
    own = [images[0]["layers"][len(amd64["layers"]) :], images[1]["layers"][1:]]
    assert own[0] == own[1] and len(own[0]) == 2  # WORKDIR and the jar: the same bytes on both platforms
    assert run_image(engine, f"{target}:latest") == HELLO_LINE  # the engine takes the host's platform from the index
    shutil.rmtree(project / "target", ignore_errors=True)
    remove_images(engine, target)


def test_a_plain_jar_is_layered_from_mavens_runtime_classpath_and_runs(tmp_path, base_registry, registries, engine):  # noqa: F811
    project = copy_fixture("layered-jar", tmp_path / "p")
    target = f"{registries.a.host}/direct/layered-jar"
    data, out = build(project, tmp_path, "--build-arg", base_arg(base_registry), "--push", target)
    assert data["engine"].startswith("direct")
    assert any((project / "target" / "dependency").glob("jackson-databind-*.jar")), "Maven copied no runtime classpath"
    document = manifest(registries.a, "direct/layered-jar", "latest")
    base_count = len(manifest(base_registry, BASE_REPOSITORY, BASE_TAG)["layers"])
    own = document["layers"][base_count:]
    assert len(own) == 7  # WORKDIR and the six layers; loader and the two other dependency layers hold only /app
    assert own[1]["size"] > 1_000_000  # jackson, in dependencies
    names = {}
    for layer in own[1:]:
        blob = requests.get(f"{registries.a.url}/v2/direct/layered-jar/blobs/{layer['digest']}", timeout=30).content
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
            names[layer["digest"]] = sorted(m.name for m in tar.getmembers() if m.isfile())
    dependencies, _, _, _, resources, classes = (names[layer["digest"]] for layer in own[1:])
    assert any(n.startswith("app/libs/jackson-databind-") for n in dependencies)
    assert resources == ["app/resources/greeting.txt"]
    assert "app/classes/com/example/layered/App.class" in classes
    assert run_image(engine, f"{target}:latest") == '{"service":"layered-jar","message":"Hello from a layered jar"}'


def test_docker_v2_manifests_where_a_registry_needs_them(tmp_path, base_registry, engine):  # noqa: F811
    project = copy_fixture("hello-service", tmp_path)
    target = f"{base_registry.host}/direct/v2"
    data, _ = build(project, tmp_path, "--engine", "direct", "--image-format", "docker", "--build-arg", base_arg(base_registry), "--push", target)
    document = manifest(base_registry, "direct/v2", "latest")
    assert document["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert document["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert {layer["mediaType"] for layer in document["layers"]} == {"application/vnd.docker.image.rootfs.diff.tar.gzip"}
    assert data["destinations"][0]["digest"] == data["images"][0]["digest"]
    assert run_image(engine, f"{target}:latest") == HELLO_LINE


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("--engine", "buildkit", "--platform", "linux/amd64,linux/arm64"), {}, "several platforms need the direct builder, not buildkit"),
        (("--engine", "buildkit", "--platform", "linux/arm64"), {}, "--platform linux/arm64 needs the direct builder"),
        (("--engine", "direct", "--load", "--platform", "linux/arm64"), {}, "--load: none of the platforms linux/arm64 runs here"),
        (("--engine", "direct", "--load"), {"DOCKER_HOST": "unix:///nonexistent/engine.sock"}, "--load needs a Docker engine"),
        (("--image-format", "v1"), {}, "--image-format 'v1' is not a format"),
        (("--platform", "amd64"), {}, "--platform 'amd64' is not os/architecture[/variant]"),
    ],
)
def test_direct_options_that_cannot_work_stop_before_maven(tmp_path, args, env, message):
    project = copy_fixture("hello-service", tmp_path)
    data, out = build(project, tmp_path, *args, env=env, code=2)
    assert message in data["error"]["message"], data["error"]
    assert [s["name"] for s in data["stages"] if s["status"] == "failed"] == ["plan"]
