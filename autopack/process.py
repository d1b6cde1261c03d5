"""The one way autopack runs a child (mvn, git, svn): an argv list, never a shell; its own
process group, so that Ctrl-C and timeouts stop the whole tree; output streamed line by line
to a callback and to a log file; failures readable, with secrets redacted."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from autopack import secrets

# Colour and cursor codes some tools emit even in batch mode (Maven 3.8 prints ESC[0m).
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


# Every child still running, so that an interrupt stops those that run on a worker thread
# too: that thread may never see the KeyboardInterrupt (parallel.py's are daemons).
_running: set[subprocess.Popen] = set()
_running_lock = threading.Lock()


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    tail: tuple[str, ...]


class ProcessFailed(Exception):
    """A child exited non-zero; adapters turn this into their stage's error."""

    def __init__(self, completed: Completed) -> None:
        self.completed = completed
        command = secrets.redact(" ".join(completed.argv))
        super().__init__(f"{command} exited with code {completed.returncode}")


def run(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    on_line: Callable[[str], None] = lambda line: None,
    log_path: Path | None = None,
    tail_lines: int = 50,
    check: bool = True,
    stdin_text: str | None = None,
) -> Completed:
    """Run ``argv``; every line of its merged stdout/stderr goes to ``on_line`` (redacted)
    and to ``log_path``. Raises ``ProcessFailed`` on a non-zero exit when ``check``.

    ``stdin_text`` is written to the child's stdin (then closed): the way to hand a secret
    to a child (``svn --password-from-stdin``) without putting it in its argv or environment."""
    tail: deque[str] = deque(maxlen=tail_lines)
    log = open(log_path, "a", encoding="utf-8") if log_path else None
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our own process group: Ctrl-C reaches us, we stop the tree
        )
    except FileNotFoundError as e:
        if log:
            log.close()
        missing = Completed(tuple(argv), 127, (f"{argv[0]}: command not found",))
        if check:
            raise ProcessFailed(missing) from e
        return missing
    with _running_lock:
        _running.add(proc)
    try:
        if stdin_text is not None:
            assert proc.stdin is not None
            try:
                proc.stdin.write(stdin_text.encode())
                proc.stdin.close()
            except BrokenPipeError:
                pass  # the child exited without reading; its exit code tells why
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = secrets.redact(strip_ansi(raw.decode("utf-8", "replace").rstrip("\r\n")))
            tail.append(line)
            if log:
                log.write(line + "\n")
            on_line(line)
        proc.wait()
    except BaseException:
        # Interrupted (Ctrl-C, a failing callback): never leave the child's tree behind.
        _stop_group(proc)
        raise
    finally:
        with _running_lock:
            _running.discard(proc)
        if log:
            log.close()
    completed = Completed(tuple(argv), proc.returncode, tuple(tail))
    if check and proc.returncode != 0:
        raise ProcessFailed(completed)
    return completed


def stop_all() -> None:
    """Stop every child's process group that is still running, side by side (a docker CLI
    ends its BuildKit build, Maven its JVMs). For an interrupted run, before it exits."""
    with _running_lock:
        procs = list(_running)
    stoppers = [threading.Thread(target=_stop_group, args=(p,), daemon=True) for p in procs]
    for t in stoppers:
        t.start()
    for t in stoppers:
        t.join(timeout=15)


def _stop_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
