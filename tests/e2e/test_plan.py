"""``autopack plan`` and ``build --dry-run`` against the real engine and real registries:
the plan names the images, tags, destinations, credential sources (never a credential), the
engine, the inputs digest and what would be skipped; it changes nothing (no Maven, no image,
no push, no log directory); and ``build`` with the same options then does exactly that."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from tests.conftest import autopack, copy_fixture, git, images_named
from tests.servers.fixtures import B_PASSWORD, B_USER, registries  # noqa: F401  (fixture)

pytestmark = pytest.mark.e2e
SKIP = {"AUTOPACK_FORCE": "0"}  # the skip is part of what a plan says


def b_env(registry) -> dict[str, str]:
    key = re.sub(r"[^A-Z0-9]", "_", registry.host.upper())
    return {f"AUTOPACK_REGISTRY_USER_{key}": B_USER, f"AUTOPACK_REGISTRY_PASSWORD_{key}": B_PASSWORD}


def unique_git_copy(name: str, tmp_path: Path) -> Path:
    """A fixture copy with inputs of its own (other tests build the same fixture), committed."""
    project = copy_fixture(name, tmp_path)
    (project / ".test-id").write_text(uuid.uuid4().hex + "\n")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "fixture")
    return project


def plan(project: Path, *args: str, env: dict[str, str] | None = None) -> tuple[dict, str]:
    run = autopack("plan", project, "--json", *args, env={**SKIP, **(env or {})})
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout), run.stderr


def build(project: Path, *args: str, env: dict[str, str] | None = None) -> dict:
    run = autopack("build", project, "--json", "--skip-tests", *args, env={**SKIP, **(env or {})})
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def test_a_plan_says_everything_and_changes_nothing(tmp_path, engine, image_name, registries):  # noqa: F811
    a, b, _ = registries
    project = unique_git_copy("hello-service", tmp_path)
    sha = git(project, "rev-parse", "HEAD")
    logs = tmp_path / "logs"
    args = ("--image", image_name, "-t", "{version}", "-t", "{version}-{revision}", "--push", f"{a.host}/team/hello", "--push", f"{b.host}/team/hello", "--log-dir", str(logs))
    cache = tmp_path / "cache"
    data, stderr = plan(project, *args, env={**b_env(b), "AUTOPACK_CACHE_DIR": str(cache)})

    assert data["kind"] == "autopack-plan" and data["status"] == "ok" and data["exitCode"] == 0
    assert data["source"]["revision"] == sha and data["source"]["kind"] == "local"
    (image,) = data["images"]
    assert image["references"] == [f"{image_name}:1.0.0", f"{image_name}:1.0.0-{sha[:8]}"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image["inputs"]) and image["labels"]["io.autopack.inputs"] == image["inputs"]
    assert image["labels"]["org.opencontainers.image.revision"] == sha
    assert image["skip"] is None, "nothing was built with these inputs yet"
    held = {d["destination"]: d for d in image["destinations"]}
    assert held[f"{a.host}/team/hello"]["credentialSource"] is None and held[f"{a.host}/team/hello"]["pushChecked"]
    key = re.sub(r"[^A-Z0-9]", "_", b.host.upper())
    assert held[f"{b.host}/team/hello"]["credentialSource"] == f"AUTOPACK_REGISTRY_USER_{key}/AUTOPACK_REGISTRY_PASSWORD_{key}"
    assert "1.0.0" in held[f"{b.host}/team/hello"]["tags"]
    assert data["maven"]["runs"] and data["maven"]["command"][-3:-1] == ["clean", "package"]
    assert data["maven"]["command"][-1].endswith("maven-dependency-plugin:3.8.1:list"), "the SBOM's goal, added by the plan"
    assert data["supplyChain"]["sbom"] and data["supplyChain"]["provenance"], "with --push an SBOM and provenance are planned"
    assert [s["status"] for s in data["stages"]] == ["ok", "ok", "skipped", "skipped", "skipped"]
    assert B_PASSWORD not in json.dumps(data) + stderr

    # nothing happened: no Maven (no target/), no image, no tag in either registry, no log
    # directory, nothing in the cache (the direct builder's base image read, not saved)
    assert data["engine"].startswith("direct"), "with --push and no --load, auto picks the direct builder"
    assert [p for p in cache.rglob("*") if not p.is_dir()] == []
    assert not (project / "target").exists()
    assert images_named(engine, image_name) == []
    assert a.tags("team/hello") == [] and b.tags("team/hello") == []
    assert not logs.exists()


def test_build_does_what_the_plan_said_and_the_next_plan_sees_the_skip(tmp_path, image_name, registries):  # noqa: F811
    a, _, c = registries
    project = unique_git_copy("hello-service", tmp_path)
    args = ("--image", image_name, "--push", f"{a.host}/team/hello", "--push", f"{c.host}/team/hello")
    planned, _ = plan(project, *args)
    built = build(project, *args)

    (image,) = planned["images"]
    assert built["plannedImages"][0]["references"] == image["references"] == built["images"][0]["tags"]
    assert built["images"][0]["inputs"] == image["inputs"], "the build's inputs digest is the plan's"
    assert built["engine"] == planned["engine"]
    assert {d["destination"] for d in built["destinations"]} == {d["destination"] for d in image["destinations"]}
    for destination in built["destinations"]:
        planned_tags = next(d["tags"] for d in image["destinations"] if d["destination"] == destination["destination"])
        assert sorted([*destination["tags"], destination["inputsTag"]]) == sorted(planned_tags)
    labels = built["images"][0]["labels"]
    assert {k: labels[k] for k in image["labels"]} == image["labels"], "the same labels, created time included"

    # now the image exists with these inputs: the plan says it would be skipped, and the build skips it
    again, stderr = plan(project, *args)
    skip = again["images"][0]["skip"]
    assert skip is not None and skip["since"] == git(project, "rev-parse", "HEAD")
    assert set(skip["heldBy"]) == {f"{a.host}/team/hello", f"{c.host}/team/hello"}
    assert not again["maven"]["runs"]
    rebuilt = build(project, *args)
    assert rebuilt["images"][0]["reused"] and next(s for s in rebuilt["stages"] if s["name"] == "maven")["status"] == "skipped"
    assert set(skip["heldBy"].values()) == {d["digest"] for d in built["destinations"]}


def test_build_dry_run_is_the_plan(tmp_path, image_name):
    project = copy_fixture("multi-module", tmp_path)
    planned, _ = plan(project, "--image", "team")
    run = autopack("build", project, "--dry-run", "--json", "--image", "team", env=SKIP)
    assert run.returncode == 0, run.stderr[-2000:]
    dry = json.loads(run.stdout)

    def shape(data: dict) -> dict:
        """Without what differs by the clock: stage times, and the created label of a directory
        that is not a commit (a commit's time would be the same in both)."""
        images = [{**i, "labels": {k: v for k, v in i["labels"].items() if k != "org.opencontainers.image.created"}} for i in data["images"]]
        return {**data, "images": images, "stages": [s["name"] for s in data["stages"]]}

    assert shape(dry) == shape(planned)
    assert len(planned["images"]) >= 2 and all(i["references"][0].startswith("team/") for i in planned["images"])
    assert not any((project / m / "target").exists() for m in ("", "lib", "services"))


def test_a_plan_that_cannot_work_fails_like_the_build_would(tmp_path):
    project = copy_fixture("hello-service", tmp_path)
    run = autopack("plan", project, "--json", "-t", "bad tag!")
    assert run.returncode == 2
    data = json.loads(run.stdout)
    assert data["status"] == "failed" and data["error"]["stage"] == "config" and "tag" in data["error"]["message"]
    assert run.stderr.strip().splitlines()[-1].startswith("autopack: error:"), run.stderr

    dotenv = autopack("build", project, "--dry-run", "--dotenv", tmp_path / "x.env")
    assert dotenv.returncode == 2 and "--dotenv" in dotenv.stderr and not (tmp_path / "x.env").exists()


def test_the_plan_schema_is_published(tmp_path):
    run = autopack("schema", "--plan")
    assert run.returncode == 0
    schema = json.loads(run.stdout)
    assert schema["title"] == "autopack plan" and "images" in schema["required"]
    human = autopack("plan", copy_fixture("hello-service", tmp_path), "--plain", "--image", "shown-plan")
    assert human.returncode == 0, human.stderr
    for key in ("result:", "source:", "engine:", "image:", "inputs:", "would:", "maven:"):
        assert key in human.stdout, human.stdout
    assert "shown-plan:1.0.0" in human.stdout and "planned: nothing was built or pushed" in human.stdout
