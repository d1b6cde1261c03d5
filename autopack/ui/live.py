"""The terminal view: one rich ``Live`` with a row per stage (spinner, state, what it is
doing now, elapsed time); log lines worth reading scroll above it."""

from __future__ import annotations

import threading
import time
from typing import IO, Any

from rich.console import Console, Group
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from autopack import secrets
from autopack.process import strip_ansi
from autopack.events import Event, LogLine, Progress, StageFinished, StageStarted
from autopack.ui import summary

_ICONS = {"ok": Text("✓", style="green"), "failed": Text("✗", style="bold red"), "skipped": Text("-", style="dim"), "pending": Text("·", style="dim")}


class _Row:
    def __init__(self, title: str) -> None:
        self.title = title
        self.state = "pending"
        self.message = ""
        self.started = 0.0
        self.seconds = 0.0
        self.spinner = Spinner("dots", style="cyan")


class LiveRenderer:
    def __init__(self, stream: IO[str], stages: dict[str, str], verbosity: str = "normal") -> None:
        self.console = Console(file=stream, highlight=False)
        self.verbosity = verbosity
        self.rows = {name: _Row(title) for name, title in stages.items()}
        self.live = Live(console=self.console, refresh_per_second=8, transient=False, get_renderable=self._render)
        self._lock = threading.Lock()

    def __enter__(self) -> LiveRenderer:
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.stop()

    def __call__(self, event: Event) -> None:
        with self._lock:
            row = self.rows.get(event.stage)
            if isinstance(event, StageStarted) and row:
                row.state, row.started = "running", time.monotonic()
            elif isinstance(event, StageFinished) and row:
                row.state, row.seconds = event.status, event.seconds
                if event.summary:
                    row.message = event.summary
            elif isinstance(event, Progress) and row:
                row.message = secrets.redact(event.message)
            elif isinstance(event, LogLine) and self._shows(event):
                style = {"error": "red", "warning": "yellow"}.get(event.level, "")
                self.console.print(Text(strip_ansi(secrets.redact(event.text)), style=style), soft_wrap=True)

    def _shows(self, event: LogLine) -> bool:
        if event.level in ("error", "warning"):
            return True
        if self.verbosity == "quiet":
            return False
        return event.level == "info" or self.verbosity == "verbose"

    def _render(self) -> Table:
        table = Table.grid(padding=(0, 1))
        table.add_column(width=1)
        table.add_column(style="bold", min_width=7)
        table.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        table.add_column(justify="right", style="dim")
        now = time.monotonic()
        for row in self.rows.values():
            if row.state == "running":
                icon: Any = row.spinner
                elapsed = f"{now - row.started:.1f}s"
            else:
                icon = _ICONS.get(row.state, _ICONS["pending"])
                elapsed = f"{row.seconds:.1f}s" if row.state != "pending" else ""
            table.add_row(icon, row.title, Text(row.message, style="dim" if row.state != "running" else ""), elapsed)
        return table

    def summary(self, data: dict[str, Any]) -> None:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        for key, value in summary.rows(data):
            style = "green" if key == "result" and data["status"] == "ok" else ("red" if key == "result" else "")
            grid.add_row(key, Text(secrets.redact(value), style=style))
        self.console.print(Group(Text(""), grid))
