"""The live view on a real pseudo-terminal: stages drawn with state, user text literal."""

from __future__ import annotations

import os
import pty
import select
import time

import pytest

from tests.conftest import AUTOPACK, copy_fixture

pytestmark = pytest.mark.e2e


def run_in_terminal(argv: list[str], timeout: float = 300) -> tuple[int, str]:
    pid, fd = pty.fork()
    if pid == 0:  # the child: autopack sees a terminal on stdout
        env = {**os.environ, "COLUMNS": "120", "LINES": "40", "TERM": "xterm-256color"}
        os.execve(argv[0], argv, env)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode("utf-8", "replace")


def test_live_view_shows_stages_and_prints_user_text_literally(tmp_path, engine, image_name):
    project = copy_fixture("hello-service", tmp_path, as_git=True)
    # A step that lasts: a BuildKit build from cache is over before the view redraws.
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("WORKDIR /app\n", f"WORKDIR /app\nRUN sleep 1 # {image_name}\n"))
    code, screen = run_in_terminal([str(AUTOPACK), "build", str(project), "--image", image_name, "--skip-tests"])
    assert code == 0, screen[-2000:]
    assert "\x1b[" in screen  # a terminal gets the rich view ...
    for title in ("Source", "Plan", "Maven", "Image"):
        assert title in screen
    assert "✓" in screen and "Step " in screen
    # ... and text from the repository is printed as written, never read as markup
    assert "fixture [bold]markup[/bold] stays literal" in screen
    assert "result" in screen and f"{image_name}:1.0.0" in screen
