"""Running Maven off the pom and finding what it produced.

The command line is built by a pure function (``maven_command``) so that its exact output
is unit-tested; the run streams Maven's lines through ``MavenWatcher``, which turns them
into progress (module, goal, tests) and keeps the ``[ERROR]`` lines for the failure report.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from autopack import process, secrets
from autopack.errors import MavenError
from autopack.events import Emit, LogLine, Progress
from autopack.maven import artifact, failures, repository
from autopack.maven.config import MavenConfig, parse_args
from autopack.maven.pom import Project
from autopack.settings import Settings

STAGE = "maven"

# A layered image of a plain jar takes its dependencies from Maven's own resolution: the
# runtime classpath copied into target/dependency by the same run (``-DincludeScope=runtime``).
COPY_DEPENDENCIES = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"


@dataclass(frozen=True)
class MavenBuild:
    """The maven stage's value — also when Maven failed (``error``): the test counts and the
    status of each module it got to are kept either way."""

    command: tuple[str, ...]
    log: Path
    seconds: float
    tests: Mapping[str, int] = field(default_factory=dict)
    module_status: Mapping[str, str] = field(default_factory=dict)  # module <name> → SUCCESS/FAILURE/SKIPPED
    reported: tuple[artifact.Reported, ...] = ()  # the files Maven's log says it built
    started: float = 0.0  # wall-clock time Maven started (time.time())
    error: MavenError | None = None
    artifacts: Mapping[str, Path] = field(default_factory=dict)  # image module → the file for its image

    def built(self, module_name: str) -> bool:
        """Whether Maven built this module (all of them, when it did not fail)."""
        return self.error is None or self.module_status.get(module_name) == "SUCCESS"


def maven_command(settings: Settings, project_dir: Path, projects: Sequence[str] = (), config: MavenConfig | None = None) -> list[str]:
    """The Maven argv for ``settings`` — ``./mvnw`` when the project ships the wrapper.
    ``projects`` (module paths) limit a reactor build to them and what they need; the
    properties ``config`` (else ``settings``) already sets are left to it."""
    wrapper = project_dir / "mvnw"
    argv = ["./mvnw"] if wrapper.is_file() and os.access(wrapper, os.X_OK) else ["mvn"]
    argv += ["--batch-mode", "-Dstyle.color=never"]  # no prompts, no ANSI in logs
    if settings.offline:
        argv.append("--offline")
    if settings.maven_settings:
        argv += ["--settings", str(settings.maven_settings)]
    if settings.profiles:
        argv += ["--activate-profiles", ",".join(settings.profiles)]
    for key, value in settings.defines.items():
        argv.append(f"-D{key}={value}")
    if settings.skip_tests:
        argv.append("-DskipTests")
    if settings.maven_threads:
        argv += ["--threads", settings.maven_threads]
    if projects:
        argv += ["--projects", ",".join(projects), "--also-make"]
    argv += settings.maven_args
    configured = config.defines if config is not None else {**settings.defines, **parse_args(settings.maven_args).defines}
    argv += repository.command_args(settings, argv[0], project_dir, configured)  # how concurrent runs share the repository
    argv += settings.goals
    return argv


class MavenWatcher:
    """Reads Maven's output line by line: progress for the view, [ERROR] lines for the report."""

    _BUILDING = re.compile(r"^\[INFO\] Building (?P<name>.+?) (?P<version>\S+)(?: +\[(?P<n>\d+)/(?P<total>\d+)\])?$")
    _MOJO = re.compile(r"^\[INFO\] --- (?P<plugin>[\w.-]+):(?:[\w.-]+:)?(?P<goal>[\w-]+) (?:\((?P<execution>[^)]*)\) )?@ (?P<module>\S+) ---$")
    _TESTS = re.compile(r"Tests run: (?P<run>\d+), Failures: (?P<failures>\d+), Errors: (?P<errors>\d+), Skipped: (?P<skipped>\d+), Time elapsed")
    _FAILED_GOAL = re.compile(r"^\[ERROR\] Failed to execute goal (?P<goal>\S+)(?: \([^)]*\))? on project (?P<module>[^:]+): (?P<reason>.*)$")
    _SUMMARY = re.compile(r"^\[INFO\] (?P<name>.+?) \.+ ?(?P<status>SUCCESS|FAILURE|SKIPPED)\b")
    _ARCHIVE = re.compile(r"^\[INFO\] Building [\w.]+: ")  # the archiver's "Building jar: /x.jar"
    _HELP = re.compile(r"\s*-> \[Help \d+\]$")
    _NOISE = ("To see the full stack trace", "Re-run Maven using", "For more information about the errors", "[Help ", "-> [Help", "After correcting the problems")

    def __init__(self, emit: Emit) -> None:
        self.emit = emit
        self.module = ""
        self.position = ""
        self.goal = ""
        self.mojo_module = self.mojo_plugin = ""  # the running mojo's "@ module" (an artifactId) and plugin
        self.reported: list[artifact.Reported] = []
        self.tests = {"run": 0, "failures": 0, "errors": 0, "skipped": 0}
        self.errors: list[str] = []
        self.causes: list[str] = []  # the "… -> [Help 1]" lines
        self.failed_goal: re.Match[str] | None = None
        self.module_status: dict[str, str] = {}  # by module <name>, from the reactor summary
        self.local_repository = Path.home() / ".m2" / "repository"  # for the download-failure hint
        self.mirror_ids: tuple[str, ...] = ()  # the <mirror> ids of the settings

    def __call__(self, line: str) -> None:
        shown = line.startswith("[ERROR]") and self._error(line)
        if (m := self._BUILDING.match(line)) and not self._ARCHIVE.match(line):
            self.module = m["name"]
            self.position = f"{m['n']}/{m['total']}" if m["n"] else ""
            self._progress()
        elif m := self._MOJO.match(line):
            self.mojo_module, self.mojo_plugin = m["module"], m["plugin"]
            self.goal = f"{m['plugin'].removeprefix('maven-').removesuffix('-plugin')}:{m['goal']}"
            self._progress()
        elif m := self._SUMMARY.match(line):
            self.module_status[m["name"]] = m["status"]
            self.emit(Progress(STAGE, f"{m['name']}: {m['status'].lower()}", {"module": m["name"], "state": m["status"].lower(), "key": m["name"]}))
        elif report := artifact.reported(line, self.mojo_module, self.mojo_plugin):
            self.reported.append(report)
        if not shown:
            self.emit(LogLine(STAGE, line, "debug"))
        if m := self._TESTS.search(line):
            for key in self.tests:
                self.tests[key] += int(m[key])
            self._progress()

    def _error(self, line: str) -> bool:
        """Keep and show an [ERROR] line unless it is Maven's boilerplate; True if shown."""
        body = line[len("[ERROR]") :].strip()
        if m := self._FAILED_GOAL.match(line):
            self.failed_goal = m
        if (cause := self._HELP.sub("", body)) != body:
            self.causes.append(cause)  # Maven's summary of why: kept for the one-line error, not shown again
        if body and not any(body.startswith(n) or n in body for n in self._NOISE):
            self.errors.append(body)
            self.emit(LogLine(STAGE, line, "error"))
            return True
        return False

    def _progress(self) -> None:
        t = self.tests
        tests = f"tests {t['run']} run, {t['failures'] + t['errors']} failed" if t["run"] else ""
        where = f"{self.module} [{self.position}]" if self.position else self.module
        message = " · ".join(part for part in (where, self.goal, tests) if part)
        self.emit(Progress(STAGE, message, {"module": self.module, "goal": self.goal, "key": "", **{f"tests_{k}": v for k, v in t.items()}}))

    def failure(self, log: Path, completed: process.Completed) -> MavenError:
        download = failures.download_failure([*self.errors, *self.causes], self.local_repository, self.mirror_ids)
        if download is not None:
            return download
        hint = f"the [ERROR] lines above say why; full log: {log}"
        if self.failed_goal:
            m = self.failed_goal
            goal = m["goal"].split(":")
            short = f"{goal[1].removeprefix('maven-').removesuffix('-plugin')}:{goal[-1]}" if len(goal) >= 3 else m["goal"]
            reason = m["reason"].split(" -> [Help")[0].strip().rstrip(".")
            detail = self._first_detail()
            return MavenError(f"Maven failed in module {m['module']} ({short}): {reason}{detail}", hint)
        if self.errors:
            return MavenError(f"Maven failed: {self.errors[0]}", hint)
        # Maven's launcher (a bad JAVA_HOME, a broken wrapper) fails before logging [ERROR].
        said = " ".join(line.strip() for line in completed.tail[-3:] if line.strip())
        return MavenError(f"Maven failed (exit code {completed.returncode}): {said or 'no output'}", f"full log: {log}")

    def _first_detail(self) -> str:
        """The first concrete error (a compiler message, a failed test) before the summary."""
        for body in self.errors:
            if body.startswith(("Failed to execute goal", "COMPILATION ERROR", "Tests run:", "Results:", "Errors:", "Failures:")) or "<<<" in body:
                continue
            if body.startswith("/") or "Test" in body or re.match(r"^\S+:\d+", body):
                return f" — {body}"
        return ""


# Credentials autopack itself reads (git, svn, registries): the project's build and its tests
# never see them. Any other variable whose value is one of those secrets goes too.
def run_maven(settings: Settings, project: Project, emit: Emit, log: Path, projects: Sequence[str] = (), config: MavenConfig | None = None) -> MavenBuild:
    """Run Maven once for the whole reactor. A Maven that fails gives a ``MavenBuild`` with
    its ``error``, and the modules and files it got to; only a Maven that cannot start
    raises."""
    argv = maven_command(settings, project.directory, projects, config)
    watcher = MavenWatcher(emit)
    watcher.local_repository = repository.local_repository(settings, config.local_repository if config is not None else None, project.directory)
    if config is not None:
        watcher.mirror_ids = tuple(m.id for m in config.mirrors)
    error: MavenError | None = None
    # Maven before 3.9 cannot share the repository with another run: wait for it here.
    with repository.exclusive(watcher.local_repository, repository.launcher_version(argv[0], project.directory), emit):
        emit(LogLine(STAGE, "$ " + " ".join(argv), "info"))
        started, wall = time.monotonic(), time.time()
        try:
            process.run(argv, cwd=project.directory, env=secrets.child_environment(os.environ, settings.maven_env), on_line=watcher, log_path=log)
        except process.ProcessFailed as e:
            if e.completed.returncode == 127:
                raise MavenError(f"{argv[0]}: command not found", "install Maven (apt-get install maven) or add ./mvnw to the project") from e
            error = watcher.failure(log, e.completed)
    return MavenBuild(tuple(argv), log, time.monotonic() - started, dict(watcher.tests), dict(watcher.module_status), tuple(watcher.reported), wall, error)
