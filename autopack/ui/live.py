"""The terminal view: one rich ``Live`` with a row per stage (spinner, state, what it is
doing now, elapsed time); log lines worth reading scroll above it.

Events arrive from the main thread and from workers (image builds, registry pushes side by
side) while rich's own thread redraws the view several times a second. One lock guards the
view's state: an event changes it under the lock, and ``_render`` builds the table under the
same lock out of fresh objects (``Text``, ``ProgressBar``) that share nothing with the state,
so rich renders a snapshot that no event changes underneath it. Nothing else is done under
that lock: a log line is printed outside it, because ``console.print`` takes rich's own
lock, which rich's redraw holds while it asks for the table (the other order would
deadlock)."""

from __future__ import annotations

import threading
import time
from typing import IO, Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from autopack.events import Event, LogLine, Progress, StageFinished, StageStarted
from autopack.printable import clean, clean_lines
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
    def __init__(self, stream: IO[str], stages: dict[str, str], verbosity: str = "normal", *, refresh_per_second: float = 8) -> None:
        self.console = Console(file=stream, highlight=False)
        self.verbosity = verbosity
        # Held for every change of the state below and while _render reads it (see the module's docstring).
        self._lock = threading.Lock()
        self.rows = {name: _Row(clean(title)) for name, title in stages.items()}
        # destination → layer → (state, current bytes, total bytes), drawn under the push row
        self.layers: dict[str, dict[str, tuple[str, int, int]]] = {}
        self.verified: dict[str, str] = {}
        # module → stage → what it is doing: a row per module when a reactor builds several
        self.modules: dict[str, dict[str, str]] = {}
        self.live = Live(console=self.console, refresh_per_second=refresh_per_second, transient=False, get_renderable=self._render)

    def __enter__(self) -> LiveRenderer:
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.stop()

    def __call__(self, event: Event) -> None:
        if isinstance(event, LogLine):
            if self._shows(event):
                style = {"error": "red", "warning": "yellow"}.get(event.level, "")
                self.console.print(Text("\n".join(clean_lines(event.text)), style=style), soft_wrap=True)
            return
        with self._lock:
            self._apply(event)

    def _apply(self, event: StageStarted | StageFinished | Progress) -> None:
        row = self.rows.get(event.stage)
        if isinstance(event, StageStarted) and row:
            row.state, row.started = "running", time.monotonic()
        elif isinstance(event, StageFinished) and row:
            row.state, row.seconds = event.status, event.seconds
            if event.summary:
                row.message = clean(event.summary)
        elif isinstance(event, Progress) and "layer" in event.facts:
            f = event.facts
            self.layers.setdefault(clean(str(f["destination"])), {})[clean(str(f["layer"]))] = (clean(str(f["state"])), _int(f.get("current")), _int(f.get("total")))
        elif isinstance(event, Progress) and event.facts.get("state") == "verified":
            self.verified[clean(str(event.facts["destination"]))] = clean(event.message)
        elif isinstance(event, Progress) and row:
            row.message = clean(event.message)
            if "module" in event.facts:
                module = clean(str(event.facts["module"]))
                self.modules.setdefault(module, {})[event.stage] = row.message.removeprefix(f"{module}: ")

    def _shows(self, event: LogLine) -> bool:
        if event.level in ("error", "warning"):
            return True
        if self.verbosity == "quiet":
            return False
        return event.level == "info" or self.verbosity == "verbose"

    def _render(self) -> Table:
        with self._lock:
            return self._table()

    def _table(self) -> Table:
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
            table.add_row(icon, Text(row.title), Text(row.message, style="dim" if row.state != "running" else ""), Text(elapsed))
            if row.title == "Image" and len(self.modules) > 1:
                table.add_row("", "", self._module_rows(), "")
            if row.title == "Push" and row.state == "running":
                for destination, layers in self.layers.items():
                    table.add_row("", "", self._destination_block(destination, layers), "")
        return table

    def _module_rows(self) -> Table:
        block = Table(box=None, padding=(0, 1), show_edge=False)
        block.add_column("module", style="bold", no_wrap=True)
        block.add_column("maven", no_wrap=True, overflow="ellipsis", max_width=50)
        block.add_column("image", no_wrap=True, overflow="ellipsis", max_width=40)
        block.add_column("push", no_wrap=True, overflow="ellipsis", max_width=30)
        for module, stages in self.modules.items():
            block.add_row(Text(module), Text(stages.get("maven", "")), Text(stages.get("image", "")), Text(stages.get("push", "")))
        return block

    def _destination_block(self, destination: str, layers: dict[str, tuple[str, int, int]]) -> Table:
        block = Table.grid(padding=(0, 1))
        block.add_column(no_wrap=True)
        block.add_column(width=24)
        block.add_column(no_wrap=True, style="dim")
        done = sum(1 for state, _, _ in layers.values() if state in ("done", "exists", "mounted"))
        block.add_row(Text(destination, style="bold"), Text(self.verified.get(destination, f"{done}/{len(layers)} layers")), "")
        for layer, (state, current, total) in layers.items():
            finished = state in ("done", "exists", "mounted")
            bar = ProgressBar(total=float(total or 1), completed=float(total or 1) if finished else float(current), width=24)
            size = f"{current / 1e6:.1f}/{total / 1e6:.1f} MB" if total and not finished else ""
            block.add_row(Text(f"  {layer[:12]}"), bar, Text(f"{state} {size}".strip()))
        return block

    def summary(self, data: dict[str, Any]) -> None:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        for key, value in summary.rows(data):
            style = "green" if key == "result" and data["status"] == "ok" else ("red" if key == "result" else "")
            grid.add_row(Text(key), Text(clean(value), style=style))
        self.console.print(Group(Text(""), grid))


def _int(value: object) -> int:
    """A byte count from an event's facts (an int, or absent)."""
    return value if isinstance(value, int) else 0
