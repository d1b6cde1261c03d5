"""`autopack doctor` through the installed command: on this machine with the engine running
(every check ✓, exit 0, the JSON shape), with the engine stopped as a client sees it (a
socket nobody listens on: exit 2, the fix named), and with a destination on a real registry
(htpasswd) with and without credentials (the credential's source shown, push allowed ✓ or
denied ✗, never the password). Settings come from the same places as `build`'s."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
from pathlib import Path

import jsonschema
import pytest

from autopack.ui.doctor import SCHEMA
from tests.conftest import AUTOPACK, autopack, copy_fixture
from tests.servers.fixtures import B_PASSWORD, B_USER, registries  # noqa: F401  (fixture)
from tests.test_startup import HEAVY_MODULES, HEAVY_PACKAGES, loaded

pytestmark = pytest.mark.e2e
ROW = re.compile(r"^(?P<mark>[✓✗!–]) (?P<name>.+?)  +(?P<detail>.*)$")
MACHINE_CHECKS = {"settings", "project", "Docker engine", "engine API", "storage driver", "BuildKit", "buildah", "direct builder", "builder", "Maven", "Java", "git", "svn backend", "cache", "free disk"}
ENGINE_FIX = "start one (`sudo systemctl start docker`, or scripts/engine start in this repository), set DOCKER_HOST, or install buildah"


def rows(stdout: str) -> dict[str, tuple[str, str]]:
    """name → (mark, detail) of each row of the plain output."""
    found = {}
    for line in stdout.splitlines():
        if m := ROW.match(line):
            found[m["name"].strip()] = (m["mark"], m["detail"])
    return found


def checks(stdout: str) -> dict[str, dict]:
    document = json.loads(stdout)
    jsonschema.validate(document, SCHEMA)
    return {c["name"]: c for c in document["checks"]}


def dead_socket(path: Path) -> Path:
    """A unix socket file nobody listens on: a stopped engine as its clients see it."""
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
    return path


def env_login(registry, password: str = B_PASSWORD) -> dict[str, str]:
    key = re.sub(r"[^A-Z0-9]", "_", registry.host.upper())
    return {f"AUTOPACK_REGISTRY_USER_{key}": B_USER, f"AUTOPACK_REGISTRY_PASSWORD_{key}": password}


def test_healthy_machine_every_check_passes(tmp_path, engine, registries):  # noqa: F811
    a, _, _ = registries
    project = copy_fixture("hello-service", tmp_path)
    run = autopack("doctor", "--push", f"{a.host}/team/hello", cwd=project)
    assert run.returncode == 0, run.stdout + run.stderr
    found = rows(run.stdout)
    assert MACHINE_CHECKS | {"base autopack/jre:17", f"{a.host}/team/hello"} <= set(found), run.stdout
    assert {name: mark for name, (mark, _) in found.items() if mark != "✓"} == {}, run.stdout
    assert "com.example:hello-service:1.0.0" in found["project"][1]
    assert "in the Docker engine" in found["base autopack/jre:17"][1]
    assert found[f"{a.host}/team/hello"][1] == "no credential (anonymous); push allowed"
    assert run.stdout.rstrip().endswith("every check passed")
    assert a.repositories() == [], "the pre-flight leaves nothing behind"


def test_json_has_the_documented_shape(tmp_path, engine):
    project = copy_fixture("hello-service", tmp_path)
    run = autopack("doctor", project, "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    document = json.loads(run.stdout)
    jsonschema.validate(document, SCHEMA)
    assert (document["kind"], document["version"], document["ok"], document["exitCode"]) == ("autopack-doctor", 1, True, 0)
    by_name = {c["name"]: c for c in document["checks"]}
    assert MACHINE_CHECKS <= set(by_name)
    assert by_name["push"]["status"] == "skip", "no destination configured: absent, not failed"
    assert all(c["status"] in ("ok", "skip") for c in document["checks"]), document
    assert by_name["builder"]["detail"].startswith("--engine auto: ")
    # the same checks as the plain output, one row each
    plain = rows(autopack("doctor", project, "--plain").stdout)
    assert set(plain) == set(by_name)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**document, "exitCode": 1}, SCHEMA)


def test_stopped_engine_fails_with_the_fix(tmp_path, engine):
    project = copy_fixture("hello-service", tmp_path)
    host = f"unix://{dead_socket(tmp_path / 'docker.sock')}"
    run = autopack("doctor", project, env={"DOCKER_HOST": host})
    assert run.returncode == 2, run.stdout + run.stderr
    found = rows(run.stdout)
    mark, detail = found["Docker engine"]
    assert mark == "✗" and "no Docker engine answers" in detail and host in detail
    assert f"fix: {ENGINE_FIX}" in run.stdout
    assert "a build would not work as configured (exit 2)" in run.stdout
    # --docker-host says the same, as build takes it; --json carries the fix
    document = checks(autopack("doctor", project, "--docker-host", host, "--json").stdout)
    assert document["Docker engine"]["status"] == "fail" and document["Docker engine"]["fix"] == ENGINE_FIX
    assert "engine API" not in document, "nothing to ask an engine that does not answer"


def test_engine_named_but_absent_socket_with_buildah(tmp_path, engine):
    """No socket file: --engine auto picks buildah, as a build would; the Docker engine is
    then not needed, and the base image missing from buildah's store is a warning."""
    project = copy_fixture("hello-service", tmp_path)
    document = checks(autopack("doctor", project, "--docker-host", f"unix://{tmp_path / 'none.sock'}", "--json").stdout)
    assert document["Docker engine"]["status"] == "skip"
    assert document["builder"]["detail"].startswith("--engine auto: buildah")
    run = autopack("doctor", project, "--docker-host", f"unix://{tmp_path / 'none.sock'}", "--engine", "docker-api", "--json")
    assert run.returncode == 2
    assert checks(run.stdout)["builder"]["status"] == "fail"


def test_destination_with_and_without_credentials(tmp_path, registries):  # noqa: F811
    _, b, _ = registries
    project = copy_fixture("hello-service", tmp_path)
    destination = f"{b.host}/team/hello"
    anonymous = autopack("doctor", project, "--push", destination)
    assert anonymous.returncode == 2, anonymous.stdout + anonymous.stderr
    mark, detail = rows(anonymous.stdout)[destination]
    assert mark == "✗" and detail.startswith("no credential (anonymous); push not allowed: ")
    assert "fix: " in anonymous.stdout.split(destination, 1)[1]

    key = re.sub(r"[^A-Z0-9]", "_", b.host.upper())
    granted = autopack("doctor", project, "--push", destination, env=env_login(b))
    assert granted.returncode == 0, granted.stdout + granted.stderr
    mark, detail = rows(granted.stdout)[destination]
    assert (mark, detail) == ("✓", f"credential from AUTOPACK_REGISTRY_USER_{key}/AUTOPACK_REGISTRY_PASSWORD_{key}; push allowed")

    planted = "Wr0ng-B-pa55word"
    wrong = autopack("doctor", project, "--push", destination, "--json", env=env_login(b, planted))
    assert wrong.returncode == 2
    row = checks(wrong.stdout)[destination]
    assert row["status"] == "fail" and "push not allowed" in row["detail"] and row["fix"]

    auth_file = tmp_path / "auth.json"
    auth_file.write_text(json.dumps({"auths": {b.host: {"auth": base64.b64encode(f"{B_USER}:{B_PASSWORD}".encode()).decode()}}}))
    from_file = autopack("doctor", project, "--push", destination, "--registry-auth-file", auth_file, "--json")
    assert from_file.returncode == 0, from_file.stdout + from_file.stderr
    assert checks(from_file.stdout)[destination]["detail"] == "credential from --registry-auth-file auths; push allowed"

    for run in (anonymous, granted, wrong, from_file):
        text = run.stdout + run.stderr
        assert B_PASSWORD not in text and planted not in text
        assert base64.b64encode(f"{B_USER}:{B_PASSWORD}".encode()).decode() not in text
    assert b.repositories() == [], "the pre-flight leaves nothing behind"


def test_settings_come_from_autopack_toml_as_for_build(tmp_path, registries):  # noqa: F811
    a, _, _ = registries
    project = copy_fixture("hello-service", tmp_path)
    (project / "autopack.toml").write_text(f'destinations = ["{a.host}/team/from-toml"]\nengine = "docker-api"\n')
    document = checks(autopack("doctor", "--json", cwd=project).stdout)
    assert document[f"{a.host}/team/from-toml"]["status"] == "ok"
    assert document["builder"]["detail"].startswith("--engine docker-api: docker-api")
    assert str(project / "autopack.toml") in document["settings"]["detail"]
    # AUTOPACK_* beats the file, as it does for build
    document = checks(autopack("doctor", "--json", cwd=project, env={"AUTOPACK_ENGINE": "auto"}).stdout)
    assert document["builder"]["detail"].startswith("--engine auto: ")

    (project / "autopack.toml").write_text("engine = [not toml\n")
    broken = autopack("doctor", "--json", cwd=project)
    assert broken.returncode == 2
    document = checks(broken.stdout)
    assert document["settings"]["status"] == "fail" and "is not valid TOML" in document["settings"]["detail"]
    assert document["Docker engine"]["status"] == "ok", "the other checks still run"


def test_nothing_is_made_or_changed(tmp_path, engine):
    project = copy_fixture("hello-service", tmp_path)
    cache_dir = tmp_path / "no-cache-yet" / "autopack"
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    document = checks(autopack("doctor", project, "--json", env={"AUTOPACK_CACHE_DIR": str(cache_dir)}).stdout)
    assert not cache_dir.parent.exists()
    assert document["cache"]["status"] == "ok" and f"to be made in {tmp_path}" in document["cache"]["detail"]
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before


def test_outside_a_project_only_the_machine_is_checked(tmp_path, engine):
    run = autopack("doctor", "--plain", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert rows(run.stdout)["project"] == ("–", f"no pom.xml in {tmp_path}: only this machine is checked")


def test_help_loads_no_run_machinery():
    modules = loaded("doctor", "--help")
    heavy = [m for m in modules if m.split(".")[0] in HEAVY_PACKAGES or m in HEAVY_MODULES or m == "autopack.doctor"]
    assert heavy == [], heavy


def test_a_terminal_gets_the_table_and_no_color_plain_lines(tmp_path, engine):
    project = copy_fixture("hello-service", tmp_path)
    host = f"unix://{dead_socket(tmp_path / 'docker.sock')}"
    command = f"{AUTOPACK} doctor {project} --docker-host {host}"
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "160"}
    table = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, text=True, env=env, timeout=120)
    assert table.returncode == 2, table.stdout
    assert "\x1b[" in table.stdout, "colour on a terminal"
    text = re.sub(r"\x1b\[[0-9;]*m", "", table.stdout)
    assert re.search(r"check +result", text), "the table's header"
    assert re.search(r"✗ +Docker engine +no Docker engine answers", text) and "fix: start one" in text
    plain = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, text=True, env={**env, "NO_COLOR": "1"}, timeout=120)
    assert plain.returncode == 2
    assert "\x1b[" not in plain.stdout and re.search(r"^✗ Docker engine +no Docker engine answers", plain.stdout, re.MULTILINE)
