"""Ctrl-C (SIGINT to the autopack process, as a terminal sends it) in the middle of a stage:
exit 130, the stage's children stopped, nothing half-written that a later run would trust."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from autopack.source import svn
from tests.conftest import AUTOPACK, BASE_IMAGE, autopack, copy_fixture, result_schema
from tests.servers.registry import Registry
from tests.source.svn_fixtures import svn as run_svn

pytestmark = pytest.mark.e2e
FILES = 1500  # enough that a checkout takes seconds, not milliseconds


class Interruptible:
    """``autopack ARGS`` with its plain output read line by line, to be interrupted on cue."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [str(AUTOPACK), *args, "--plain"],
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # A shell without job control starts background jobs with SIGINT ignored, and
            # a child inherits that: give autopack the terminal's default, as a user has it.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def wait_for(self, predicate, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            assert self.proc.poll() is None, "autopack ended before the cue:\n" + "\n".join(self.lines)
            time.sleep(0.02)
        raise AssertionError("no cue within the timeout:\n" + "\n".join(self.lines))

    def interrupt(self, timeout: float = 30) -> float:
        """SIGINT; returns how long autopack took to exit."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return time.monotonic() - started


def processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if text in argv and state != "Z" and int(proc.name) != os.getpid():
            found.append(argv)
    return found


def test_ctrl_c_during_maven_stops_the_maven_tree_and_exits_130(tmp_path: Path, engine, image_name) -> None:
    project = copy_fixture("hello-service", tmp_path)
    result_file = tmp_path / "result.json"
    run = Interruptible(["build", str(project), "--image", image_name, "--result-file", str(result_file)], {})

    run.wait_for(lambda: processes_mentioning(f"-Dmaven.multiModuleProjectDirectory={project}"))
    took = run.interrupt()

    assert run.proc.returncode == 130, "\n".join(run.lines)
    assert took < 15
    assert run.lines[-1] == "autopack: error: interrupted"
    deadline = time.monotonic() + 10
    while processes_mentioning(str(project)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_mentioning(str(project)) == [], "Maven outlived the interrupt"
    data = json.loads(result_file.read_text())
    jsonschema.validate(data, result_schema())
    assert (data["exitCode"], data["status"]) == (130, "failed")
    assert [(s["name"], s["status"]) for s in data["stages"]][-1] == ("maven", "failed")
    assert engine.images.list(name=image_name) == []


@pytest.fixture
def buildah_base(tmp_path_factory: pytest.TempPathFactory, engine) -> Iterator[str]:
    """The base image in a loopback registry, where buildah (which reads no Docker engine)
    pulls it from; the copy in buildah's store is removed after. (Not under the test's
    tmp_path: no process of the test's own may mention that.)"""
    if shutil.which("buildah") is None:
        pytest.skip("buildah is not installed (scripts/setup installs it)")
    with Registry(tmp_path_factory.mktemp("buildah-registry")) as registry:
        base = registry.ref("base/jre", "17")
        engine.images.get(BASE_IMAGE).tag(base)
        for _ in engine.api.push(base, stream=True, decode=True):
            pass
        engine.images.remove(base)
        try:
            yield base
        finally:
            subprocess.run(["buildah", "rmi", base], capture_output=True, timeout=60)


def buildah_containers() -> set[str]:
    return set(subprocess.run(["buildah", "containers", "-q", "--notruncate"], capture_output=True, text=True, timeout=60, check=True).stdout.split())


def buildah_images_named(repository: str) -> list[str]:
    listed = json.loads(subprocess.run(["buildah", "images", "--json"], capture_output=True, text=True, timeout=60, check=True).stdout or "[]")
    return [name for image in listed for name in image.get("names") or [] if repository in name]


@pytest.mark.parametrize("builder", ["buildkit", "docker-api", "buildah"])
def test_ctrl_c_during_the_image_build_cancels_it_in_the_engine(request: pytest.FixtureRequest, tmp_path: Path, engine, image_name, builder: str) -> None:
    """The RUN step's process (a container of the classic builder's; a runc process of
    BuildKit's; buildah's chroot child) runs when SIGINT comes; it is gone soon after, with
    every process of the run, nothing is tagged, no container of the build is left, and the
    run's work directory and scratch files are removed."""
    project = copy_fixture("hello-service", tmp_path)
    nap = f"sleep 120.{uuid.uuid4().int % 10**6:06d}"  # this test's own: another run's sleep is not ours
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("WORKDIR /app\n", f"WORKDIR /app\nRUN {nap}\n"))
    (tmp_path / "tmp").mkdir()
    env = {"AUTOPACK_CACHE_DIR": str(tmp_path / "cache"), "TMPDIR": str(tmp_path / "tmp")}
    args = ["build", str(project), "--image", image_name, "--skip-tests", "--engine", builder]
    if builder == "buildah":
        # As test_buildah.py: the base from a loopback registry; chroot isolation, where
        # containers do not nest, and then RUN needs the host's network.
        args += ["--build-arg", f"BASE_IMAGE={request.getfixturevalue('buildah_base')}", "--network", "host"]
        env["BUILDAH_ISOLATION"] = "chroot"

    def containers() -> set[str]:
        return buildah_containers() if builder == "buildah" else {c.id for c in engine.containers.list(all=True)}

    containers_before = containers()
    run = Interruptible(args, env)

    run.wait_for(lambda: any(f"RUN {nap}" in line for line in run.lines))
    run.wait_for(lambda: processes_mentioning(nap))  # the step runs
    took = run.interrupt()

    assert run.proc.returncode == 130, "\n".join(run.lines)
    assert took < 15, "autopack waited for the build instead of stopping"
    assert run.lines[-1] == "autopack: error: interrupted"
    deadline = time.monotonic() + 20
    while (processes_mentioning(nap) or processes_mentioning(str(tmp_path)) or containers() - containers_before) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_mentioning(nap) == [], "the build's RUN step outlived the interrupt"
    assert processes_mentioning(str(tmp_path)) == [], "a process of the run outlived it"
    assert containers() - containers_before == set(), "the build's container was left behind"
    assert engine.images.list(name=image_name) == []
    if builder == "buildah":
        assert buildah_images_named(image_name) == []
    assert [p for p in (tmp_path / "cache" / "work").glob("*") if p.is_dir()] == [], "the run's work directory was left"
    assert list((tmp_path / "tmp").glob("autopack-*")) == [], "the build's scratch directory was left"


@pytest.fixture(scope="module")
def big_svn_repository(tmp_path_factory: pytest.TempPathFactory) -> str:
    base = tmp_path_factory.mktemp("big-svn")
    subprocess.run(["svnadmin", "create", str(base / "repo")], check=True)
    trunk = base / "import" / "trunk"
    trunk.mkdir(parents=True)
    for i in range(FILES):
        (trunk / f"f{i}.txt").write_text(f"file {i}\n" * 200)
    url = (base / "repo").as_uri()
    run_svn("import", "--username", "ada", "-m", "many files", str(base / "import"), url)
    return f"{url}/trunk"


@pytest.mark.parametrize("backend", ["pysvn", "cli"])
def test_ctrl_c_during_an_svn_checkout_leaves_nothing_a_later_run_trusts(tmp_path: Path, big_svn_repository: str, backend: str) -> None:
    env = {"AUTOPACK_CACHE_DIR": str(tmp_path / "cache"), svn.BACKEND_ENV: backend}
    dest = tmp_path / "wc"
    run = Interruptible(["checkout", big_svn_repository, str(dest)], env)

    # Cue: the working copy in the cache is being filled.
    run.wait_for(lambda: any((tmp_path / "cache").rglob("f*.txt")))
    took = run.interrupt()

    assert run.proc.returncode == 130, "\n".join(run.lines)
    assert took < 15
    assert run.lines[-1] == "autopack: error: interrupted"
    assert not dest.exists(), "a half checkout was left where the user asked for one"
    again = autopack("checkout", big_svn_repository, tmp_path / "wc2", env=env)
    assert again.returncode == 0, again.stderr
    assert len(list((tmp_path / "wc2").glob("f*.txt"))) == FILES
    assert "checkout of" in again.stdout and "switching cached working copy" not in again.stdout
