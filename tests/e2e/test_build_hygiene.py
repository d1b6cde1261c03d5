"""Build-context and build-arg hygiene end to end: a project whose context would send a
``.env`` and a Maven ``settings.xml`` with a password, built with a password as a build arg.
The build warns, naming each and its fix; ``--strict`` (or AUTOPACK_STRICT, or ``strict`` in
autopack.toml) refuses it with exit 2 before Maven runs. The secrets never reach the output."""

from __future__ import annotations

import json
from pathlib import Path

import docker
import pytest

from tests.conftest import autopack, copy_fixture, images_named

pytestmark = pytest.mark.e2e

DB_PASSWORD = "Zq8vK3pLw9-db-secret"
ENV_SECRET = "env-file-secret-4711"
SETTINGS_SECRET = "settings-secret-0815"
SETTINGS = f"""<?xml version="1.0"?>
<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">
  <servers><server><id>corp</id><username>ci</username><password>{SETTINGS_SECRET}</password></server></servers>
</settings>
"""


def leaky_project(tmp_path: Path) -> Path:
    """hello-service, a git working copy, whose .dockerignore lets a .env and a settings.xml
    in (its ``*`` still keeps .git out: that is no finding)."""
    project = copy_fixture("hello-service", tmp_path, as_git=True)
    (project / ".env").write_text(f"DB_PASSWORD={ENV_SECRET}\n")
    (project / "settings.xml").write_text(SETTINGS)
    with (project / ".dockerignore").open("a") as ignore:
        ignore.write("!.env\n!settings.xml\n")
    return project


def warnings(stderr: str) -> list[str]:
    """The plan stage's hygiene warnings, without their time and stage columns."""
    lines = [line.split(" plan ", 1)[1].strip() for line in stderr.splitlines() if " plan " in line]
    return [line for line in lines if " would be sent " in line or line.startswith("build arg ")]


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in (DB_PASSWORD, ENV_SECRET, SETTINGS_SECRET):
            assert secret not in text


def test_the_build_warns_naming_each_finding_and_its_fix(tmp_path: Path, engine: docker.DockerClient, image_name: str) -> None:
    project = leaky_project(tmp_path)
    run = autopack("build", project, "--image", image_name, "--build-arg", f"DB_PASSWORD={DB_PASSWORD}", "--json", "--log-dir", tmp_path / "logs")

    assert run.returncode == 0, run.stderr
    assert images_named(engine, f"{image_name}") == [f"{image_name}:1.0.0"]
    found = warnings(run.stderr)
    assert found == [
        ".env: an environment file (.env) would be sent with the build context — add the line `.env` to .dockerignore",
        "settings.xml: a Maven settings file with a <password> would be sent with the build context — add the line `settings.xml` to .dockerignore; "
        "a RUN step that needs it takes it with --secret id=maven,src=FILE and RUN --mount=type=secret,id=maven,target=/root/.m2/settings.xml",
        "build arg DB_PASSWORD: its name says it holds a secret, and build args are kept in the image's history once a Dockerfile declares them — "
        "pass it with --secret id=DB_PASSWORD,src=FILE and read it in RUN --mount=type=secret,id=DB_PASSWORD instead",
    ], run.stderr
    assert ".git" not in "\n".join(found)  # .dockerignore'd
    assert json.loads(run.stdout)["status"] == "ok"
    logs = [p.read_text(errors="replace") for p in (tmp_path / "logs").rglob("*") if p.is_file()]
    assert_no_secret(run.stdout, run.stderr, *logs)


@pytest.mark.parametrize("how", ["--strict", "AUTOPACK_STRICT", "autopack.toml"])
def test_strict_refuses_before_maven_naming_the_first(tmp_path: Path, engine: docker.DockerClient, image_name: str, how: str) -> None:
    project = leaky_project(tmp_path)
    result_file = tmp_path / "result.json"
    args: list[str | Path] = ["build", project, "--image", image_name, "--build-arg", f"DB_PASSWORD={DB_PASSWORD}", "--result-file", result_file, "--log-dir", tmp_path / "logs"]
    env = {}
    if how == "--strict":
        args.append("--strict")
    elif how == "AUTOPACK_STRICT":
        env["AUTOPACK_STRICT"] = "1"
    else:
        (project / "autopack.toml").write_text("strict = true\n")
    run = autopack(*args, env=env)

    assert run.returncode == 2, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("autopack: error:")]
    assert errors == ["autopack: error: --strict: .env: an environment file (.env) would be sent with the build context (and 2 more) — add the line `.env` to .dockerignore; or drop --strict"], run.stderr
    assert len(warnings(run.stdout + run.stderr)) == 3  # every finding was named first
    assert not (project / "target").exists()  # Maven never ran
    assert images_named(engine, image_name) == []
    data = json.loads(result_file.read_text())
    assert data["exitCode"] == 2 and [(s["name"], s["status"]) for s in data["stages"]] == [("source", "ok"), ("plan", "failed")]
    assert_no_secret(run.stdout, run.stderr, result_file.read_text())


def test_no_strict_on_the_command_line_beats_the_project_file(tmp_path: Path) -> None:
    """``--no-strict`` wins over ``strict = true`` in autopack.toml: the run warns and goes on
    to Maven (here ``validate``, which builds no jar: exit 4, not 2)."""
    project = leaky_project(tmp_path)
    (project / "autopack.toml").write_text("strict = true\n")
    run = autopack("build", project, "--no-strict", "--goal", "validate", "--json", "--log-dir", tmp_path / "logs")

    assert run.returncode == 4, run.stderr
    assert "--strict" not in run.stderr and "Maven produced no artifact" in run.stderr
    assert [w.split(":")[0] for w in warnings(run.stderr)] == [".env", "settings.xml"]
