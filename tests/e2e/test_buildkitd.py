"""``--builder`` / ``BUILDKIT_HOST``: the whole build on a standalone BuildKit daemon (built by
scripts/buildkit from the Go module proxy). The daemon pushes the first destination itself,
the push stage copies that to the others, and one digest is verified everywhere; with a Docker
engine the image is loaded there too, without one it lives only in the registries."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from autopack.push.credentials import env_key
from tests.conftest import autopack, copy_fixture, images_named
from tests.servers.buildkitd import BASE_REPOSITORY, BASE_TAG, base_registry, buildkitd  # noqa: F401  (fixtures)
from tests.servers.fixtures import B_PASSWORD, B_USER, registries  # noqa: F401  (fixture)

pytestmark = pytest.mark.e2e


def _env(daemon) -> dict[str, str]:
    return {"PATH": f"{Path(daemon.buildctl).parent}:{os.environ['PATH']}"}


def test_a_buildkit_daemon_builds_pushes_the_first_destination_and_the_others_get_a_copy(tmp_path, engine, image_name, buildkitd, base_registry, registries):  # noqa: F811
    a, b, _ = registries
    project = copy_fixture("hello-service", tmp_path)
    login = {f"AUTOPACK_REGISTRY_USER_{env_key(b.host)}": B_USER, f"AUTOPACK_REGISTRY_PASSWORD_{env_key(b.host)}": B_PASSWORD}
    run = autopack(
        "build", project, "--image", image_name, "--build-arg", f"BASE_IMAGE={base_registry.ref(BASE_REPOSITORY, BASE_TAG)}",
        "--push", f"{b.host}/team/hello", "--push", f"{a.host}/team/hello", "--json",
        env={**_env(buildkitd), "BUILDKIT_HOST": buildkitd.tcp, **login},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert B_PASSWORD not in run.stdout + run.stderr
    data = json.loads(run.stdout)
    assert data["engine"].startswith(f"buildkitd at {buildkitd.tcp} (Docker engine "), data["engine"]
    assert f"pushed by the builder: {b.host}/team/hello:1.0.0" in run.stderr  # with b's login
    [image] = data["images"]
    digests = {d["destination"]: d["digest"] for d in data["destinations"]}
    assert [d["status"] for d in data["destinations"]] == ["ok", "ok"] and len(set(digests.values())) == 1, data["destinations"]
    assert a.manifest_digest("team/hello", "1.0.0") == b.manifest_digest("team/hello", "1.0.0") == digests[f"{b.host}/team/hello"]
    # Loaded into the engine that answers, with its tags and labels; and it runs.
    assert images_named(engine, image_name) == [f"{image_name}:1.0.0"]
    local = engine.images.get(f"{image_name}:1.0.0")
    assert local.id == image["id"] and local.labels["org.opencontainers.image.version"] == "1.0.0"
    assert "Hello from autopack" in engine.containers.run(local.id, remove=True).decode()


def test_without_a_docker_engine_the_daemon_builds_straight_into_the_registry(tmp_path, engine, image_name, buildkitd, base_registry, registries):  # noqa: F811
    a, _, b = registries
    project = copy_fixture("hello-service", tmp_path)
    no_engine = {**_env(buildkitd), "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    base = f"BASE_IMAGE={base_registry.ref(BASE_REPOSITORY, BASE_TAG)}"

    nowhere = autopack("build", project, "--builder", buildkitd.unix, "--build-arg", base, env=no_engine)
    assert nowhere.returncode == 2, nowhere.stderr[-2000:]
    assert "needs somewhere to push the image" in nowhere.stderr.splitlines()[-1]
    assert not (project / "target").exists()  # refused before Maven

    run = autopack("build", project, "--builder", buildkitd.unix, "--build-arg", base, "--image", image_name, "--push", f"{a.host}/team/hello", "--push", f"{b.host}/team/hello", "--json", env=no_engine)
    assert run.returncode == 0, run.stderr[-3000:]
    data = json.loads(run.stdout)
    assert data["engine"] == f"buildkitd at {buildkitd.unix} (no Docker engine)"
    [image] = data["images"]
    assert [d["status"] for d in data["destinations"]] == ["ok", "ok"]
    assert a.manifest_digest("team/hello", "1.0.0") == b.manifest_digest("team/hello", "1.0.0") == data["destinations"][0]["digest"]
    assert images_named(engine, image_name) == []  # nothing reached the (real, other) engine
