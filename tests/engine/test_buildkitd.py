"""The BuildKit-daemon builder (autopack/engine/buildkitd.py) against a real standalone
buildkitd (tests/servers/buildkitd.py: built from source, OCI worker with runc) and real
loopback registries: the base image comes from one, the builder pushes to another behind
htpasswd auth. Every buildctl the builder runs goes through a recording wrapper (the real
buildctl, its argv and its DOCKER_CONFIG noted on the way), so that what reached argv is
what buildctl really got."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import textwrap
import threading
import time
from pathlib import Path

import docker
import pytest
import requests

from autopack.engine import Engine
from autopack.engine.base import BuildRequest
from autopack.engine.base import Built
from autopack.engine.buildkitd import Daemon, address_from, command, csv, registry_of
from autopack.errors import ImageError, PushError, UsageError
from autopack.events import Event, LogLine, Progress
from autopack.image.dockerfile import inspect_dockerfile
from autopack.push.credentials import RegistryAuth
from tests.servers.buildkitd import BASE_REPOSITORY, BASE_TAG, SCRIPT, BuildkitDaemon, base_registry, buildkitd  # noqa: F401  (fixtures)
from tests.servers.registry import MANIFEST_TYPES, Registry, free_port

USER, PASSWORD = "pusher", "bk-s3cret-Pass"


class Recorder:
    """A buildctl that notes its argv (NUL-separated, one file a call) and the DOCKER_CONFIG
    it was given (its mode and the registries in its config.json; never the login itself),
    then runs the real one."""

    def __init__(self, directory: Path, real: str) -> None:
        self.directory = directory
        directory.mkdir()
        self.path = directory / "buildctl"
        self.path.write_text(
            textwrap.dedent(f"""\
            #!/bin/sh
            call=$(mktemp "{directory}/call.XXXXXX")
            printf '%s\\0' "$@" >"$call"
            if [ -n "${{DOCKER_CONFIG:-}}" ]; then
              echo "$DOCKER_CONFIG" >"$call.config-dir"
              stat -c %a "$DOCKER_CONFIG" >"$call.config-mode"
              if [ -f "$DOCKER_CONFIG/config.json" ]; then
                python3 -c 'import json, sys; print(" ".join(sorted(json.load(open(sys.argv[1])).get("auths", {{}}))))' "$DOCKER_CONFIG/config.json" >"$call.config-auths"
              fi
            fi
            exec {real} "$@"
            """)
        )
        self.path.chmod(0o755)

    def builds(self) -> list[Path]:
        return [p for p in sorted(self.directory.glob("call.??????")) if "build" in self.argv(p)]

    @staticmethod
    def argv(call: Path) -> list[str]:
        return call.read_bytes().decode().split("\0")[:-1]

    def note(self, call: Path, kind: str) -> str:
        return Path(f"{call}.{kind}").read_text().strip()


@pytest.fixture
def recorder(tmp_path: Path, buildkitd: BuildkitDaemon) -> Recorder:  # noqa: F811
    return Recorder(tmp_path / "recorder", buildkitd.buildctl)


def project(tmp_path: Path, dockerfile: str) -> Path:
    context = tmp_path / "context"
    context.mkdir(parents=True)
    (context / "Dockerfile").write_text(textwrap.dedent(dockerfile))
    (context / "app.txt").write_text("the application\n")
    return context


def request(context: Path, references: tuple[str, ...], **changes: object) -> BuildRequest:
    values: dict = {"dockerfile": inspect_dockerfile(context, None), "references": references, **changes}
    return BuildRequest(**values)


def texts(events: list[Event]) -> list[str]:
    return [e.text if isinstance(e, LogLine) else e.message for e in events if isinstance(e, LogLine | Progress)]


def test_a_build_is_loaded_into_the_engine_with_every_tag_label_and_build_arg(
    tmp_path: Path, buildkitd: BuildkitDaemon, base_registry: Registry, engine: docker.DockerClient, image_name: str, recorder: Recorder  # noqa: F811
) -> None:
    greeting = f"hello-{image_name.rsplit('/', 1)[1]}"
    context = project(
        tmp_path,
        f"""\
        FROM {base_registry.ref(BASE_REPOSITORY, BASE_TAG)}
        ARG GREETING=unset
        LABEL io.autopack.test.greeting=$GREETING
        COPY app.txt /app/app.txt
        RUN echo "greeting: $GREETING" > /greeting && cat /greeting /app/app.txt
        """,
    )
    references = (f"{image_name}:1.0", f"{image_name}:latest")
    events: list[Event] = []
    started = time.monotonic()

    built = Daemon(buildkitd.unix, str(recorder.path)).build(
        Engine(), request(context, references, build_args={"GREETING": greeting}, labels={"org.opencontainers.image.version": "1.0"}), events.append
    )
    image_id = built.image_id
    assert built.loaded and built.pushed == ()

    seconds = time.monotonic() - started
    for reference in references:
        image = engine.images.get(reference)
        assert image.id == image_id
        assert set(references) <= set(image.tags)
        assert image.labels["org.opencontainers.image.version"] == "1.0"
        assert image.labels["io.autopack.test.greeting"] == greeting  # the build arg reached the build
    lines = texts(events)
    assert any(line.endswith(f"greeting: {greeting}") for line in lines), "the RUN step ran with the build arg"
    assert any(line.endswith("the application") for line in lines), "COPY brought the context's file"
    # dict.fromkeys: plain progress prints a step's header again when another step's lines came between
    steps = dict.fromkeys((e.facts["step"], e.facts["steps"]) for e in events if isinstance(e, Progress) and "step" in e.facts)
    assert list(steps) == [(1, 3), (2, 3), (3, 3)]
    [call] = recorder.builds()
    argv = recorder.argv(call)
    assert "build-arg:GREETING" in argv  # by name: its value is in buildctl's environment
    assert not any(greeting in a for a in argv)
    assert recorder.note(call, "config-dir") == os.environ["DOCKER_CONFIG"]  # loading only: the user's own Docker config
    assert seconds < 120


def test_the_builder_pushes_to_a_registry_with_a_login_and_returns_what_the_registry_serves(
    tmp_path: Path, buildkitd: BuildkitDaemon, base_registry: Registry, recorder: Recorder  # noqa: F811
) -> None:
    context = project(
        tmp_path,
        f"""\
        FROM {base_registry.ref(BASE_REPOSITORY, BASE_TAG)}
        COPY app.txt /app/app.txt
        """,
    )
    events: list[Event] = []
    with Registry(tmp_path / "registry", user=USER, password=PASSWORD, name="auth-registry") as registry:
        push_to = (registry.ref("team/app", "1.0"), registry.ref("team/app", "latest"))

        built = Daemon(buildkitd.tcp, str(recorder.path)).run(
            request(context, ("team/app:1.0",), labels={"org.opencontainers.image.version": "1.0"}), events.append, push_to=push_to, auth=RegistryAuth(USER, PASSWORD)
        )

        assert registry.tags("team/app") == ["1.0", "latest"]
        assert built.digest == registry.manifest_digest("team/app", "1.0") == registry.manifest_digest("team/app", "latest")
        manifest = requests.get(f"{registry.url}/v2/team/app/manifests/{built.digest}", headers={"Accept": MANIFEST_TYPES}, auth=registry.auth, timeout=10).json()
        assert manifest["config"]["digest"] == built.image_id
        config = requests.get(f"{registry.url}/v2/team/app/blobs/{built.image_id}", auth=registry.auth, timeout=10).json()
        assert config["config"]["Labels"]["org.opencontainers.image.version"] == "1.0"
    assert built == Built(built.image_id, built.digest, pushed=tuple(push_to), loaded=False)
    [call] = recorder.builds()
    argv = recorder.argv(call)
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert not any(PASSWORD in a or token in a for a in argv)
    assert not any(PASSWORD in t or token in t for t in texts(events))
    assert recorder.note(call, "config-mode") == "700"
    assert recorder.note(call, "config-auths") == registry.host  # that registry's login, no other
    assert not Path(recorder.note(call, "config-dir")).exists()  # removed after the build
    output = argv[argv.index("--output") + 1]
    assert output == f'type=image,"name={push_to[0]},{push_to[1]}",push=true,registry.insecure=true'


def test_a_push_with_a_wrong_password_is_a_push_error_and_pushes_nothing(
    tmp_path: Path, buildkitd: BuildkitDaemon, base_registry: Registry  # noqa: F811
) -> None:
    context = project(tmp_path, f"FROM {base_registry.ref(BASE_REPOSITORY, BASE_TAG)}\nCOPY app.txt /app.txt\n")
    with Registry(tmp_path / "registry", user=USER, password=PASSWORD, name="auth-registry") as registry:
        with pytest.raises(PushError) as caught:
            Daemon(buildkitd.unix, buildkitd.buildctl).run(
                request(context, ()), lambda e: None, push_to=(registry.ref("team/app", "1.0"),), auth=RegistryAuth(USER, "not-the-password")
            )

        assert registry.tags("team/app") == []
    assert caught.value.message.startswith(f"{registry.host}: the builder's push failed: ")
    assert "401" in caught.value.message or "unauthorized" in caught.value.message.lower()
    assert "not-the-password" not in caught.value.message


def test_a_failing_run_names_the_step_and_its_last_output(
    tmp_path: Path, buildkitd: BuildkitDaemon, base_registry: Registry, engine: docker.DockerClient, image_name: str  # noqa: F811
) -> None:
    context = project(
        tmp_path,
        f"""\
        FROM {base_registry.ref(BASE_REPOSITORY, BASE_TAG)}
        RUN echo "first line"; echo "second line"; exit 3
        """,
    )
    events: list[Event] = []

    with pytest.raises(ImageError) as caught:
        Daemon(buildkitd.unix, buildkitd.buildctl).run(request(context, (f"{image_name}:1",)), events.append, load_into=engine.api)

    message = caught.value.message
    assert message.startswith('image build failed at step 2/2 (RUN echo "first line"; echo "second line"; exit 3): ')
    assert "exit code: 3" in message
    assert message.endswith("; its last output: first line | second line")
    assert caught.value.exit_code == 5
    assert [e.text for e in events if isinstance(e, LogLine) and e.level == "error"] != []
    assert engine.images.list(name=image_name) == []


def test_an_interrupt_stops_buildctl_the_daemons_build_and_the_load(
    tmp_path: Path, buildkitd: BuildkitDaemon, base_registry: Registry, engine: docker.DockerClient, image_name: str  # noqa: F811
) -> None:
    marker = f"{int(time.time() * 1000) % 100000 + 600}"  # a sleep no other process runs
    context = project(tmp_path, f"FROM {base_registry.ref(BASE_REPOSITORY, BASE_TAG)}\nRUN echo started; sleep {marker}\n")
    seen: list[str] = []

    def on_event(event: Event) -> None:
        if isinstance(event, LogLine) and event.text.endswith(" started"):
            deadline = time.monotonic() + 10
            while not _running(f"sleep {marker}") and time.monotonic() < deadline:
                time.sleep(0.1)
            seen.append(f"running: {_running(f'sleep {marker}')}")
            raise KeyboardInterrupt  # as Ctrl-C reaches the main thread, mid-RUN

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        Daemon(buildkitd.unix, buildkitd.buildctl).run(request(context, (f"{image_name}:1",)), on_event, load_into=engine.api)

    assert seen == ["running: True"], "the RUN step had started"
    assert time.monotonic() - started < 60
    assert [t.name for t in threading.enumerate() if t.name == "autopack-buildkitd-load"] == []
    deadline = time.monotonic() + 20
    while _running(f"sleep {marker}") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _running(f"sleep {marker}"), "the daemon cancelled the RUN step"
    assert engine.images.list(name=image_name) == []


def _running(command_line: str) -> bool:
    """Whether a process on this machine runs with ``command_line`` in its argv (a RUN
    step's processes are this machine's, in their own namespaces)."""
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and command_line.encode() in (proc / "cmdline").read_bytes().replace(b"\0", b" "):
                return True
        except OSError:
            continue
    return False


def test_a_base_image_the_daemon_cannot_pull_is_an_image_error_that_says_where_it_must_be(
    tmp_path: Path, buildkitd: BuildkitDaemon, base_registry: Registry, engine: docker.DockerClient  # noqa: F811
) -> None:
    # Only loopback registries: a name without one would send the daemon to Docker Hub.
    context = project(tmp_path, f"FROM {base_registry.ref('autopack/only-in-the-engine', '17')}\n")

    with pytest.raises(ImageError) as caught:
        Daemon(buildkitd.unix, buildkitd.buildctl).run(request(context, ("autopack-test/never:1",)), lambda e: None, load_into=engine.api)

    assert f"{base_registry.host}/autopack/only-in-the-engine:17" in caught.value.message
    assert "not found" in caught.value.message
    assert "pulls every base image itself" in caught.value.hint


def test_an_address_where_no_daemon_answers_is_unavailable_and_says_why(tmp_path: Path, buildkitd: BuildkitDaemon) -> None:  # noqa: F811
    nobody = f"tcp://127.0.0.1:{free_port()}"
    daemon = Daemon(nobody, buildkitd.buildctl)

    why = daemon.unavailable()

    assert why is not None and why.startswith(f"no BuildKit daemon answers at {nobody} (") and "connection refused" in why
    assert Daemon(buildkitd.unix, buildkitd.buildctl).unavailable() is None
    assert Daemon(buildkitd.tcp, buildkitd.buildctl).unavailable() is None
    assert "buildctl" in (Daemon(buildkitd.unix, str(tmp_path / "no-buildctl")).unavailable() or "")
    with pytest.raises(ImageError, match="the BuildKit daemon cannot build: no BuildKit daemon answers"):
        daemon.run(request(project(tmp_path, "FROM scratch\n"), ("a/b:1",)), lambda e: None, push_to=("127.0.0.1:1/a/b:1",))


def test_the_address_comes_from_the_option_then_buildkit_host() -> None:
    assert address_from("tcp://builder:1234", {"BUILDKIT_HOST": "unix:///run/buildkit/buildkitd.sock"}) == "tcp://builder:1234"
    assert address_from(None, {"BUILDKIT_HOST": "unix:///run/buildkit/buildkitd.sock"}) == "unix:///run/buildkit/buildkitd.sock"
    assert address_from(None, {}) is None
    with pytest.raises(UsageError, match="is not a BuildKit daemon address"):
        address_from("builder:1234", {})


def test_the_command_carries_build_arg_values_only_for_names_buildctl_reads_itself(tmp_path: Path) -> None:
    context = project(tmp_path, "FROM scratch\n")
    build = request(
        context,
        ("reg/app:1.0",),
        build_args={"TOKEN": "v3ry-s3cret", "HTTPS_PROXY": "http://proxy:3128"},
        labels={"a.b": "c"},
        secrets={"maven": Path("/ci/settings,x.xml")},
        target="run",
        no_cache=True,
        pull=True,
        network="none",
    )

    argv = command("buildctl", "tcp://b:1", build, Path("/tmp/m.json"))
    old = command("buildctl", "tcp://b:1", build, Path("/tmp/m.json"), values_in_env=False)

    assert argv[argv.index("--opt", argv.index("--local")) : argv.index("--opt", argv.index("--local")) + 2] == ["--opt", "filename=Dockerfile"]
    assert ["--opt", "build-arg:TOKEN"] == argv[argv.index("build-arg:TOKEN") - 1 : argv.index("build-arg:TOKEN") + 1]
    assert "build-arg:HTTPS_PROXY=http://proxy:3128" in argv  # buildctl's own connection must not use it
    assert not any("v3ry-s3cret" in a for a in argv)
    assert "build-arg:TOKEN=v3ry-s3cret" in old  # a buildctl before v0.33 takes values in argv only
    assert argv[argv.index("--secret") + 1] == 'id=maven,"src=/ci/settings,x.xml"'
    for option in ("label:a.b=c", "target=run", "image-resolve-mode=pull", "force-network-mode=none"):
        assert argv[argv.index(option) - 1] == "--opt"
    assert "--no-cache" in argv
    with pytest.raises(UsageError, match="no network 'bridge'"):
        command("buildctl", "tcp://b:1", request(context, (), network="bridge"), Path("/tmp/m.json"))
    assert csv("type=docker", 'name=a,"b"') == 'type=docker,"name=a,""b"""'
    assert [registry_of(r) for r in ("app:1", "team/app:1", "localhost/app:1", "127.0.0.1:5000/a:1", "ghcr.io/o/a:1")] == [
        "docker.io",
        "docker.io",
        "localhost",
        "127.0.0.1:5000",
        "ghcr.io",
    ]


def test_the_docker_config_given_to_buildctl_is_private(tmp_path: Path) -> None:
    from autopack.engine.buildkitd import _docker_config

    directory = _docker_config(tmp_path / "cfg", "127.0.0.1:5000", RegistryAuth("u", "p4ss"))

    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "config.json").stat().st_mode) == 0o600
    assert json.loads((directory / "config.json").read_text()) == {"auths": {"127.0.0.1:5000": {"auth": base64.b64encode(b"u:p4ss").decode()}}}


def test_the_script_installs_once_and_stops_only_its_own_daemon(tmp_path: Path, buildkitd: BuildkitDaemon) -> None:  # noqa: F811
    def script(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "AUTOPACK_BUILDKIT_STATE": str(state)}
        return subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)

    started = time.monotonic()
    again = script("install", state=buildkitd.state)
    assert again.returncode == 0 and "nothing to do" in again.stderr
    assert time.monotonic() - started < 5  # the pinned binaries are there: no build

    status = script("status", state=buildkitd.state)
    assert status.returncode == 0
    assert status.stdout.split() == [buildkitd.unix, buildkitd.tcp]
    other = tmp_path / "other-state"
    assert script("status", state=other).returncode == 1
    stop = script("stop", state=other)
    assert stop.returncode == 0 and "nothing to stop" in stop.stderr
    assert Daemon(buildkitd.unix, buildkitd.buildctl).unavailable() is None  # the session's daemon still answers
    assert script("bogus", state=other).returncode == 2
