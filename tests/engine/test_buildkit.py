"""BuildKit's command line (a pure function) and its progress reader, on the lines Debian's
docker 20.10 CLI really prints with ``--progress=plain`` (recorded from a build here; the
real builds are in tests/e2e/test_engines.py)."""

from __future__ import annotations

from pathlib import Path

from autopack import process
from autopack.image.dockerfile import Dockerfile
from autopack.engine.base import BuildRequest
from autopack.engine.buildkit import ProgressWatcher, command
from autopack.events import Event, LogLine, Progress


def request(tmp_path: Path, **changes: object) -> BuildRequest:
    dockerfile = Dockerfile(tmp_path / "Dockerfile", tmp_path, 1, ("ARTIFACT",), ("autopack/jre:17",))
    values: dict = {"dockerfile": dockerfile, "references": ("reg/app:1.0", "reg/app:latest"), "build_args": {"ARTIFACT": "target/app.jar", "TOKEN": "v3ry-s3cret"},
                    "labels": {"org.opencontainers.image.version": "1.0"}, **changes}
    return BuildRequest(**values)


def test_the_command_carries_no_build_arg_value(tmp_path: Path) -> None:
    argv = command(("docker", "build"), request(tmp_path, secrets={"maven": Path("/ci/settings.xml")}, target="run", no_cache=True, pull=True),
                   Path("/tmp/iid"), "none")

    assert argv == [
        "docker", "build", "--progress=plain", "--iidfile", "/tmp/iid", "-f", str((tmp_path / "Dockerfile").resolve()),
        "-t", "reg/app:1.0", "-t", "reg/app:latest",
        "--label", "org.opencontainers.image.version=1.0",
        "--build-arg", "ARTIFACT", "--build-arg", "TOKEN",
        "--secret", "id=maven,src=/ci/settings.xml",
        "--target", "run", "--no-cache", "--pull", "--network", "none",
        str(tmp_path),
    ]
    assert not any("v3ry-s3cret" in a for a in argv)


def test_a_build_arg_named_like_the_clis_own_variables_goes_in_argv(tmp_path: Path) -> None:
    argv = command(("docker", "build"), request(tmp_path, build_args={"PATH": "/opt/bin"}), Path("/tmp/iid"), None)

    assert argv[argv.index("--build-arg") + 1] == "PATH=/opt/bin"
    assert "--network" not in argv


RECORDED = """#1 [internal] load build definition from Dockerfile
#1 sha256:c7ff6ceaf8e72846aebeada8a27a441358d0e5b09f867aa0ea73e8077f409562
#1 transferring dockerfile: 296B done
#1 DONE 0.0s
#4 [stage-0 1/5] FROM docker.io/autopack/jre:17
#4 CACHED
#5 [stage-0 2/5] RUN --mount=type=cache,target=/root/.m2 sh -c 'echo hi > /root/.m2/x; ls /root/.m2'
#5 0.074 x
#5 DONE 0.1s
#8 [stage-0 4/5] COPY app.jar /app/app.jar
#8 CACHED
#9 [stage-0 5/5] RUN echo "some output"; exit 3
#9 0.062 some output
#9 0.063 more output
#9 ERROR: executor failed running [/bin/sh -c echo "some output"; exit 3]: exit code: 3
------
 > [stage-0 5/5] RUN echo "some output"; exit 3:
------
executor failed running [/bin/sh -c echo "some output"; exit 3]: exit code: 3"""


def test_the_progress_reader_gives_steps_cached_steps_and_the_failing_step() -> None:
    events: list[Event] = []
    watcher = ProgressWatcher(events.append)
    for line in RECORDED.splitlines():
        watcher(line)

    steps = [e.message for e in events if isinstance(e, Progress)]
    assert steps == [
        "Step 1/5 · FROM docker.io/autopack/jre:17",
        "Step 1/5 · FROM docker.io/autopack/jre:17 · cached",
        "Step 2/5 · RUN --mount=type=cache,target=/root/.m2 sh -c 'echo hi > /root/.m2/x; ls /root/.m2'",
        "Step 4/5 · COPY app.jar /app/app.jar",
        "Step 4/5 · COPY app.jar /app/app.jar · cached",
        'Step 5/5 · RUN echo "some output"; exit 3',
    ]
    assert watcher.cached == 2
    assert [e.text for e in events if isinstance(e, LogLine) and e.level == "error"] == [
        '#9 ERROR: executor failed running [/bin/sh -c echo "some output"; exit 3]: exit code: 3'
    ]
    error = watcher.failure(process.Completed(("docker",), 1, tuple(RECORDED.splitlines()[-3:])))
    assert error.message == (
        'image build failed at step 5/5 (RUN echo "some output"; exit 3): executor failed running '
        '[/bin/sh -c echo "some output"; exit 3]: exit code: 3; its last output: some output | more output'
    )
    assert error.exit_code == 5


def test_a_failure_before_any_step_is_the_clis_last_line() -> None:
    watcher = ProgressWatcher(lambda e: None)
    tail = ("#1 [internal] load build definition from Dockerfile", "error: failed to solve: failed to read dockerfile: open Dockerfile: no such file")

    error = watcher.failure(process.Completed(("docker",), 1, tail))

    assert error.message == "image build failed: failed to solve: failed to read dockerfile: open Dockerfile: no such file"
    assert error.hint == "check -f/--file and the build context"

