"""The inputs-digest skip against the real engine, real Maven and real registries on loopback:
unchanged inputs skip Maven and the image build (with the reason), one changed file rebuilds,
a destination that lost the image gets a copy (and only it), a changed base image rebuilds,
``--force`` rebuilds, a dirty working copy is never labelled as its clean commit, and a
reactor builds only the modules whose inputs changed. Registries are asked directly (tests/
servers/registry.py), never through autopack."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
import requests

from tests.conftest import BASE_IMAGE, autopack, copy_fixture, git, remove_images
from tests.servers.fixtures import registries  # noqa: F401  (fixture)
from tests.servers.registry import MANIFEST_TYPES

pytestmark = pytest.mark.e2e
SKIP = {"AUTOPACK_FORCE": "0"}
APP = "src/main/java/com/example/hello/App.java"



def image_tags(registry, repository: str) -> list[str]:
    """The tags of images: not cosign's tags of the SBOM, provenance and signature attached to them."""
    return [t for t in registry.tags(repository) if not re.fullmatch(r"sha256-[0-9a-f]{64}\.(sig|att|sbom)", t)]

def unique_copy(name: str, tmp_path: Path, *, as_git: bool = False) -> Path:
    """A fixture copy whose inputs no other test's build shares (a resource file of its own):
    other tests build the same fixtures, and their images would be found as unchanged."""
    project = copy_fixture(name, tmp_path)
    (project / ".test-id").write_text(uuid.uuid4().hex + "\n")
    if as_git:
        git(project, "init", "-q", "-b", "main")
        git(project, "add", "-A")
        git(project, "commit", "-q", "-m", "fixture")
    return project


def build(project: Path, tmp_path: Path, *args: str | Path, env: dict[str, str] | None = None) -> tuple[dict, str]:
    result = tmp_path / f"result-{uuid.uuid4().hex[:6]}.json"
    run = autopack("build", project, "--skip-tests", "--plain", "--result-file", result, *args, env={**SKIP, **(env or {})})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    return json.loads(result.read_text()), run.stdout


def stage(data: dict, name: str) -> str:
    return next(s["status"] for s in data["stages"] if s["name"] == name)


def test_unchanged_source_skips_maven_and_build_then_one_changed_file_rebuilds(tmp_path, image_name):
    project = unique_copy("hello-service", tmp_path, as_git=True)
    sha = git(project, "rev-parse", "HEAD")
    first, _ = build(project, tmp_path, "--image", image_name)
    assert stage(first, "maven") == "ok" and first["images"][0]["reused"] is False
    inputs = first["images"][0]["inputs"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", inputs) and first["images"][0]["labels"]["io.autopack.inputs"] == inputs
    assert first["plannedImages"][0]["inputs"] == inputs and first["plannedImages"][0]["unchanged"] is None

    second, out = build(project, tmp_path, "--image", image_name, "-t", "{version}", "-t", "again")
    assert stage(second, "maven") == "skipped" and second["artifacts"] == [] and second["tests"] is None
    assert f"hello-service: unchanged since {sha}, inputs {inputs}" in out
    assert second["images"][0]["reused"] is True and second["images"][0]["id"] == first["images"][0]["id"]
    assert second["plannedImages"][0]["unchanged"]["since"] == sha
    assert "maven.log" not in json.dumps(second["logs"]), "Maven did not run, so it has no log"

    app = project / APP
    app.write_text(app.read_text().replace("final class App {", "final class App {\n    static final int CHANGED = 1;", 1))
    git(project, "commit", "-qam", "one change")
    third, _ = build(project, tmp_path, "--image", image_name)
    assert stage(third, "maven") == "ok" and third["images"][0]["reused"] is False
    assert third["images"][0]["inputs"] != inputs and third["images"][0]["id"] != first["images"][0]["id"]


def test_force_rebuilds(tmp_path, image_name):
    project = unique_copy("hello-service", tmp_path)
    build(project, tmp_path, "--image", image_name)
    forced, out = build(project, tmp_path, "--image", image_name, "--force")
    assert stage(forced, "maven") == "ok" and forced["images"][0]["reused"] is False
    assert "unchanged since" not in out


def test_a_changed_base_image_rebuilds(tmp_path, image_name, engine):
    base = f"autopack-test/base-{uuid.uuid4().hex[:8]}:1"
    project = unique_copy("hello-service", tmp_path)
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(re.sub(r"(?m)^FROM .*$", f"FROM {base}", dockerfile.read_text(), count=1))
    try:
        for flavour in ("one", "two"):
            (tmp_path / "base").mkdir(exist_ok=True)
            (tmp_path / "base" / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nLABEL flavour={flavour}\n")
            engine.images.build(path=str(tmp_path / "base"), tag=base, rm=True)
            data, _ = build(project, tmp_path, "--image", image_name)
            assert stage(data, "maven") == "ok", f"base flavour {flavour}: built, not reused"
            assert data["images"][0]["labels"].get("flavour") == flavour
        again, _ = build(project, tmp_path, "--image", image_name)
        assert stage(again, "maven") == "skipped", "the same base again: reused"
    finally:
        remove_images(engine, base.rpartition(":")[0])


def test_dirty_working_copy_is_marked_and_never_taken_for_its_commit(tmp_path, image_name):
    project = unique_copy("hello-service", tmp_path, as_git=True)
    sha = git(project, "rev-parse", "HEAD")
    clean, _ = build(project, tmp_path, "--image", image_name, "-t", "{revision}")
    assert clean["source"]["dirty"] is False and clean["images"][0]["labels"]["org.opencontainers.image.revision"] == sha

    (project / "NOTES.txt").write_text("an untracked file the commit does not have\n")
    dirty, _ = build(project, tmp_path, "--image", image_name, "-t", "{revision}")
    assert dirty["source"]["dirty"] is True and dirty["source"]["revision"] == sha
    assert dirty["images"][0]["labels"]["org.opencontainers.image.revision"] == f"{sha}-dirty"
    assert dirty["images"][0]["tags"] == [f"{image_name}:{sha[:8]}-dirty"]
    assert stage(dirty, "maven") == "ok" and dirty["images"][0]["inputs"] != clean["images"][0]["inputs"]

    (project / "NOTES.txt").unlink()
    again, out = build(project, tmp_path, "--image", image_name, "-t", "{revision}")
    assert again["source"]["dirty"] is False and stage(again, "maven") == "skipped"
    assert again["images"][0]["id"] == clean["images"][0]["id"], "the clean commit's own image, not the dirty one"
    assert f"unchanged since {sha}," in out


def test_push_skip_is_checked_in_every_registry_and_copies_only_where_lost(tmp_path, image_name, registries):  # noqa: F811
    a, _, c = registries
    project = unique_copy("hello-service", tmp_path, as_git=True)
    sha = git(project, "rev-parse", "HEAD")
    destinations = ("--push", f"{a.host}/team/hello", "--push", f"{c.host}/team/hello")
    first, _ = build(project, tmp_path, "--image", image_name, *destinations)
    digest = first["destinations"][0]["digest"]
    inputs = first["images"][0]["inputs"]
    inputs_tag = "inputs-sha256-" + inputs.removeprefix("sha256:")
    assert {d["inputsTag"] for d in first["destinations"]} == {inputs_tag}
    for registry in (a, c):
        assert image_tags(registry, "team/hello") == sorted(["1.0.0", inputs_tag])
        assert registry.manifest_digest("team/hello", inputs_tag) == digest

    # c loses the image (its manifest deleted, and with it every tag); the engine's copy goes too
    response = requests.delete(f"{c.url}/v2/team/hello/manifests/{digest}", timeout=10)
    assert response.status_code == 202, response.text
    assert c.manifest_digest("team/hello", "1.0.0") is None
    remove_images_by_id(first["images"][0]["id"])

    second, out = build(project, tmp_path, "--image", image_name, "-t", "{version}", "-t", "stable", *destinations)
    assert stage(second, "maven") == "skipped" and stage(second, "image") == "ok"
    assert f"hello-service: unchanged since {sha}, inputs {inputs} (copying to {c.host}/team/hello)" in out
    held = {d["registry"]: d for d in second["destinations"]}
    assert held[a.host]["unchangedTags"] == ["1.0.0"] and held[a.host]["tags"] == ["stable"], "a: only the new tag"
    assert held[c.host]["tags"] == ["1.0.0", "stable"] and held[c.host]["unchangedTags"] == []
    assert held[a.host]["inputsTag"] == held[c.host]["inputsTag"] == inputs_tag
    for registry in (a, c):
        for t in ("1.0.0", "stable", inputs_tag):
            assert registry.manifest_digest("team/hello", t) == digest, f"{registry.name}:{t}"
    assert second["plannedImages"][0]["unchanged"]["heldBy"] == {f"{a.host}/team/hello": digest}
    assert first["images"][0]["digest"] == second["images"][0]["digest"] == digest  # built directly, then found: one digest, known before the push


def remove_images_by_id(image_id: str) -> None:
    """The local copy goes too, where there is one (the direct builder loads none with --push)."""
    import docker

    try:
        docker.from_env().images.remove(image_id, force=True)
    except docker.errors.ImageNotFound:
        pass


def test_a_registry_that_holds_other_content_under_the_tag_is_not_believed(tmp_path, image_name, registries):  # noqa: F811
    """The label is what counts: an image under the planned tag with other inputs is rebuilt."""
    a, _, _ = registries
    project = unique_copy("hello-service", tmp_path)
    build(project, tmp_path, "--image", image_name, "--push", f"{a.host}/team/hello", "--no-inputs-tag")
    app = project / APP
    app.write_text(app.read_text().replace("final class App {", "final class App {\n    static final int CHANGED = 2;", 1))
    data, out = build(project, tmp_path, "--image", image_name, "--push", f"{a.host}/team/hello", "--no-inputs-tag")
    assert stage(data, "maven") == "ok" and "unchanged since" not in out
    assert image_tags(a, "team/hello") == ["1.0.0"]
    manifest = requests.get(f"{a.url}/v2/team/hello/manifests/1.0.0", headers={"Accept": MANIFEST_TYPES}, timeout=10).json()
    assert manifest["config"]["digest"] == data["images"][0]["id"]


def test_reactor_builds_only_the_modules_whose_inputs_changed(tmp_path, image_name):
    project = unique_copy("multi-module", tmp_path, as_git=True)
    first, _ = build(project, tmp_path, "--image", image_name)
    modules = sorted(i["module"] for i in first["images"])
    assert len(modules) >= 3 and not any(i["reused"] for i in first["images"])
    echo = next(project.glob("echo/src/main/java/**/*.java"))
    echo.write_text(echo.read_text() + "\n// changed\n")
    second, out = build(project, tmp_path, "--image", image_name)
    reused = {i["module"]: i["reused"] for i in second["images"]}
    assert [m for m, r in reused.items() if not r] == ["echo"], reused
    assert re.search(r"\$ mvn .*--projects echo --also-make", out), out[-2000:]
    assert stage(second, "maven") == "ok"
    # lib is what greeter needs: a change there rebuilds greeter (and only it)
    lib = next(project.glob("lib/src/main/java/**/*.java"))
    lib.write_text(lib.read_text() + "\n// changed\n")
    third, out = build(project, tmp_path, "--image", image_name)
    assert sorted(i["module"] for i in third["images"] if not i["reused"]) == ["greeter"]
    assert re.search(r"\$ mvn .*--projects greeter --also-make", out), out[-2000:]
