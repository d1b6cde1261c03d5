"""Multi-module reactors end to end: one Maven run, one image per service module."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import autopack, copy_fixture, images_named, remove_images
from tests.servers.fixtures import registries  # noqa: F401  (fixture)

pytestmark = pytest.mark.e2e
LINES = {
    "greeter": '{"service":"greeter","version":"2.1.0","message":"Hello greeter, from lib"}',
    "echo": '{"service":"echo","version":"2.1.0","message":"Echo from echo"}',
    "clock": '{"service":"clock","version":"2.1.0","message":"Tick from clock"}',
}


def test_every_service_becomes_a_running_image_and_is_pushed_under_its_name(tmp_path, engine, image_name, registries):  # noqa: F811
    a, _, _ = registries
    project = copy_fixture("multi-module", tmp_path)
    run = autopack("build", project, "--image", image_name, "--push", f"{a.host}/team", "--load", "--json", "--jobs", "2")  # --load: pushed, and run here
    assert run.returncode == 0, run.stderr[-3000:]
    data = json.loads(run.stdout)
    assert [i["module"] for i in data["images"]] == ["greeter", "echo", "clock"]  # Maven's build order
    for image in data["images"]:
        module = image["module"]
        assert image["tags"] == [f"{image_name}/{module}:2.1.0"]
        assert image["labels"]["org.opencontainers.image.version"] == "2.1.0"
        assert image["artifact"].endswith(f"{module}-2.1.0.jar") and "original-" not in image["artifact"]
        assert engine.containers.run(image["tags"][0], remove=True).decode().strip() == LINES[module]
        [destination] = [d for d in data["destinations"] if d["module"] == module]
        assert destination["destination"] == f"{a.host}/team/{module}"
        assert a.manifest_digest(f"team/{module}", "2.1.0") == destination["digest"]
    assert data["tests"]["run"] >= 3
    for module in LINES:
        remove_images(engine, f"{image_name}/{module}")


def test_module_selects_one_service_and_maven_builds_only_what_it_needs(tmp_path, engine, image_name):
    project = copy_fixture("multi-module", tmp_path)
    run = autopack("build", project, "--image", image_name, "--module", "services/clock", "--json", "-v")
    assert run.returncode == 0, run.stderr[-3000:]
    data = json.loads(run.stdout)
    assert [i["module"] for i in data["images"]] == ["clock"]
    assert "--projects services/clock --also-make" in run.stderr
    log = open(data["logs"]["maven"]).read()
    built = re.findall(r"^\[INFO\] Building (.+?) 2\.1\.0", log, re.MULTILINE)
    assert built == ["Multi-module fixture", "services", "clock"], built  # Maven's own account: no lib, no greeter, no echo
    # named as in a build of the whole reactor: selecting a module does not rename its image
    assert images_named(engine, f"{image_name}/clock") == [f"{image_name}/clock:2.1.0"]
    assert images_named(engine, f"{image_name}/greeter") == [] and images_named(engine, f"{image_name}/echo") == []
    assert engine.containers.run(f"{image_name}/clock:2.1.0", remove=True).decode().strip() == LINES["clock"]
    remove_images(engine, f"{image_name}/clock")


def test_a_failing_module_is_named_and_the_images_already_built_are_reported(tmp_path, engine, image_name):
    project = copy_fixture("broken/multi-module-compile-error", tmp_path)
    result_file = tmp_path / "result.json"
    run = autopack("build", project, "--image", image_name, "--result-file", result_file)
    assert run.returncode == 4
    last = run.stderr.splitlines()[-1]
    assert "Maven failed in module clock" in last and "App.java:[26,21]" in last
    data = json.loads(result_file.read_text())
    assert [i["module"] for i in data["images"]] == ["greeter"]
    assert images_named(engine, f"{image_name}/greeter") == [f"{image_name}/greeter:2.1.0"]
    assert images_named(engine, f"{image_name}/clock") == []
    remove_images(engine, f"{image_name}/greeter")


def test_unknown_and_library_modules_are_refused_before_maven(tmp_path):
    project = copy_fixture("multi-module", tmp_path)
    unknown = autopack("build", project, "--module", "billing")
    assert unknown.returncode == 2 and "billing" in unknown.stderr.splitlines()[-1] and "greeter" in unknown.stderr.splitlines()[-1]
    library = autopack("build", project, "--module", "lib")
    assert library.returncode == 2 and "library" in library.stderr.splitlines()[-1]
    assert not (project / "lib" / "target").exists()


def test_two_modules_with_one_reference_are_refused_before_maven(tmp_path, image_name):
    project = copy_fixture("multi-module", tmp_path)
    same_tag = autopack("build", project, "-t", f"{image_name}:{{version}}", "--result-file", tmp_path / "r.json")
    line = same_tag.stderr.splitlines()[-1]
    assert same_tag.returncode == 2, same_tag.stderr[-2000:]
    assert re.search(rf"modules greeter and echo would both be {re.escape(image_name)}:2\.1\.0", line), line
    assert [s["name"] for s in json.loads((tmp_path / "r.json").read_text())["stages"]] == ["source", "plan"]
    assert not (project / "greeter" / "target").exists()  # Maven never ran

    # Two modules sharing one artifactId (in different groups) would push to one repository.
    twin = project / "echo" / "pom.xml"
    twin.write_text(twin.read_text().replace("<artifactId>echo</artifactId>", "<groupId>com.example.twin</groupId>\n  <artifactId>greeter</artifactId>", 1))
    shared = autopack("build", project, "--image", image_name, "--push", "127.0.0.1:1/team", "--no-preflight")
    assert shared.returncode == 2, shared.stderr[-2000:]
    assert "would both be" in shared.stderr.splitlines()[-1] and "greeter" in shared.stderr.splitlines()[-1], shared.stderr[-500:]
