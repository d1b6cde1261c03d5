"""The live view as a person sees it: a real build in a real pseudo-terminal of 80×24 (and a
short one), its bytes fed to a terminal emulator (pyte), and the *screens* checked — the
header, the stage rows, Maven's modules with their tests, the build step, a destination's
push block with its layers, the summary, text from the repository shown literally — never
the event list."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import termios
import time

import pyte
import pytest

from tests.conftest import AUTOPACK, copy_fixture, git
from tests.servers.fault_proxy import FaultProxy
from tests.servers.fixtures import registries  # noqa: F401  (fixture)

pytestmark = pytest.mark.e2e
STAGE_ROW = re.compile(r"^(\S) (Source|Plan|Maven|Image|Push)( |$)")


def screens_of(argv: list[str], columns: int, lines: int, timeout: float = 600) -> tuple[int, list[list[str]], str]:
    """Run ``argv`` on a terminal of ``columns``×``lines``; every distinct screen it drew, in
    order, and the bytes it wrote."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: its terminal has the size, as a user's window would
        fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        os.execve(argv[0], argv, {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(lines)})
    screen = pyte.Screen(columns, lines)
    stream = pyte.ByteStream(screen)
    shots: list[list[str]] = []
    written: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        written.append(data)
        stream.feed(data)
        if select.select([fd], [], [], 0.02)[0]:
            continue  # a frame is written in pieces: a screen is taken once the writing pauses
        shot = [line.rstrip() for line in screen.display]
        if not shots or shot != shots[-1]:
            shots.append(shot)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), shots, b"".join(written).decode("utf-8", "replace")


def first(shots: list[list[str]], pattern: str) -> list[str]:
    """The first screen with a line matching ``pattern``."""
    found = next((shot for shot in shots if any(re.search(pattern, line) for line in shot)), None)
    assert found is not None, f"no screen shows /{pattern}/; the last one:\n" + "\n".join(shots[-1] if shots else [])
    return found


def test_a_build_with_a_push_on_an_80_by_24_terminal(tmp_path, engine, image_name, registries):  # noqa: F811
    a, _, _ = registries
    project = copy_fixture("hello-service", tmp_path, as_git=True)
    # A step that lasts, so that a redraw shows it (a build from cache is over before one).
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("WORKDIR /app\n", f"WORKDIR /app\nRUN sleep 1 # {image_name}\n"))
    git(project, "commit", "-q", "-am", "a step that lasts")
    sha = git(project, "rev-parse", "HEAD")[:8]
    # Each blob upload trickles for about two seconds: the push block is on screen for a while.
    proxy = FaultProxy(a, kind="blob-upload", mode="slow", times=None, piece=4096, pause=0.25, pieces=8).start()
    try:
        code, shots, _ = screens_of([str(AUTOPACK), "build", str(project), "--image", image_name, "--push", f"{proxy.host}/team/hello", "--engine", "buildkit", "--no-sbom", "--no-provenance"], 80, 24)
    finally:
        proxy.stop()
    final = shots[-1]
    assert code == 0, "\n".join(final)

    header = first(shots, rf"^autopack  .*@ {sha} \(main\)")
    assert any(project.name in line for line in header if line.startswith("autopack")), "the source, cut from its start where it is long"
    first(shots, rf"^autopack  \S*{project.name} @ {sha} \(main\)  · buildkit")  # the engine joins the header once planned

    maven = first(shots, r"^\S Maven +hello-service .*tests \d+ run, 0 failed")
    assert any(STAGE_ROW.match(line) and line.endswith("s") for line in maven if "Source" in line), "a finished stage shows its time"
    first(shots, r"^\S Image +Step \d+/\d+ · (FROM|WORKDIR|COPY|ENV|CMD|ENTRYPOINT|ARG|LABEL|RUN)")

    push = first(shots, rf"^ +{re.escape(proxy.host)}/team/hello +\S{{16}} \d+/\d+ layers( · \d+\.\d (MB|kB)/\d+\.\d (MB|kB))?$")
    assert any(re.match(r"^ +[0-9a-f]{12} +\S{16} (pushing|waiting|exists|pushed|mounted)( |$)", line) for line in push), "\n".join(push)

    # The end: every stage on one line of its own with its final time, then the summary and the log's path.
    done = [shot for shot in shots if sum(1 for line in shot if re.match(r"^✓ (Source|Plan|Maven|Image|Push) .* \d+\.\ds$", line)) == 5]
    assert done, "\n".join(final)
    text = "\n".join(final)
    assert re.search(r"^result +ok$", text, re.M) and f"{image_name}:1.0.0" in text and re.search(r"^log +maven:", text, re.M) and "/maven.log" in text, text
    for shot in shots:
        for line in shot:
            assert "\x1b" not in line and "[bold" not in line, line  # no stray control sequence or markup on screen


def test_a_reactor_on_a_short_terminal_keeps_every_stage_on_screen(tmp_path, engine, image_name):
    project = copy_fixture("multi-module", tmp_path, as_git=True)
    code, shots, _ = screens_of([str(AUTOPACK), "build", str(project), "--image", image_name], 80, 12)
    assert code == 0, "\n".join(shots[-1])

    # While Maven runs, its modules are listed with their phase (and tests, once they ran).
    maven = first(shots, r"^\s+\S.* · tests \d+ run, \d+ failed")
    assert any(re.match(r"^\S Maven ", line) for line in maven)
    # However much there is to show, the view never grows past the terminal: once it is
    # drawn, the five stage rows are on every screen until the summary scrolls them away.
    drawn = [shot for shot in shots if sum(1 for line in shot if STAGE_ROW.match(line)) >= 1]
    during = [shot for shot in drawn if not any(line.startswith("result") for line in shot)]
    assert during, "the view was drawn"
    for shot in during:
        titles = [STAGE_ROW.match(line)[2] for line in shot if STAGE_ROW.match(line)]
        assert titles == ["Source", "Plan", "Maven", "Image", "Push"], "\n".join(shot)


def test_text_from_the_repository_is_shown_as_written_never_read_as_markup(tmp_path, engine, image_name):
    project = copy_fixture("hello-service", tmp_path, as_git=True)  # its commit message: "fixture [bold]markup[/bold] stays literal"
    code, shots, written = screens_of([str(AUTOPACK), "build", str(project), "--image", image_name, "--skip-tests"], 120, 40)
    assert code == 0, "\n".join(shots[-1])
    assert "\x1b[" in written  # a terminal gets the rich view ...
    assert any("fixture [bold]markup[/bold] stays literal" in line for shot in shots for line in shot)  # ... and the commit's text as written
    assert any(re.match(r"^result +ok$", line) for line in shots[-1]) and any(f"{image_name}:1.0.0" in line for line in shots[-1])
