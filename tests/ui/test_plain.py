"""The plain renderer (CI consoles, pipes) and the summary rows it prints."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from autopack import secrets
from autopack.engine import Image
from autopack.events import Event, LogLine, Progress, StageFinished, StageStarted
from autopack.maven.pom import Project
from autopack.maven.runner import MavenBuild
from autopack.plan import Plan, PlannedImage
from autopack.result import BuiltImage, Result, StageTime
from autopack.ui import summary
from autopack.ui.plain import PlainRenderer

ANSI = re.compile(r"\x1b\[")
LINE = re.compile(r"^(?P<time>\d{2}:\d{2}:\d{2}) (?P<stage>\S+) +(?P<text>.*)$")


@pytest.fixture(autouse=True)
def no_known_secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(secrets, "_secrets", set())
    yield


def render(events: list[Event], verbosity: str = "normal") -> list[str]:
    stream = io.StringIO()
    with PlainRenderer(stream, verbosity) as renderer:
        for event in events:
            renderer(event)
    return stream.getvalue().splitlines()


def texts(lines: list[str]) -> list[str]:
    return [LINE.match(line)["text"] for line in lines]  # type: ignore[index]


EVERY_KIND = [
    StageStarted("maven", "Maven"),
    Progress("maven", "hello-service · compiler:compile"),
    LogLine("maven", "[DEBUG] a debug line", "debug"),
    LogLine("maven", "Maven log: /logs/maven.log", "info"),
    LogLine("maven", "[WARNING] deprecated", "warning"),
    LogLine("maven", "[ERROR] compilation failed", "error"),
    StageFinished("maven", "failed", 12.34, "compile error"),
]


def test_each_line_starts_with_a_timestamp_and_the_stage() -> None:
    lines = render(EVERY_KIND, "verbose")

    assert len(lines) == len(EVERY_KIND)
    for line in lines:
        match = LINE.match(line)
        assert match, line
        assert match["stage"] == "maven"
    assert lines[0].endswith(" maven  --- Maven ---")
    assert texts(lines)[-1] == "failed in 12.3s: compile error"


def test_normal_shows_all_but_debug() -> None:
    assert texts(render(EVERY_KIND)) == [
        "--- Maven ---",
        "hello-service · compiler:compile",
        "Maven log: /logs/maven.log",
        "[WARNING] deprecated",
        "[ERROR] compilation failed",
        "failed in 12.3s: compile error",
    ]


def test_verbose_shows_debug_lines() -> None:
    assert "[DEBUG] a debug line" in texts(render(EVERY_KIND, "verbose"))
    assert "[DEBUG] a debug line" not in texts(render(EVERY_KIND, "normal"))


def test_quiet_shows_errors_only() -> None:
    assert texts(render(EVERY_KIND, "quiet")) == ["[ERROR] compilation failed"]


def test_a_repeated_progress_message_is_printed_once() -> None:
    events: list[Event] = [
        Progress("maven", "hello · compiler:compile"),
        Progress("maven", "hello · compiler:compile"),
        Progress("image", "hello · compiler:compile"),  # another stage keeps its own last message
        Progress("maven", "hello · surefire:test"),
        Progress("maven", "hello · surefire:test"),
        Progress("maven", "hello · compiler:compile"),
    ]

    assert texts(render(events)) == [
        "hello · compiler:compile",
        "hello · compiler:compile",
        "hello · surefire:test",
        "hello · compiler:compile",
    ]


def test_rich_markup_is_printed_literally() -> None:
    lines = render(
        [
            StageStarted("maven", "[bold]Maven[/bold]"),
            Progress("maven", "[red]x[/red]"),
            LogLine("maven", "[bold red]x[/]", "error"),
            LogLine("maven", "[ERROR] [link=http://x]y[/link]", "error"),
        ]
    )

    assert texts(lines) == ["--- [bold]Maven[/bold] ---", "[red]x[/red]", "[bold red]x[/]", "[ERROR] [link=http://x]y[/link]"]
    assert not any(ANSI.search(line) for line in lines)


def test_colour_codes_in_an_events_text_are_not_passed_on() -> None:
    # Image-build output comes from the Docker stream, not through process.run's ANSI filter.
    lines = render([LogLine("image", "\x1b[31mnpm ERR!\x1b[0m build failed", "error"), Progress("image", "\x1b[1mStep 3/9\x1b[0m")])

    assert len(lines) == 2
    assert not any(ANSI.search(line) for line in lines), lines
    assert "npm ERR! build failed" in lines[0]


def test_a_registered_secret_never_appears() -> None:
    secrets.register("tok-9f8e7d")
    stream = io.StringIO()
    renderer = PlainRenderer(stream, "verbose")

    renderer(StageStarted("source", "Source tok-9f8e7d"))
    renderer(Progress("source", "cloning https://u:tok-9f8e7d@git.example.com/x.git"))
    renderer(LogLine("source", "debug tok-9f8e7d", "debug"))
    renderer(LogLine("source", "error tok-9f8e7d", "error"))
    renderer(StageFinished("source", "failed", 1.0, "auth tok-9f8e7d"))
    renderer.summary({"status": "failed", "exitCode": 3, "logs": {"source": "/logs/tok-9f8e7d.log"}})

    output = stream.getvalue()
    assert "tok-9f8e7d" not in output
    assert output.count("******") == 6


# --- summary -----------------------------------------------------------------------------


def test_summary_of_an_empty_successful_run() -> None:
    data = Result().to_dict(0)

    assert summary.rows(data) == [("result", "ok")]
    stream = io.StringIO()
    PlainRenderer(stream).summary(data)
    assert stream.getvalue() == "result:    ok\n"


def failed_record() -> Result:
    project = Project(
        pom=Path("/src/hello/pom.xml"),
        group_id="com.example",
        artifact_id="hello",
        version="1.0.0",
        packaging="jar",
        final_name="hello-1.0.0",
        build_directory=Path("/src/hello/target"),
    )
    return Result(
        plan=Plan(project, (PlannedImage("hello", ("hello:1.0.0", "hello:latest"), project),), engine="buildkit"),
        maven=MavenBuild(("mvn",), Path("/logs/maven.log"), 3.2, {"run": 4, "failures": 1, "errors": 0, "skipped": 1}),
        stages=(StageTime("source", "ok", 0.12), StageTime("plan", "ok", 0.04), StageTime("maven", "failed", 3.25)),
        logs={"maven": "/logs/maven.log"},
    )


def test_summary_rows_of_a_failed_run() -> None:
    data = failed_record().to_dict(4, {"stage": "maven", "message": "Maven failed", "hint": ""})

    assert summary.rows(data) == [
        ("result", "failed (exit 4)"),
        ("project", "com.example:hello:1.0.0"),
        ("tests", "4 run, 1 failed, 0 errors, 1 skipped"),
        ("planned", "hello:1.0.0, hello:latest"),
        ("stages", "source 0.1s  plan 0.0s  maven 3.2s (failed)"),
        ("log", "maven: /logs/maven.log"),
    ]


def test_summary_lines_of_a_failed_run() -> None:
    stream = io.StringIO()
    PlainRenderer(stream).summary(failed_record().to_dict(4))

    lines = stream.getvalue().splitlines()
    assert lines[0] == "result:    failed (exit 4)"
    assert lines[1] == "project:   com.example:hello:1.0.0"
    assert not any(ANSI.search(line) for line in lines)


def test_summary_rows_of_a_built_image() -> None:
    image = Image("sha256:0123456789abcdef0123", ("hello:1.0.0", "hello:latest"), {}, 123_456_789, 4.0)
    result = replace(failed_record(), images=(BuiltImage("hello", image),))

    rows = summary.rows(result.to_dict(0))

    assert ("image", "0123456789ab (123.5 MB)") in rows
    assert [value for key, value in rows if key == "tag"] == ["hello:1.0.0", "hello:latest"]
    assert not any(key == "planned" for key, _ in rows)


def test_summary_names_what_each_destination_got_attached_and_the_files_written() -> None:
    data = {
        "status": "ok",
        "exitCode": 0,
        "images": [],
        "destinations": [{"destination": "r.example.com/team/app", "status": "ok", "digest": "sha256:" + "ab" * 32, "attempts": 1, "unchangedTags": [], "error": None, "attached": [{"kind": "sbom"}, {"kind": "signature"}]}],
        "supplyChain": {"images": [{"module": "app", "files": {"sbom": "/out/r.app.cdx.json", "provenance": "/out/r.app.provenance.json"}}]},
    }
    rows = summary.rows(data)
    assert ("push", f"r.example.com/team/app: ok {'ab' * 6}, attached: sbom, signature") in rows
    assert ("sbom", "/out/r.app.cdx.json") in rows and ("provenance", "/out/r.app.provenance.json") in rows


def test_gitlab_sections_wrap_each_stage_and_colour_is_only_where_asked():
    import io
    import re

    from autopack.events import StageFinished as Finished
    from autopack.events import StageStarted as Started
    from autopack.ui.plain import PlainRenderer as Renderer

    out = io.StringIO()
    renderer = Renderer(out, sections=True, colour=True)
    renderer(Started("maven", "Maven"))
    renderer(Finished("maven", "ok", 1.5))
    text = out.getvalue()
    assert re.search(r"\x1b\[0Ksection_start:\d+:autopack_maven\r\x1b\[0K", text)
    assert re.search(r"\x1b\[0Ksection_end:\d+:autopack_maven\r\x1b\[0K", text)
    assert "\x1b[32mok in 1.5s\x1b[0m" in text

    plain = io.StringIO()
    renderer = Renderer(plain, sections=False, colour=False)
    renderer(Started("maven", "Maven"))
    renderer(Finished("maven", "ok", 1.5))
    assert "\x1b" not in plain.getvalue() and "ok in 1.5s" in plain.getvalue()


def test_colour_policy_no_color_beats_force_color_beats_gitlab():
    from autopack.ui import wants_colour

    assert wants_colour({"GITLAB_CI": "true"}) is True
    assert wants_colour({"GITLAB_CI": "true", "NO_COLOR": "1"}) is False
    assert wants_colour({"FORCE_COLOR": "1"}) is True
    assert wants_colour({"FORCE_COLOR": "1", "NO_COLOR": "1"}) is False
    assert wants_colour({"JENKINS_URL": "https://jenkins.example.com/"}) is False
    assert wants_colour({"FORCE_COLOR": "0"}) is False
