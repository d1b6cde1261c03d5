"""Sharing the Maven local repository: the Maven version read without a JVM (fake Maven
installations and wrapper files in tmp_path, and the real ``mvn`` and wrapper fixture of this
machine), the flags ``maven_command`` adds, and the lock for Maven before 3.9 — held by
another process, which is then killed. Two real concurrent builds: tests/e2e/test_maven_repo.py."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import filelock
import pytest

from autopack.events import Event, LogLine
from autopack.maven import repository
from autopack.maven.config import MavenConfig
from autopack.maven.runner import maven_command
from autopack.settings import Settings

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
NAMED_LOCK_FLAGS = ["-Daether.syncContext.named.factory=file-lock", "-Daether.syncContext.named.nameMapper=file-gav", "-Daether.syncContext.named.time=600"]


def fake_maven(tmp_path: Path, core_jar: str, pom_version: str | None = None) -> str:
    """A Maven installation (``bin/mvn``, ``lib/<core_jar>``) reached through a symlink on
    a PATH directory, as /usr/bin/mvn → /usr/share/maven/bin/mvn; returns that PATH."""
    home = tmp_path / "apache-maven"
    (home / "bin").mkdir(parents=True)
    (home / "lib").mkdir()
    mvn = home / "bin" / "mvn"
    mvn.write_text("#!/bin/sh\nexit 99\n")  # never run: the version comes from the files
    mvn.chmod(0o755)
    with zipfile.ZipFile(home / "lib" / core_jar, "w") as jar:
        if pom_version:
            jar.writestr("META-INF/maven/org.apache.maven/maven-core/pom.properties", f"artifactId=maven-core\ngroupId=org.apache.maven\nversion={pom_version}\n")
    (home / "lib" / "maven-core-extras.txt").write_text("not a jar")
    on_path = tmp_path / "path-bin"
    on_path.mkdir()
    (on_path / "mvn").symlink_to(mvn)
    return str(on_path)


def wrapped(tmp_path: Path, properties: str) -> Path:
    project = tmp_path / "project"
    (project / ".mvn" / "wrapper").mkdir(parents=True)
    (project / ".mvn" / "wrapper" / "maven-wrapper.properties").write_text(properties)
    wrapper = project / "mvnw"
    wrapper.write_text("#!/bin/sh\n")
    wrapper.chmod(0o755)
    return project


# --- the version, without a JVM ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("jar", "inside", "expected"),
    [
        ("maven-core-3.9.11.jar", None, (3, 9, 11)),
        ("maven-core-3.8.7.jar", "9.9.9", (3, 8, 7)),  # the file name first
        ("maven-core-3.x.jar", "3.8.7", (3, 8, 7)),  # Debian's name: the jar's own record
        ("maven-core-4.0.0-rc-4.jar", "4.0.0-rc-4", (4, 0, 0)),
        ("maven-core-3.x.jar", None, None),
    ],
)
def test_the_version_of_mvn_on_path_from_its_core_jar(tmp_path: Path, jar: str, inside: str | None, expected: tuple[int, ...] | None) -> None:
    assert repository.installed_version(fake_maven(tmp_path, jar, inside)) == expected


def test_no_mvn_on_path_has_no_version(tmp_path: Path) -> None:
    assert repository.installed_version(str(tmp_path)) is None


def test_this_machines_mvn_is_read_as_maven_3_8() -> None:
    assert repository.installed_version() is not None and repository.installed_version()[:2] == (3, 8)  # type: ignore[index]


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        ("distributionUrl=https://repo.maven.apache.org/maven2/org/apache/maven/apache-maven/3.9.11/apache-maven-3.9.11-bin.zip\n", (3, 9, 11)),
        ("wrapperVersion=3.3.2\ndistributionType=bin\n  distributionUrl = https://nexus.example.com/repository/maven/org/apache/maven/apache-maven/3.8.8/apache-maven-3.8.8-bin.zip  \n", (3, 8, 8)),
        ("distributionUrl=https\\://repo.maven.apache.org/maven2/org/apache/maven/apache-maven/3.6.3/apache-maven-3.6.3-bin.zip\n", (3, 6, 3)),  # escaped, as older wrappers wrote it
        ("distributionUrl=https://repo.maven.apache.org/maven2/org/apache/maven/apache-maven/4.0.0-rc-4/apache-maven-4.0.0-rc-4-bin.zip\n", (4, 0, 0)),
        ("distributionUrl=https://archive.apache.org/dist/maven/mvnd/1.0.2/maven-mvnd-1.0.2-linux-amd64.zip\n", None),  # mvnd: unknown
        ("wrapperVersion=3.3.4\n", None),
    ],
)
def test_the_version_the_wrapper_runs_from_its_distribution_url(tmp_path: Path, properties: str, expected: tuple[int, ...] | None) -> None:
    assert repository.wrapper_version(wrapped(tmp_path, properties)) == expected


def test_a_wrapper_without_properties_has_no_version(tmp_path: Path) -> None:
    assert repository.wrapper_version(tmp_path) is None


def test_the_wrapper_fixture_runs_maven_3_9() -> None:
    assert repository.launcher_version("./mvnw", FIXTURES / "maven-wrapper") == (3, 9, 11)


# --- the flags -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [None, (3, 6, 3), (3, 8, 7)])
def test_maven_before_3_9_gets_no_lock_flags(version: tuple[int, ...] | None) -> None:
    assert repository.sharing_args(version) == []


@pytest.mark.parametrize("version", [(3, 9, 0), (3, 9, 11), (4, 0, 0)])
def test_maven_3_9_and_later_lock_across_processes(version: tuple[int, ...]) -> None:
    assert repository.sharing_args(version) == NAMED_LOCK_FLAGS


def test_a_lock_property_the_user_set_is_left_to_them() -> None:
    assert repository.sharing_args((3, 9, 11), {"aether.syncContext.named.factory"}) == NAMED_LOCK_FLAGS[1:]


def test_the_wrapper_fixtures_command_locks_across_processes() -> None:
    assert maven_command(Settings(), FIXTURES / "maven-wrapper") == ["./mvnw", "--batch-mode", "-Dstyle.color=never", *NAMED_LOCK_FLAGS, "clean", "package"]


def test_mvn_3_8_gets_only_the_repository(tmp_path: Path) -> None:
    settings = Settings(maven_repo=tmp_path / "m2", defines={"maven.repo.local": "/elsewhere"}, maven_args=("-Dmaven.repo.local=/too/late",))

    assert maven_command(settings, tmp_path) == [
        "mvn",
        "--batch-mode",
        "-Dstyle.color=never",
        "-Dmaven.repo.local=/elsewhere",
        "-Dmaven.repo.local=/too/late",
        f"-Dmaven.repo.local={tmp_path / 'm2'}",  # last: Maven takes the last -D
        "clean",
        "package",
    ]


def test_a_relative_maven_repo_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    assert f"-Dmaven.repo.local={tmp_path / 'cache' / 'm2'}" in maven_command(Settings(maven_repo=Path("cache/m2")), tmp_path / "project")


def test_mvn_3_9_on_path_gets_the_flags_unless_maven_config_sets_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", fake_maven(tmp_path, "maven-core-3.9.6.jar"))
    config = MavenConfig(base_dir=tmp_path, user_properties={"aether.syncContext.named.time": "60"}, system_properties={"aether.syncContext.named.nameMapper": "file-hgav"})

    assert maven_command(Settings(), tmp_path) == ["mvn", "--batch-mode", "-Dstyle.color=never", *NAMED_LOCK_FLAGS, "clean", "package"]
    assert maven_command(Settings(), tmp_path, config=config) == ["mvn", "--batch-mode", "-Dstyle.color=never", NAMED_LOCK_FLAGS[0], "clean", "package"]
    assert maven_command(Settings(defines={"aether.syncContext.named.factory": "rwlock-local"}), tmp_path)[3:5] == ["-Daether.syncContext.named.factory=rwlock-local", *NAMED_LOCK_FLAGS[1:2]]


def test_the_repository_is_the_option_else_maven_configs(tmp_path: Path) -> None:
    project = tmp_path / "project"
    assert repository.local_repository(Settings(maven_repo=tmp_path / "a"), tmp_path / "b", project) == tmp_path / "a"
    assert repository.local_repository(Settings(), tmp_path / "b", project) == tmp_path / "b"
    assert repository.local_repository(Settings(), Path("m2"), project) == project / "m2"  # Maven runs in the project
    assert repository.local_repository(Settings(), None, project) == Path.home() / ".m2" / "repository"


# --- the lock for Maven before 3.9 -------------------------------------------------------------------


def test_maven_3_9_takes_no_lock(tmp_path: Path) -> None:
    repo = tmp_path / "m2"
    with repository.exclusive(repo, (3, 9, 11), lambda e: None):
        pass
    assert not repo.exists()


def test_an_unheld_repository_is_locked_at_once_and_made(tmp_path: Path) -> None:
    events: list[Event] = []
    repo = tmp_path / "new" / "m2"

    with repository.exclusive(repo, (3, 8, 7), events.append):
        other = filelock.FileLock(str(repo / ".autopack.lock"))
        with pytest.raises(filelock.Timeout):
            other.acquire(timeout=0)

    assert events == []
    other.acquire(timeout=0)  # released
    other.release()


HOLDER = """
import sys, time, filelock
lock = filelock.FileLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_another_run_holding_it_is_waited_for_once_until_it_is_killed(tmp_path: Path) -> None:
    """The holder is another process that is SIGKILLed: its flock goes with it."""
    repo = tmp_path / "m2"
    repo.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(repo / ".autopack.lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        events: list[Event] = []
        entered = threading.Event()

        def run() -> None:
            with repository.exclusive(repo, (3, 8, 7), events.append):
                entered.set()

        waiter = threading.Thread(target=run)
        waiter.start()
        time.sleep(0.5)
        assert not entered.is_set()
        holder.kill()
        waiter.join(timeout=10)
    finally:
        holder.kill()
        holder.wait()

    assert entered.is_set()
    assert events == [LogLine("maven", f"waiting for the Maven repository {repo}: another run holds it (Maven 3.8.7 cannot share it safely)", "info")]


def test_an_unknown_maven_is_locked_too(tmp_path: Path) -> None:
    repo = tmp_path / "m2"
    with repository.exclusive(repo, None, lambda e: None):
        assert (repo / ".autopack.lock").exists()


def test_a_repository_that_cannot_be_locked_runs_unlocked_with_a_warning(tmp_path: Path) -> None:
    """As on a read-only repository (which --offline may still read); here one below a file,
    which fails for root too."""
    (tmp_path / "file").write_text("")
    events: list[Event] = []

    with repository.exclusive(tmp_path / "file" / "m2", (3, 8, 7), events.append):
        pass

    assert [(e.level, "running Maven without the lock" in e.text) for e in events if isinstance(e, LogLine)] == [("warning", True)]


def test_maven_repo_beats_maven_opts_and_settings_for_the_model(tmp_path: Path) -> None:
    from autopack.maven import config as maven_config

    (tmp_path / "pom.xml").write_text("<project><modelVersion>4.0.0</modelVersion><groupId>g</groupId><artifactId>a</artifactId><version>1</version></project>")
    environ = {"MAVEN_OPTS": "-Dmaven.repo.local=/from/maven-opts"}

    assert maven_config.read(Settings(), tmp_path, environ).local_repository == Path("/from/maven-opts")
    assert maven_config.read(Settings(maven_repo=tmp_path / "shared"), tmp_path, environ).local_repository == tmp_path / "shared"
