"""The terminal view: one rich ``Live`` that redraws at a fixed, bounded rate — a header (the
source, its revision, the engine), a row per stage (state, what it is doing, elapsed or final
time), and under the running stage what it is doing in detail: Maven's modules with their
phase and test counts, each image's build step with its cache hits, each destination's
layers with a bar (bytes, exists, mounted, copied). Log lines worth reading scroll above it.
The view fits the terminal: every line is cut to its width, and the details get the lines
the terminal has left, the most active first.

Events arrive from the main thread and from workers (image builds, registry pushes side by
side) while rich's own thread redraws the view. One lock guards the view's state: an event
changes it under the lock, and ``_render`` builds the view under the same lock out of fresh
objects (``Text``, ``ProgressBar``) that share nothing with the state, so rich renders a
snapshot that no event changes underneath it. Nothing else is done under that lock: a log
line is printed outside it, because ``console.print`` takes rich's own lock, which rich's
redraw holds while it asks for the view (the other order would deadlock)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import IO, Any

from rich.console import Console, Group
from rich.live import Live
from rich.padding import Padding
from rich.progress_bar import ProgressBar
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from autopack.events import Event, LogLine, Progress, RunFacts, StageFinished, StageStarted
from autopack.printable import clean, clean_lines
from autopack.ui import summary

_ICONS = {"ok": Text("✓", style="green"), "failed": Text("✗", style="bold red"), "skipped": Text("-", style="dim"), "pending": Text("·", style="dim")}
_FINISHED = ("done", "exists", "mounted")
_ACTIVITY = {"pushing": 0, "retrying": 0, "waiting": 1, "preparing": 1}  # which layers are shown first when not all fit
_FIXED_LINES = 2  # the header, and the line the cursor rests on


class _Row:
    def __init__(self, title: str) -> None:
        self.title = title
        self.state = "pending"
        self.message = ""
        self.started = 0.0
        self.seconds = 0.0
        self.spinner = Spinner("dots", style="cyan")


@dataclass
class _Module:
    """One module as the view knows it: Maven's phase and tests, its image's step."""

    goal: str = ""
    tests_before: int = 0  # the run's test count when Maven reached this module
    tests_run: int = 0
    tests_failed: int = 0
    maven_state: str = ""
    image: str = ""  # what its build does now (a step, with the cache hits), or its end
    image_done: bool = False


@dataclass
class _Layer:
    state: str
    current: int
    total: int
    copied: bool = False


class LiveRenderer:
    def __init__(self, stream: IO[str], stages: dict[str, str], verbosity: str = "normal", *, refresh_per_second: float = 5) -> None:
        self.console = Console(file=stream, highlight=False)
        self.verbosity = verbosity
        # Held for every change of the state below and while _render reads it (see the module's docstring).
        self._lock = threading.Lock()
        self.rows = {name: _Row(clean(title)) for name, title in stages.items()}
        self._title_width = max([7, *(len(row.title) for row in self.rows.values())])
        self.facts: dict[str, str] = {}
        self.began = time.monotonic()
        # stage → module → what the view knows of it, in the order they appear: Maven names its
        # modules (their <name>), the image stage the image modules
        self.modules: dict[str, dict[str, _Module]] = {"maven": {}, "image": {}}
        self.maven_tests = (0, 0)  # run, failed: Maven's counts so far, over the whole reactor
        self.cached: dict[str, set[int]] = {}  # module ("" for a single image) → its steps the builder found cached
        self.layers: dict[str, dict[str, _Layer]] = {}  # destination → layer → its state
        self.verified: dict[str, str] = {}
        self.attached: dict[str, str] = {}
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

    # -- the state -----------------------------------------------------------------------
    def _apply(self, event: StageStarted | StageFinished | Progress | RunFacts) -> None:
        if isinstance(event, RunFacts):
            self.facts.update({clean(k): clean(str(v)) for k, v in event.facts.items() if v})
            return
        row = self.rows.get(event.stage)
        if isinstance(event, StageStarted) and row:
            row.state, row.started = "running", time.monotonic()
        elif isinstance(event, StageFinished) and row:
            row.state, row.seconds = event.status, event.seconds
            if event.summary:
                row.message = clean(event.summary)
        elif isinstance(event, Progress):
            self._progress(event, row)

    def _progress(self, event: Progress, row: _Row | None) -> None:
        f = event.facts
        if "layer" in f:  # replicate marks each event of a registry-to-registry copy
            self.layers.setdefault(clean(str(f["destination"])), {})[clean(str(f["layer"]))] = _Layer(clean(str(f["state"])), _int(f.get("current")), _int(f.get("total")), bool(f.get("copied")))
            return
        if f.get("state") in ("verified", "attached") and "destination" in f:
            (self.verified if f["state"] == "verified" else self.attached)[clean(str(f["destination"]))] = clean(event.message).split(": ", 1)[-1]
            return
        if row is None:
            return
        module_name = clean(str(f["module"])) if f.get("module") else ""
        if event.stage == "maven" and "tests_run" in f:
            self.maven_tests = (_int(f.get("tests_run")), _int(f.get("tests_failures")) + _int(f.get("tests_errors")))
        if event.stage == "image" and "step" in f:
            row.message = self._step_text(f, module_name)
        else:
            row.message = clean(event.message)
        if module_name:
            self._module(event.stage, module_name, f, row.message)

    def _module(self, stage: str, name: str, f: Any, message: str) -> None:
        known = self.modules.get(stage)
        if known is None:
            return
        module = known.get(name)
        if module is None:
            module = known[name] = _Module(tests_before=self.maven_tests[0])
        if stage == "maven":
            if f.get("goal"):
                module.goal = clean(str(f["goal"]))
            if "tests_run" in f:
                module.tests_run = max(0, _int(f.get("tests_run")) - module.tests_before)
                module.tests_failed = _int(f.get("tests_failures")) + _int(f.get("tests_errors"))
            if f.get("state"):
                module.maven_state = clean(str(f["state"]))
        elif stage == "image":
            module.image = message.removeprefix(f"{name}: ")
            module.image_done = bool(f.get("state"))

    def _step_text(self, f: Any, module: str) -> str:
        cached = self.cached.setdefault(module, set())
        if f.get("cached"):
            cached.add(_int(f.get("step")))
        steps = f"/{f['steps']}" if f.get("steps") else ""
        return f"Step {f['step']}{steps} · {clean(str(f.get('instruction', '')))}" + (f" · {len(cached)} cached" if cached else "")

    def _shows(self, event: LogLine) -> bool:
        if event.level in ("error", "warning"):
            return True
        if self.verbosity == "quiet":
            return False
        return event.level == "info" or self.verbosity == "verbose"

    # -- the view ------------------------------------------------------------------------
    def _render(self) -> Group:
        with self._lock:
            return self._view()

    def _view(self) -> Group:
        """The header, then each stage's row — and under the running one its details, which
        take the whole width (indented by two) and the lines the terminal has left."""
        now = time.monotonic()
        spare = max(0, self.console.size.height - _FIXED_LINES - len(self.rows))
        parts: list[Any] = [self._header(now)]
        for name, row in self.rows.items():
            if row.state == "running":
                icon: Any = row.spinner
                elapsed = f"{now - row.started:.1f}s"
            else:
                icon = _ICONS.get(row.state, _ICONS["pending"])
                elapsed = f"{row.seconds:.1f}s" if row.state not in ("pending", "skipped") else ""
            line = Table.grid(padding=(0, 1), expand=True)  # the same fixed columns on every row: they line up
            line.add_column(width=1, no_wrap=True)
            line.add_column(style="bold", width=self._title_width, no_wrap=True)
            line.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
            line.add_column(justify="right", style="dim", no_wrap=True, width=7)
            line.add_row(icon, Text(row.title), Text(row.message, style="dim" if row.state != "running" else ""), Text(elapsed))
            parts.append(line)
            if row.state == "running":
                parts.extend(Padding(detail, (0, 0, 0, 2)) for detail in self._details(name, spare))
        return Group(*parts)

    def _header(self, now: float) -> Text:
        """One line: the source, its revision, the engine, the time so far. Where it does not
        fit, the source gives way (its start: the end of a path or URL names the project)."""
        f = self.facts
        revision = (f" @ {f['revision']}" if f.get("revision") else "") + (f" ({f['branch']})" if f.get("branch") else "")
        engine = f"  · {f['engine']}" if f.get("engine") else ""
        elapsed = f"  {now - self.began:.0f}s"
        source = f.get("source", "")
        room = self.console.width - len("autopack  ") - len(revision) - len(engine) - len(elapsed)
        if room < min(len(source), 24) and " (" in engine:  # the engine's version goes first
            engine = engine.split(" (", 1)[0]
            room = self.console.width - len("autopack  ") - len(revision) - len(engine) - len(elapsed)
        if len(source) > room:
            source = "…" + source[len(source) - max(room - 1, 0) :] if room > 8 else ""
        text = Text("autopack", style="bold cyan", no_wrap=True, overflow="ellipsis")
        text.append(f"  {source}" if source else " ")
        text.append(revision, style="bold")
        text.append(engine, style="dim")
        text.append(elapsed, style="dim")
        return text

    def _details(self, stage: str, lines: int) -> list[Any]:
        """What the running stage is doing, in at most ``lines`` lines."""
        if lines <= 0:
            return []
        # module names in a column as wide as the longest, up to a third of the line
        modules = self.modules.get(stage, {})
        names = min(max((len(n) for n in modules), default=0), max(12, self.console.width // 3))
        if stage == "maven" and len(modules) > 1:
            return _fit([self._maven_line(n, m, names) for n, m in modules.items()], lines, "modules", keep="last")
        if stage == "image" and len(modules) > 1:
            return _fit([_line(f"{n[:names]:<{names}} {m.image or 'waiting'}", "dim" if m.image_done else "") for n, m in modules.items()], lines, "images", keep="first")
        if stage == "push" and self.layers:
            return self._push_lines(lines)
        return []

    def _maven_line(self, name: str, module: _Module, width: int) -> Text:
        tests = f"tests {module.tests_run} run, {module.tests_failed} failed" if module.tests_run else ""
        state = module.maven_state or module.goal
        text = _line(f"{name[:width]:<{width}} ", "bold" if not module.maven_state else "dim")
        text.append(state, style="red" if module.maven_state == "failure" else "")
        if tests:
            text.append(f" · {tests}")
        return text

    def _push_lines(self, lines: int) -> list[Any]:
        """A line per destination (a bar of all its bytes), then its layers as lines allow:
        those moving first."""
        out: list[Any] = []
        destinations = list(self.layers.items())
        per_destination = max(0, (lines - len(destinations)) // max(1, len(destinations)))
        for destination, layers in destinations:
            if len(out) >= lines:
                break
            out.append(self._destination_line(destination, layers))
            ranked = sorted(layers.items(), key=lambda item: _ACTIVITY.get(item[1].state, 2))
            shown = ranked[:per_destination] if len(ranked) <= per_destination else ranked[: max(0, per_destination - 1)]
            out.extend(self._layer_line(name, layer) for name, layer in shown)
            if len(shown) < len(ranked) and per_destination > 0:
                out.append(_line(f"  … {len(ranked) - len(shown)} more layers", "dim"))
        return out[:lines]

    def _destination_line(self, destination: str, layers: dict[str, _Layer]) -> Table:
        done = sum(1 for layer in layers.values() if layer.state in _FINISHED)
        total = sum(layer.total for layer in layers.values())
        current = sum(layer.total if layer.state in _FINISHED else layer.current for layer in layers.values())
        status = self.verified.get(destination) or f"{done}/{len(layers)} layers"
        if destination in self.attached:
            status += f" · {self.attached[destination]}"
        line = Table.grid(padding=(0, 1), expand=True)
        line.add_column(width=min(len(destination), 34), no_wrap=True, overflow="ellipsis")
        line.add_column(width=16, no_wrap=True)
        line.add_column(ratio=1, no_wrap=True, overflow="ellipsis", style="dim")
        line.add_row(Text(destination, style="bold"), ProgressBar(total=float(total or 1), completed=float(current if total else 1), width=16), Text(f"{status} · {_size(current)}/{_size(total)}" if total else status))
        return line

    def _layer_line(self, name: str, layer: _Layer) -> Table:
        finished = layer.state in _FINISHED
        state = ("copied" if layer.copied else "pushed") if layer.state == "done" else layer.state
        line = Table.grid(padding=(0, 1), expand=True)
        line.add_column(width=14, no_wrap=True)
        line.add_column(width=16, no_wrap=True)
        line.add_column(ratio=1, no_wrap=True, overflow="ellipsis", style="dim")
        size = f"{_size(layer.current)}/{_size(layer.total)}" if layer.total and not finished else _size(layer.total) if layer.total else ""
        bar = ProgressBar(total=float(layer.total or 1), completed=float(layer.total or 1) if finished else float(layer.current), width=16)
        line.add_row(Text(f"  {name[:12]}"), bar, Text(f"{state} {size}".strip()))
        return line

    def summary(self, data: dict[str, Any]) -> None:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        for key, value in summary.rows(data):
            style = "green" if key == "result" and data["status"] == "ok" else ("red" if key == "result" else "")
            grid.add_row(Text(key), Text(clean(value), style=style))
        self.console.print(Group(Text(""), grid))


def _line(text: str, style: str = "") -> Text:
    """A line of the view: cut to the terminal's width, never wrapped onto the next."""
    return Text(text, style=style, no_wrap=True, overflow="ellipsis")


def _fit(lines: list[Text], room: int, noun: str, keep: str) -> list[Any]:
    """``lines`` in ``room`` lines: when they do not fit, the first (or last) ones and a line
    saying how many more there are."""
    if len(lines) <= room:
        return list(lines)
    if room == 1:
        return [_line(f"… {len(lines)} {noun}", "dim")]
    more = _line(f"… {len(lines) - room + 1} more {noun}", "dim")
    return [*lines[: room - 1], more] if keep == "first" else [more, *lines[-(room - 1) :]]


def _size(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1_000_000 or size == 0 else f"{size / 1e3:.1f} kB"


def _int(value: object) -> int:
    """A count from an event's facts (an int, or absent)."""
    return value if isinstance(value, int) else 0
