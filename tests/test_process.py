"""The child process runner, on real children."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autopack import process, secrets
from autopack.process import ProcessFailed


@pytest.fixture(autouse=True)
def no_known_secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(secrets, "_secrets", set())
    yield


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_lines_reach_the_callback_and_the_log_in_order(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    lines: list[str] = []
    code = "import sys\nfor i in range(5):\n    print('out', i, flush=True)\n    print('err', i, file=sys.stderr, flush=True)"

    completed = process.run(python(code), on_line=lines.append, log_path=log)

    expected = [f"{stream} {i}" for i in range(5) for stream in ("out", "err")]
    assert lines == expected
    assert log.read_text().splitlines() == expected
    assert completed.returncode == 0
    assert completed.tail == tuple(expected)


def test_colour_codes_are_removed(tmp_path: Path) -> None:
    lines: list[str] = []

    process.run(["printf", "\\033[0m\\033[1;31m[INFO]\\033[m Scanning\\n"], on_line=lines.append)

    assert lines == ["[INFO] Scanning"]


def test_cwd_and_env_are_passed(tmp_path: Path) -> None:
    lines: list[str] = []

    process.run(python("import os; print(os.getcwd()); print(os.environ['AUTOPACK_X'])"), cwd=tmp_path, env={"AUTOPACK_X": "42"}, on_line=lines.append)

    assert lines == [str(tmp_path), "42"]


def test_a_non_zero_exit_raises_with_the_code_the_tail_and_a_redacted_command() -> None:
    secrets.register("tok-9f8e7d")
    argv = python("import sys\nfor i in range(100): print('line', i)\nsys.exit(3)") + ["--password=tok-9f8e7d"]

    with pytest.raises(ProcessFailed) as caught:
        process.run(argv, tail_lines=5)

    completed = caught.value.completed
    assert completed.returncode == 3
    assert completed.tail == tuple(f"line {i}" for i in range(95, 100))
    message = str(caught.value)
    assert message.endswith("exited with code 3")
    assert sys.executable in message
    assert "--password=******" in message
    assert "tok-9f8e7d" not in message


def test_registered_secrets_are_redacted_in_lines_and_log(tmp_path: Path) -> None:
    secrets.register("tok-9f8e7d")
    log = tmp_path / "child.log"
    lines: list[str] = []

    process.run(["echo", "token is tok-9f8e7d"], on_line=lines.append, log_path=log)

    assert lines == ["token is ******"]
    assert "tok-9f8e7d" not in log.read_text()


def test_check_false_returns_the_failure() -> None:
    completed = process.run(python("raise SystemExit(4)"), check=False)

    assert completed.returncode == 4


def test_a_missing_command_is_exit_code_127() -> None:
    with pytest.raises(ProcessFailed) as caught:
        process.run(["autopack-no-such-command-xyz", "--version"])

    assert caught.value.completed.returncode == 127
    assert "command not found" in caught.value.completed.tail[-1]


def test_a_missing_command_with_check_false_returns_127() -> None:
    # The docstring promises ProcessFailed only "when check"; a missing command is exit code 127.
    completed = process.run(["autopack-no-such-command-xyz"], check=False)

    assert completed.returncode == 127


def test_the_child_has_its_own_process_group() -> None:
    lines: list[str] = []

    process.run(python("import os; print(os.getpgid(0)); print(os.getpid())"), on_line=lines.append)

    child_group, child_pid = (int(x) for x in lines)
    assert child_group != os.getpgid(0)
    assert child_group == child_pid  # the child leads its new group


def _pids_running(argv: list[str]) -> list[int]:
    """Live processes (not zombies) whose command line is exactly ``argv``."""
    wanted = ("\0".join(argv) + "\0").encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "cmdline").read_bytes() == wanted and (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_a_failing_callback_stops_the_whole_group() -> None:
    sleeper = ["sleep", f"61.{os.getpid()}"]  # a unique argument to find our grandchild by
    seen: list[int] = []

    def on_line(line: str) -> None:
        if line == "started":
            # `sh` forks the background job before it echoes, but the fork may not have exec'd
            # `sleep` yet: give it a moment to show up under its own command line.
            deadline = time.monotonic() + 5
            while not seen and time.monotonic() < deadline:
                seen.extend(_pids_running(sleeper))
                time.sleep(0.02)
            raise RuntimeError("renderer broke")

    started = time.monotonic()
    with pytest.raises(RuntimeError, match="renderer broke"):
        process.run(["sh", "-c", f"{' '.join(sleeper)} & echo started; wait"], on_line=on_line)

    assert seen, "the grandchild was not running when the callback raised"
    deadline = time.monotonic() + 3
    while _pids_running(sleeper) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _pids_running(sleeper) == []
    assert time.monotonic() - started < 10
