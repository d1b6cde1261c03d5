"""Plain output for CI consoles and pipes: one timestamped line per state change, no colour,
no cursor movement, nothing redrawn."""

from __future__ import annotations

import threading
import time
from typing import IO, Any

from autopack import secrets
from autopack.process import strip_ansi
from autopack.events import Event, LogLine, Progress, StageFinished, StageStarted
from autopack.ui import summary


class PlainRenderer:
    def __init__(self, stream: IO[str], verbosity: str = "normal") -> None:
        self.stream = stream
        self.verbosity = verbosity
        self._last_progress: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> PlainRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.flush()

    def __call__(self, event: Event) -> None:
        line = self._format(event)
        if line is not None:
            self._write(f"{time.strftime('%H:%M:%S')} {event.stage:<6} {line}")

    def _format(self, event: Event) -> str | None:
        quiet, verbose = self.verbosity == "quiet", self.verbosity == "verbose"
        if isinstance(event, LogLine):
            if event.level == "error" or (event.level == "warning" and not quiet):
                return event.text
            return event.text if (verbose or (event.level == "info" and not quiet)) else None
        if quiet:
            return None
        if isinstance(event, StageStarted):
            return f"--- {event.title} ---"
        if isinstance(event, StageFinished) and event.status == "skipped":
            return f"skipped: {event.summary}" if event.summary else None
        if isinstance(event, StageFinished):
            return f"{event.status} in {event.seconds:.1f}s" + (f": {event.summary}" if event.summary else "")
        if isinstance(event, Progress):
            # One line per change of each thing (a stage, or one layer of one destination).
            key = (event.stage, str(event.facts.get("key", "")))
            if self._last_progress.get(key) == event.message:
                return None
            self._last_progress[key] = event.message
            return event.message
        return None

    def _write(self, text: str) -> None:
        with self._lock:
            self.stream.write(strip_ansi(secrets.redact(text)) + "\n")
            self.stream.flush()

    def summary(self, data: dict[str, Any]) -> None:
        for key, value in summary.rows(data):
            self._write(f"{key + ':':<10} {value}")
