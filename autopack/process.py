"""The one way autopack runs a child (mvn, git, svn): an argv list, never a shell; its own
process group, so that Ctrl-C and timeouts stop the whole tree; output streamed line by line
to a callback and to a log file; failures readable, with secrets redacted."""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from autopack import printable, secrets

# Every child still running, so that an interrupt stops those that run on a worker thread
# too: that thread may never see the KeyboardInterrupt (parallel.py's are daemons).
_running: set[subprocess.Popen] = set()
_running_lock = threading.Lock()


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
    split_cr: bool = False,
) -> Completed:
    """Run ``argv``; every line of its merged stdout/stderr goes to ``on_line`` and to
    ``log_path``, both redacted. ``log_path`` and the tail (``Completed.tail``, for error
    messages) get it with its control sequences neutralised (``printable.clean``); ``on_line``
    gets it as data (``printable.uncoloured``: colour codes removed, nothing else changed),
    and whoever prints it cleans it (the renderers do). Raises ``ProcessFailed`` on a
    non-zero exit when ``check``.

    ``stdin_text`` is written to the child's stdin (then closed): the way to hand a secret
    to a child (``svn --password-from-stdin``) without putting it in its argv or environment.

    ``split_cr``: a carriage return ends a line too — git redraws its progress meter with
    ``\r`` (``Receiving objects:  45% (450/1000)\r``), and each redraw is a line of its own."""
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
            preexec_fn=_die_with_parent,  # and a SIGKILLed autopack leaves no child running
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
        for raw in _cr_lines(proc.stdout) if split_cr else proc.stdout:
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            # What a person reads (the log file, the tail that error messages quote) carries no
            # escape sequence of the child's: a log someone cats cannot write their clipboard
            # (OSC 52). The callback gets the line as data, for a parser; a renderer that prints
            # it cleans it.
            shown = printable.clean(text)
            tail.append(shown)
            if log:
                log.write(shown + "\n")
            on_line(printable.uncoloured(text))
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


def _die_with_parent() -> None:
    """In the child, before exec: the kernel sends it SIGKILL when autopack's thread that
    started it dies — even by SIGKILL, which no clean-up of ours can catch. Its own children
    (Maven's forked JVMs, git's helpers) end with their pipes, or with its process group."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _load_prctl() -> Callable[[int, int], int] | None:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return None


_PR_SET_PDEATHSIG = 1
_PRCTL = _load_prctl()


def _cr_lines(stream: IO[bytes]) -> Iterator[bytes]:
    """The lines of ``stream`` ended by LF, CR LF or a lone CR, as they arrive (empty ones left out)."""
    pending = b""
    while chunk := stream.read1(65536):  # type: ignore[attr-defined]  # a BufferedReader's
        *complete, pending = re.split(rb"\r\n|\r|\n", pending + chunk)
        yield from (line for line in complete if line)
    if pending:
        yield pending


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


def _stop_group(proc: subprocess.Popen, grace: float = 3.0) -> None:  # TERM, then KILL: gone within ~3 s
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
