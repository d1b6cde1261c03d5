"""Plain output for CI consoles and pipes: one timestamped line per state change, no cursor
movement, nothing redrawn. Colour only when asked for (a console known to render it, or
FORCE_COLOR); in GitLab CI each stage is a collapsible section of the job log.

Events arrive from the main thread and from workers at once: one lock is held for the whole
of an event, from deciding whether it is news (the last message of each thing) to the
lines written for it, so that no line is cut into another and a stage's section markers
stay around its lines."""

from __future__ import annotations

import threading
import time
from typing import IO, Any

from autopack.events import Event, LogLine, Progress, StageFinished, StageStarted
from autopack.printable import clean, clean_lines
from autopack.ui import summary

_STYLES = {"ok": "32", "failed": "1;31", "error": "31", "warning": "33", "title": "1;36"}


class PlainRenderer:
    def __init__(self, stream: IO[str], verbosity: str = "normal", *, colour: bool = False, sections: bool = False) -> None:
        self.stream = stream
        self.verbosity = verbosity
        self.colour = colour
        self.sections = sections
        self._last_progress: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> PlainRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.stream.flush()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._handle(event)
            self.stream.flush()

    def _handle(self, event: Event) -> None:
        if self.sections and isinstance(event, StageFinished) and event.status != "skipped":
            self._line(event, self._format(event))
            self._raw(f"\x1b[0Ksection_end:{int(time.time())}:autopack_{clean(event.stage)}\r\x1b[0K")
            return
        if self.sections and isinstance(event, StageStarted):
            # GitLab folds everything up to the matching section_end under this header.
            self._raw(f"\x1b[0Ksection_start:{int(time.time())}:autopack_{clean(event.stage)}\r\x1b[0K{self._paint('title', clean(event.title))}")
            return
        self._line(event, self._format(event))

    def _line(self, event: Event, text: str | None) -> None:
        if text is None:
            return
        style = _style_of(event)
        self._write(f"{time.strftime('%H:%M:%S')} {clean(event.stage):<6} ", text, style)

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
        if isinstance(event, Progress) and event.facts.get("plain") is False:
            return None
        if isinstance(event, Progress):
            # One line per change of each thing (a stage, or one layer of one destination).
            key = (event.stage, str(event.facts.get("key", "")))
            if self._last_progress.get(key) == event.message:
                return None
            self._last_progress[key] = event.message
            return event.message
        return None

    def _paint(self, style: str | None, text: str) -> str:
        return f"\x1b[{_STYLES[style]}m{text}\x1b[0m" if self.colour and style else text

    def _write(self, prefix: str, text: str, style: str | None = None) -> None:
        # The text is the project's (Maven's, the build's, a commit's): redacted, and none of
        # its control sequences reach the console; a line break in it starts a line of its
        # own, with the prefix again. Autopack's own colour goes around the cleaned text.
        for line in clean_lines(text):
            self.stream.write(prefix + self._paint(style, line) + "\n")

    def _raw(self, text: str) -> None:
        self.stream.write(text + "\n")

    def summary(self, data: dict[str, Any]) -> None:
        with self._lock:
            for key, value in summary.rows(data):
                style = ("ok" if data["status"] == "ok" else "failed") if key == "result" else None
                self._write(f"{key + ':':<10} ", value, style)
            self.stream.flush()


def _style_of(event: Event) -> str | None:
    if isinstance(event, LogLine) and event.level in ("error", "warning"):
        return event.level
    if isinstance(event, StageFinished):
        return "ok" if event.status == "ok" else "failed" if event.status == "failed" else None
    return None
