"""`autopack build --push` against real registries on loopback: three at once (one with
htpasswd auth, one behind a fault-injecting proxy), pre-flight refusals, partial failure,
immutable tags, and `autopack login`. Digests are checked with a separate HTTP client
(tests/servers/registry.py), never with autopack's own."""

from __future__ import annotations

import json
import re
import socket

import pytest

from tests.conftest import autopack, copy_fixture, git
from tests.servers.fixtures import B_PASSWORD, B_USER, faulty, registries  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e
LAYER_LINE = re.compile(r"^\d\d:\d\d:\d\d push +(\S+) (\w{12}): (\w+)")


def b_env(registry) -> dict[str, str]:
    key = re.sub(r"[^A-Z0-9]", "_", registry.host.upper())
    return {f"AUTOPACK_REGISTRY_USER_{key}": B_USER, f"AUTOPACK_REGISTRY_PASSWORD_{key}": B_PASSWORD}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_push_to_three_registries_one_behind_a_failing_proxy(tmp_path, image_name, registries, faulty):  # noqa: F811
    a, b, c = registries
    proxy = faulty(c, kind="manifest-put", status=500, times=2)
    result_file = tmp_path / "result.json"
    project = copy_fixture("hello-service", tmp_path)
    run = autopack(
        "build", project, "--image", image_name, "-t", "{version}", "-t", "latest", "--skip-tests",
        "--push", f"{a.host}/team/hello", "--push", f"{b.host}/team/hello", "--push", f"{proxy.host}/team/hello",
        "--result-file", result_file, env=b_env(b),
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    data = json.loads(result_file.read_text())
    destinations = {d["registry"]: d for d in data["destinations"]}
    assert set(destinations) == {a.host, b.host, proxy.host}
    digests = {d["digest"] for d in destinations.values()}
    assert len(digests) == 1 and all(d["status"] == "ok" for d in destinations.values())
    [digest] = digests
    for registry in (a, b, c):  # asked directly, not through autopack or the proxy
        assert registry.manifest_digest("team/hello", "1.0.0") == digest
        assert registry.manifest_digest("team/hello", "latest") == digest
    assert proxy.injected == 2
    assert destinations[proxy.host]["attempts"] == 3, "the two injected faults were retried"
    assert {d["preflightAttempts"] for d in destinations.values()} == {1}
    assert destinations[b.host]["credentialSource"].startswith("AUTOPACK_REGISTRY_USER_")
    assert B_PASSWORD not in run.stdout + run.stderr + result_file.read_text()
    # plain output: one line per layer state change, never one per byte
    states = [m.groups() for line in run.stdout.splitlines() if (m := LAYER_LINE.match(line))]
    assert states and len(states) == len(set(states)) or _changes_only(states)


def _changes_only(states: list[tuple[str, str, str]]) -> bool:
    last: dict[tuple[str, str], str] = {}
    for destination, layer, state in states:
        if last.get((destination, layer)) == state:
            return False
        last[(destination, layer)] = state
    return True


def test_wrong_password_fails_in_preflight_before_maven(tmp_path, image_name, registries):  # noqa: F811
    a, b, c = registries
    planted = "Not-B's-Pa55word"
    key = re.sub(r"[^A-Z0-9]", "_", b.host.upper())
    project = copy_fixture("hello-service", tmp_path)
    result_file = tmp_path / "result.json"
    run = autopack(
        "build", project, "--image", image_name, "--push", f"{a.host}/team/hello", "--push", f"{b.host}/team/hello",
        "--result-file", result_file, env={f"AUTOPACK_REGISTRY_USER_{key}": B_USER, f"AUTOPACK_REGISTRY_PASSWORD_{key}": planted},
    )  # fmt: skip
    assert run.returncode == 6
    last = run.stderr.splitlines()[-1]
    assert last.startswith("autopack: error: pre-flight:") and b.host in last and f"AUTOPACK_REGISTRY_USER_{key}" in last
    assert not (project / "target").exists(), "Maven ran although a destination refused"
    assert planted not in run.stdout + run.stderr + result_file.read_text()
    assert a.tags("team/hello") == [] and b.tags("team/hello") == []


def test_an_unreachable_destination_fails_alone(tmp_path, image_name, registries):  # noqa: F811
    a, b, c = registries
    dead = f"127.0.0.1:{closed_port()}"
    project = copy_fixture("hello-service", tmp_path)
    result_file = tmp_path / "result.json"
    run = autopack(
        "build", project, "--image", image_name, "--skip-tests", "--no-preflight", "--push-retries", "1",
        "--push", f"{dead}/team/hello", "--push", f"{a.host}/team/hello", "--push", f"{c.host}/team/hello",
        "--result-file", result_file,
    )  # fmt: skip
    assert run.returncode == 6
    assert dead in run.stderr.splitlines()[-1]
    status = {d["registry"]: d["status"] for d in json.loads(result_file.read_text())["destinations"]}
    assert status == {dead: "failed", a.host: "ok", c.host: "ok"}
    assert a.manifest_digest("team/hello", "1.0.0") == c.manifest_digest("team/hello", "1.0.0") is not None


def test_immutable_tags_same_image_is_a_no_op_other_content_is_refused(tmp_path, image_name, registries):  # noqa: F811
    a, b, c = registries
    project = copy_fixture("hello-service", tmp_path, as_git=True)
    push = ["--image", image_name, "--skip-tests", "-t", "{version}", "-t", "latest", "--immutable-tags", r"\d+\.\d+\.\d+", "--push", f"{a.host}/team/hello", "--json"]
    first = autopack("build", project, *push)
    assert first.returncode == 0, first.stderr
    pushed = a.manifest_digest("team/hello", "1.0.0")

    again = autopack("build", project, *push)  # same commit, reproducible jar: the same image
    assert again.returncode == 0, again.stderr
    [destination] = json.loads(again.stdout)["destinations"]
    assert destination["unchangedTags"] == ["1.0.0"] and destination["tags"] == ["latest"]
    assert a.manifest_digest("team/hello", "1.0.0") == pushed

    app = next(project.rglob("App.java"))
    app.write_text(app.read_text().replace("Hello from autopack", "Hello from a changed autopack"))
    git(project, "commit", "-qam", "change the greeting, not the version")
    changed = autopack("build", project, *push)
    assert changed.returncode == 6
    assert "1.0.0 already exists with other content" in changed.stderr.splitlines()[-1]
    assert a.manifest_digest("team/hello", "1.0.0") == pushed


def test_login_then_push_without_flags(tmp_path, image_name, registries):  # noqa: F811
    a, b, c = registries
    config_dir = tmp_path / "docker-config"
    env = {"DOCKER_CONFIG": str(config_dir)}
    wrong = autopack_stdin(["login", b.host, "-u", B_USER, "--password-stdin"], "wrong-password\n", env)
    assert wrong.returncode == 6 and not (config_dir / "config.json").exists()
    login = autopack_stdin(["login", b.host, "-u", B_USER, "--password-stdin"], B_PASSWORD + "\n", env)
    assert login.returncode == 0, login.stderr
    assert B_PASSWORD not in login.stdout + login.stderr
    config = json.loads((config_dir / "config.json").read_text())
    assert b.host in config["auths"] and (config_dir / "config.json").stat().st_mode & 0o777 == 0o600

    project = copy_fixture("hello-service", tmp_path)
    run = autopack("build", project, "--image", image_name, "--skip-tests", "--push", f"{b.host}/team/hello", "--json", env=env)
    assert run.returncode == 0, run.stderr
    [destination] = json.loads(run.stdout)["destinations"]
    assert destination["credentialSource"] == "Docker config auths"
    assert b.manifest_digest("team/hello", "1.0.0") == destination["digest"]


def test_preflight_honours_retry_after_on_429(tmp_path, image_name, registries, faulty):  # noqa: F811
    a, b, c = registries
    proxy = faulty(a, kind="any", status=429, times=2)
    project = copy_fixture("hello-service", tmp_path)
    run = autopack("build", project, "--image", image_name, "--skip-tests", "--push", f"{proxy.host}/team/hello", "--json")
    assert run.returncode == 0, run.stderr
    assert proxy.injected == 2
    assert "429" in run.stderr and "try 2 of 4 in 1.0s" in run.stderr
    assert json.loads(run.stdout)["destinations"][0]["preflightAttempts"] == 3
    assert a.manifest_digest("team/hello", "1.0.0") == json.loads(run.stdout)["destinations"][0]["digest"]


def autopack_stdin(args: list[str], stdin: str, env: dict[str, str]):
    import os
    import subprocess

    from tests.conftest import AUTOPACK, Run

    completed = subprocess.run([str(AUTOPACK), *args], input=stdin, capture_output=True, text=True, env={**os.environ, **env}, timeout=120)
    return Run(completed.returncode, completed.stdout, completed.stderr)


def test_parallel_push_mode_pushes_to_every_registry_at_once_with_one_digest(tmp_path, image_name, registries):  # noqa: F811
    """--push-mode parallel: the engine pushes to each destination itself, at once (each over
    its own connection); its compression is deterministic, so every registry gets the same
    bytes, and no copy is needed."""
    a, b, c = registries
    project = copy_fixture("hello-service", tmp_path)
    result_file = tmp_path / "result.json"
    run = autopack(
        "build", project, "--image", image_name, "--skip-tests", "--plain", "--push-mode", "parallel",
        "--push", f"{a.host}/team/hello", "--push", f"{b.host}/team/hello", "--push", f"{c.host}/team/hello",
        "--result-file", result_file, env=b_env(b),
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    data = json.loads(result_file.read_text())
    digests = {d["digest"] for d in data["destinations"]}
    assert len(digests) == 1 and all(d["status"] == "ok" and d["tags"] == ["1.0.0"] for d in data["destinations"])
    [digest] = digests
    for registry in (a, b, c):
        assert registry.manifest_digest("team/hello", "1.0.0") == digest
    assert "copying from" not in run.stdout, "each registry got the engine's own push"
    # each destination's layers went up from the engine (not copied from a first registry)
    pushed = {m[1] for line in run.stdout.splitlines() if (m := LAYER_LINE.match(line)) and m[3] in ("pushing", "done")}
    assert pushed == {f"{r.host}/team/hello" for r in (a, b, c)}, pushed
    events = [(m[1], m[3]) for line in run.stdout.splitlines() if (m := LAYER_LINE.match(line))]
    started = {d: next(i for i, e in enumerate(events) if e == (d, "pushing")) for d in pushed}
    finished = {d: max(i for i, e in enumerate(events) if e == (d, "done")) for d in pushed}
    assert max(started.values()) < min(finished.values()), "every destination's upload began before any had ended"
    assert B_PASSWORD not in run.stdout + run.stderr + result_file.read_text()


def test_an_unknown_push_mode_is_a_usage_error(tmp_path, image_name):
    project = copy_fixture("hello-service", tmp_path)
    run = autopack("build", project, "--image", image_name, "--push-mode", "sideways", "--push", "127.0.0.1:1/team/x")
    assert run.returncode == 2
    assert "--push-mode 'sideways' is not a push mode" in run.stderr and "copy, parallel" in run.stderr


@pytest.mark.parametrize("mode", ["parallel", "copy"])
def test_an_immutable_tag_already_at_one_destination_leaves_its_other_tags_to_push(mode, tmp_path, image_name, registries):  # noqa: F811
    """c holds 1.0.0 (this image) already: it is left alone there, while latest still goes to
    c and both go to a — in either push mode — and every tag holds the one digest."""
    a, _, c = registries
    project = copy_fixture("hello-service", tmp_path)
    assert autopack("build", project, "--image", image_name, "--skip-tests", "-t", "1.0.0").returncode == 0
    first = autopack("push", f"{image_name}:1.0.0", "--push", f"{c.host}/team/hello")
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr
    again = autopack(
        "push", f"{image_name}:1.0.0", "-t", "1.0.0", "-t", "latest", "--immutable-tags", r"\d+\.\d+\.\d+", "--push-mode", mode,
        "--push", f"{a.host}/team/hello", "--push", f"{c.host}/team/hello", "--json",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    destinations = {d["registry"]: d for d in json.loads(again.stdout)["destinations"]}
    assert destinations[c.host]["unchangedTags"] == ["1.0.0"] and destinations[c.host]["tags"] == ["latest"]
    assert destinations[a.host]["tags"] == ["1.0.0", "latest"]
    digests = {r.manifest_digest("team/hello", t) for r in (a, c) for t in ("1.0.0", "latest")}
    assert len(digests) == 1 and None not in digests
