"""The one place that maps what went wrong to an exit code and one line on stderr:
autopack's stage errors → their code, Ctrl-C → 130, SIGTERM → 143, anything else → 1 with
the traceback written to a file, never to the screen.

SIGTERM (a CI cancel, ``timeout``, ``kill``) is made to behave like Ctrl-C: it raises
``Terminated`` in the main thread, so the run unwinds the same way — children's process
groups stopped, the work directory and temporary files removed, locks released, the result
file written with the stage that was running."""

from __future__ import annotations

import contextlib
import signal
import tempfile
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from autopack import printable, process, secrets
from autopack.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, AutopackError


class Terminated(BaseException):  # noqa: N818 — named like KeyboardInterrupt, its sibling
    """SIGTERM arrived: unwind like KeyboardInterrupt (neither is an ``Exception``)."""


@dataclass
class Outcome:
    exit_code: int = 0
    stage: str = ""
    message: str = ""
    hint: str = ""

    @property
    def error(self) -> dict[str, str] | None:
        if not self.exit_code:
            return None
        return {"stage": self.stage, "message": secrets.redact(self.message), "hint": secrets.redact(self.hint)}

    def line(self) -> str:
        text = f"autopack: error: {self.message}" + (f" — {self.hint}" if self.hint else "")
        return printable.clean(" ".join(text.split()))  # a registry's or server's words, made inert


@contextlib.contextmanager
def error_handler(log_dir: Path | None = None) -> Iterator[Outcome]:
    outcome = Outcome()
    try:
        yield outcome
    except AutopackError as e:
        outcome.exit_code, outcome.stage, outcome.message, outcome.hint = e.exit_code, e.stage, e.message, e.hint
    except KeyboardInterrupt:
        outcome.exit_code, outcome.stage, outcome.message = EXIT_INTERRUPTED, "interrupted", "interrupted"
    except Terminated:
        outcome.exit_code, outcome.stage, outcome.message = EXIT_TERMINATED, "terminated", "terminated (SIGTERM)"
    except Exception as e:  # noqa: BLE001 — the last line of defence: one line, the rest in a file
        crash = _write_traceback(log_dir)
        outcome.exit_code, outcome.stage = 1, "internal"
        outcome.message = f"internal error: {type(e).__name__}: {e}"
        outcome.hint = f"this is a bug in autopack; the traceback is in {crash}"
    finally:
        process.stop_all()  # children of worker threads (an image build's docker CLI) outlive no run


@contextlib.contextmanager
def terminate_like_interrupt() -> Iterator[None]:
    """While the block runs, the first SIGTERM raises ``Terminated`` in the main thread; a
    second one, during the clean-up, is ignored so that the clean-up can finish (SIGKILL
    still ends the process at once)."""
    raised = False

    def on_sigterm(signum: int, frame: object) -> None:
        nonlocal raised
        if not raised:
            raised = True
            raise Terminated()

    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only
        return
    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _write_traceback(log_dir: Path | None) -> Path:
    directory = log_dir or Path(tempfile.gettempdir())
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="autopack-crash-", suffix=".log", dir=directory)
    with open(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(printable.clean_lines(traceback.format_exc())) + "\n")
    return Path(name)
