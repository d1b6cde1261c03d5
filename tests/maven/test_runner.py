"""Maven: the argv builder, the output watcher and the environment Maven gets.

Real Maven: the ``built`` fixture copies fixtures/hello-service, broken/compile-error and
broken/failing-test into a temporary directory and runs ``mvn clean package`` on each, online
(through autopack.process, once per module, ~10 s each), so the watcher is tested on the lines
Maven 3.8 really prints. The other watcher tests feed it hand-written lines in the formats of
Maven 3.8 and 3.9.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from autopack import process
from autopack.maven.artifact import find_artifact
from autopack.maven.runner import MavenWatcher, maven_command
from autopack.maven.pom import load_project
from autopack.errors import MavenError
from autopack.events import Event, LogLine, Progress
from autopack.settings import Settings

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

# --- maven_command -----------------------------------------------------------------------


def test_default_command(tmp_path: Path) -> None:
    assert maven_command(Settings(), tmp_path) == ["mvn", "--batch-mode", "-Dstyle.color=never", "clean", "package"]


def test_every_option(tmp_path: Path) -> None:
    settings = Settings(
        offline=True,
        maven_settings=Path("/ci/settings.xml"),
        profiles=("prod", "docker"),
        defines={"revision": "1.2.3", "opts": "-Xmx1g -Dx=y"},
        skip_tests=True,
        maven_args=("-U", "-T", "4"),
        goals=("verify",),
    )

    assert maven_command(settings, tmp_path) == [
        "mvn",
        "--batch-mode",
        "-Dstyle.color=never",
        "--offline",
        "--settings",
        "/ci/settings.xml",
        "--activate-profiles",
        "prod,docker",
        "-Drevision=1.2.3",
        "-Dopts=-Xmx1g -Dx=y",
        "-DskipTests",
        "-U",
        "-T",
        "4",
        "verify",
    ]


def test_the_wrapper_is_used_when_it_is_executable(tmp_path: Path) -> None:
    wrapper = tmp_path / "mvnw"
    wrapper.write_text("#!/bin/sh\n")
    wrapper.chmod(0o755)

    assert maven_command(Settings(), tmp_path)[0] == "./mvnw"


def test_a_wrapper_that_is_not_executable_is_ignored(tmp_path: Path) -> None:
    wrapper = tmp_path / "mvnw"
    wrapper.write_text("#!/bin/sh\n")
    wrapper.chmod(0o644)
    (tmp_path / "sub" / "mvnw").mkdir(parents=True)

    assert maven_command(Settings(), tmp_path)[0] == "mvn"
    assert maven_command(Settings(), tmp_path / "sub")[0] == "mvn"


# --- MavenWatcher on real Maven output ---------------------------------------------------


@dataclass
class Built:
    directory: Path
    completed: process.Completed
    watcher: MavenWatcher
    events: list[Event] = field(default_factory=list)

    @property
    def progress(self) -> list[Progress]:
        return [e for e in self.events if isinstance(e, Progress)]

    @property
    def goals(self) -> list[str]:
        goals: list[str] = []
        for event in self.progress:
            if event.facts["goal"] and (not goals or goals[-1] != event.facts["goal"]):
                goals.append(str(event.facts["goal"]))
        return goals


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    if shutil.which("mvn") is None:
        pytest.skip("needs mvn on PATH")
    root = tmp_path_factory.mktemp("maven")
    runs: dict[str, Built] = {}
    for fixture in ("hello-service", "broken/compile-error", "broken/failing-test"):
        directory = root / Path(fixture).name
        shutil.copytree(FIXTURES / fixture, directory)
        events: list[Event] = []
        watcher = MavenWatcher(events.append)
        completed = process.run(
            maven_command(Settings(), directory),
            cwd=directory,
            env=os.environ.copy(),
            on_line=watcher,
            log_path=root / f"{directory.name}.log",
            check=False,
        )
        runs[directory.name] = Built(directory, completed, watcher, events)
    return runs


def test_real_successful_build(built: dict[str, Built]) -> None:
    run = built["hello-service"]

    assert run.completed.returncode == 0
    assert {e.facts["module"] for e in run.progress} == {"hello-service"}
    assert run.goals == [
        "clean:clean",
        "resources:resources",
        "compiler:compile",
        "resources:testResources",
        "compiler:testCompile",
        "surefire:test",
        "jar:jar",
        "shade:shade",
    ]
    assert run.watcher.tests == {"run": 1, "failures": 0, "errors": 0, "skipped": 0}
    assert run.watcher.errors == []
    assert run.progress[-1].message == "hello-service · shade:shade · tests 1 run, 0 failed"


def test_real_build_artifact_is_the_shaded_jar(built: dict[str, Built]) -> None:
    directory = built["hello-service"].directory
    assert (directory / "target" / "original-hello-service-1.0.0.jar").is_file()

    jar = directory / "target" / "hello-service-1.0.0.jar"
    assert [(r.path, r.runnable) for r in built["hello-service"].watcher.reported] == [(jar, False), (jar, True)]
    assert find_artifact(load_project(directory), built["hello-service"].watcher.reported) == jar


def test_real_compile_error(built: dict[str, Built]) -> None:
    run = built["compile-error"]
    source = run.directory / "src/main/java/com/example/broken/App.java"
    compiler_message = f"{source}:[10,19] incompatible types: java.lang.String cannot be converted to int"

    assert run.completed.returncode == 1
    assert run.goals[-1] == "compiler:compile"
    assert run.progress[-1].facts["module"] == "broken-compile-error"
    assert compiler_message in run.watcher.errors
    assert (
        "Failed to execute goal org.apache.maven.plugins:maven-compiler-plugin:3.13.0:compile (default-compile) "
        "on project broken-compile-error: Compilation failure"
    ) in run.watcher.errors
    assert_no_noise(run.watcher.errors)

    error = run.watcher.failure(Path("/logs/maven.log"), run.completed)

    assert error.message == f"Maven failed in module broken-compile-error (compiler:compile): Compilation failure — {compiler_message}"
    assert "/logs/maven.log" in error.hint


def test_real_failing_test(built: dict[str, Built]) -> None:
    run = built["failing-test"]

    assert run.completed.returncode == 1
    assert run.goals[-1] == "surefire:test"
    assert run.watcher.tests == {"run": 1, "failures": 1, "errors": 0, "skipped": 0}
    assert run.progress[-1].facts["tests_failures"] == 1
    assert run.progress[-1].message == "broken-failing-test · surefire:test · tests 1 run, 1 failed"
    assert "AppTest.addFailsOnPurpose:12 this test fails on purpose ==> expected: <5> but was: <4>" in run.watcher.errors
    assert_no_noise(run.watcher.errors)

    message = run.watcher.failure(Path("maven.log"), run.completed).message

    assert message.startswith("Maven failed in module broken-failing-test (surefire:test): There are test failures — ")
    assert "AppTest.addFailsOnPurpose" in message


def test_real_error_lines_are_emitted_as_errors(built: dict[str, Built]) -> None:
    errors = [e.text for e in built["compile-error"].events if isinstance(e, LogLine) and e.level == "error"]

    assert errors[0].rstrip() == "[ERROR] COMPILATION ERROR :"
    assert all(line.startswith("[ERROR] ") for line in errors)
    assert not any("-> [Help 1]" in line for line in errors)


def assert_no_noise(errors: list[str]) -> None:
    assert "" not in errors
    for noise in ("-> [Help 1]", "To see the full stack trace", "Re-run Maven using", "For more information about the errors", "[Help 1] http"):
        assert not any(noise in body for body in errors), noise


# --- MavenWatcher on hand-written lines --------------------------------------------------


def exited(returncode: int, tail: tuple[str, ...] = ()) -> process.Completed:
    return process.Completed(("mvn", "--batch-mode", "clean", "package"), returncode, tail)


def watch(*lines: str) -> tuple[MavenWatcher, list[Event]]:
    events: list[Event] = []
    watcher = MavenWatcher(events.append)
    for line in lines:
        watcher(line)
    return watcher, events


def progress(events: list[Event]) -> list[Progress]:
    return [e for e in events if isinstance(e, Progress)]


def test_module_and_goal_in_maven_3_8_format() -> None:
    _, events = watch(
        "[INFO] Building hello-service 1.0.0",
        "[INFO] --------------------------------[ jar ]---------------------------------",
        "[INFO] --- maven-compiler-plugin:3.13.0:compile (default-compile) @ hello-service ---",
    )

    assert [p.message for p in progress(events)] == ["hello-service", "hello-service · compiler:compile"]
    assert progress(events)[-1].facts["module"] == "hello-service"
    assert progress(events)[-1].facts["goal"] == "compiler:compile"


def test_goal_in_maven_3_9_format() -> None:
    _, events = watch(
        "[INFO] Building hello-service 1.0.0",
        "[INFO] --- compiler:3.13.0:compile (default-compile) @ hello-service ---",
        "[INFO] --- surefire:3.2.5:test (default-test) @ hello-service ---",
    )

    assert [p.facts["goal"] for p in progress(events)] == ["", "compiler:compile", "surefire:test"]


@pytest.mark.parametrize(
    "line",
    ["[INFO] Building lib 1.0 [2/3]", "[INFO] Building lib 1.0                                                [2/3]"],
    ids=["3.8", "3.9"],
)
def test_reactor_position(line: str) -> None:
    _, events = watch(line)

    assert progress(events)[-1].message == "lib [2/3]"
    assert progress(events)[-1].facts["module"] == "lib"


def test_a_module_name_with_spaces() -> None:
    _, events = watch("[INFO] Building Hello Service 1.0.0-SNAPSHOT [1/2]")

    assert progress(events)[-1].facts["module"] == "Hello Service"


@pytest.mark.parametrize(
    "packaging_line",
    [
        "[INFO] Building jar: /work/web/target/web-1.0.jar",
        "[INFO] Building war: /work/web/target/web-1.0.war",  # maven-war-plugin
    ],
    ids=["jar", "war"],
)
def test_a_packaging_plugins_building_line_is_not_a_module(packaging_line: str) -> None:
    _, events = watch(
        "[INFO] Building web 1.0",
        "[INFO] --- maven-war-plugin:3.4.0:war (default-war) @ web ---",
        packaging_line,
    )

    assert progress(events)[-1].facts["module"] == "web"


def test_test_counts_add_up_per_class_and_ignore_the_summary() -> None:
    _, events = watch(
        "[INFO] Building hello-service 1.0.0",
        "[INFO] --- maven-surefire-plugin:3.2.5:test (default-test) @ hello-service ---",
        "[ERROR] Tests run: 3, Failures: 1, Errors: 0, Skipped: 0, Time elapsed: 0.05 s <<< FAILURE! -- in com.example.AppTest",
        "[WARNING] Tests run: 2, Failures: 0, Errors: 1, Skipped: 1, Time elapsed: 0.01 s -- in com.example.OtherTest",
        "[ERROR] Tests run: 5, Failures: 1, Errors: 1, Skipped: 1",
    )

    last = progress(events)[-1]
    assert last.message == "hello-service · surefire:test · tests 5 run, 2 failed"
    assert {k: v for k, v in last.facts.items() if k.startswith("tests_")} == {
        "tests_run": 5,
        "tests_failures": 1,
        "tests_errors": 1,
        "tests_skipped": 1,
    }


def test_every_line_is_emitted_once() -> None:
    lines = [
        "[INFO] Building hello-service 1.0.0",
        "[ERROR] COMPILATION ERROR : ",
        "[ERROR] /src/App.java:[10,19] incompatible types",
        "[INFO] BUILD FAILURE",
    ]
    _, events = watch(*lines)

    logged = [e for e in events if isinstance(e, LogLine)]
    assert [e.text for e in logged] == lines  # a verbose view must not show [ERROR] lines twice
    assert [e.level for e in logged] == ["debug", "error", "error", "debug"]


COMPILE_FAILURE = [
    "[INFO] Building x 1.0",
    "[INFO] --- maven-compiler-plugin:3.13.0:compile (default-compile) @ x ---",
    "[ERROR] COMPILATION ERROR : ",
    "[ERROR] /work/x/src/main/java/App.java:[3,5] cannot find symbol",
    "[ERROR] Failed to execute goal org.apache.maven.plugins:maven-compiler-plugin:3.13.0:compile (default-compile) on project x: Compilation failure",
    "[ERROR] /work/x/src/main/java/App.java:[3,5] cannot find symbol",
    "[ERROR] -> [Help 1]",
    "[ERROR] ",
    "[ERROR] To see the full stack trace of the errors, re-run Maven with the -e switch.",
    "[ERROR] Re-run Maven using the -X switch to enable full debug logging.",
    "[ERROR] ",
    "[ERROR] For more information about the errors and possible solutions, please read the following articles:",
    "[ERROR] [Help 1] http://cwiki.apache.org/confluence/display/MAVEN/MojoFailureException",
]


def test_error_lines_are_kept_without_noise() -> None:
    watcher, _ = watch(*COMPILE_FAILURE)

    assert watcher.errors == [
        "COMPILATION ERROR :",
        "/work/x/src/main/java/App.java:[3,5] cannot find symbol",
        "Failed to execute goal org.apache.maven.plugins:maven-compiler-plugin:3.13.0:compile (default-compile) on project x: Compilation failure",
        "/work/x/src/main/java/App.java:[3,5] cannot find symbol",
    ]


def test_failure_names_module_goal_reason_and_first_detail() -> None:
    watcher, _ = watch(*COMPILE_FAILURE)

    error = watcher.failure(Path("/logs/maven.log"), exited(1))

    assert isinstance(error, MavenError)
    assert error.message == "Maven failed in module x (compiler:compile): Compilation failure — /work/x/src/main/java/App.java:[3,5] cannot find symbol"


def test_failure_reason_drops_a_help_link_on_the_same_line() -> None:
    watcher, _ = watch(
        "[ERROR] Failed to execute goal org.apache.maven.plugins:maven-surefire-plugin:3.2.5:test (default-test) on project x: There are test failures. -> [Help 1]"
    )

    assert watcher.failure(Path("maven.log"), exited(1)).message == "Maven failed in module x (surefire:test): There are test failures"


def test_failure_without_a_goal_line_uses_the_first_error() -> None:
    watcher, _ = watch(
        "[ERROR] Some problems were encountered while processing the POMs:",
        "[ERROR] 'dependencies.dependency.version' for junit:junit:jar is missing. @ line 20, column 17",
    )

    assert watcher.failure(Path("maven.log"), exited(1)).message == "Maven failed: Some problems were encountered while processing the POMs:"


def test_failure_without_any_error_line_gives_the_exit_code_and_the_last_output() -> None:
    # What Maven's launcher prints before any [ERROR] when JAVA_HOME is wrong.
    tail = ("", "The JAVA_HOME environment variable is not defined correctly,", "this environment variable is needed to run this program.")
    watcher, _ = watch(*tail)

    error = watcher.failure(Path("/logs/maven.log"), exited(1, tail))

    assert error.message == (
        "Maven failed (exit code 1): The JAVA_HOME environment variable is not defined correctly, "
        "this environment variable is needed to run this program."
    )
    assert "/logs/maven.log" in error.hint
