"""The renderers under events from several threads at once, as a multi-destination push and
parallel image builds send them, while rich redraws the live view from its own thread.

Before the renderers held one lock around their state and their rendering, the live view's
redraw died with "RuntimeError: dictionary changed size during iteration" (a new layer or
destination arriving while ``_render`` walked the dicts), and the plain output printed the
same progress line twice in a row (two threads both deciding it was news)."""

from __future__ import annotations

import io
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator

import pytest

from autopack import secrets
from autopack.events import Event, LogLine, Progress, StageFinished, StageStarted
from autopack.ui.live import LiveRenderer
from autopack.ui.plain import PlainRenderer

THREADS = 4
DEADLINE = 60.0  # seconds for a whole scenario; a deadlock fails the test instead of hanging it
LINE = re.compile(r"^\d{2}:\d{2}:\d{2} \S+ +\S.*$")


@pytest.fixture(autouse=True)
def no_known_secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(secrets, "_secrets", set())
    yield


@pytest.fixture
def thread_errors(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Tracebacks of exceptions that escaped any thread (rich's refresh thread included)."""
    errors: list[str] = []

    def hook(args: threading.ExceptHookArgs) -> None:
        errors.append(f"{args.thread.name if args.thread else '?'}: " + "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)))

    monkeypatch.setattr(threading, "excepthook", hook)
    return errors


@pytest.fixture
def busy_switching() -> Iterator[None]:
    """Switch threads far more often than every 5 ms, so that a race shows in a short run."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(before)


class Terminal(io.StringIO):
    """A stream that rich takes for a terminal: every redraw moves the cursor and repaints."""

    def isatty(self) -> bool:
        return True


class OneWriterAtATime(io.StringIO):
    """A stream that notices two threads inside ``write`` at once (lines cut into each other)."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = 0
        self.overlaps = 0

    def write(self, text: str) -> int:
        self.inside += 1
        if self.inside > 1:
            self.overlaps += 1
        time.sleep(0)  # let another thread in, if nothing keeps it out
        written = super().write(text)
        self.inside -= 1
        return written


def run_scenario(scenario: Callable[[], None], errors: list[str]) -> float:
    """Run ``scenario`` on a daemon thread, at most DEADLINE seconds; return how long it took."""
    threads_before = set(threading.enumerate())
    started = time.monotonic()

    def guarded() -> None:
        try:
            scenario()
        except BaseException:  # noqa: BLE001 - reported by the test
            errors.append(traceback.format_exc())

    runner = threading.Thread(target=guarded, name="scenario", daemon=True)
    runner.start()
    runner.join(DEADLINE)
    assert not runner.is_alive(), f"the scenario did not end within {DEADLINE}s (a deadlock?)"
    took = time.monotonic() - started
    left = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
    for t in left:
        t.join(5)
    assert not [t for t in left if t.is_alive()], f"threads left running: {left}"
    return took


def emit_from_threads(renderer: Callable[[Event], None], events_of: Callable[[int], Iterator[Event]], errors: list[str]) -> None:
    """Every thread ``n`` sends ``events_of(n)``, all of them at once."""
    gate = threading.Barrier(THREADS)

    def work(n: int) -> None:
        try:
            gate.wait(10)
            for event in events_of(n):
                renderer(event)
        except BaseException:  # noqa: BLE001 - reported by the test
            errors.append(traceback.format_exc())

    workers = [threading.Thread(target=work, args=(n,), name=f"emitter-{n}") for n in range(THREADS)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(DEADLINE)
        assert not w.is_alive(), f"{w.name} did not finish"


def push_events(n: int, count: int, *, destinations: int, layers: int, modules: int, log_every: int) -> Iterator[Event]:
    """What one worker of a multi-destination push sends: layer progress (new layers and
    destinations appear as it goes), module rows, verified digests and log lines."""
    for i in range(count):
        destination = f"registry-{n}.example.com/app-{i % destinations}"
        layer = f"sha256:{n:02d}{i % (destinations * layers):08d}"
        yield Progress("push", f"{destination} {layer[:19]}: pushing", {"destination": destination, "layer": layer, "state": "pushing" if i % 3 else "done", "current": i, "total": count, "key": f"{destination} {layer}"})
        yield Progress("image", f"module-{n}-{i % modules}: Step {i}", {"module": f"module-{n}-{i % modules}", "key": f"module-{n}-{i % modules}"})
        if i % 97 == 0:
            yield Progress("push", f"{destination}: sha256:{i:064d}", {"destination": destination, "key": destination, "state": "verified"})
        if i % log_every == 0:
            yield LogLine("push", f"log {n}:{i} end", "info" if i % 2 else "warning")


@pytest.mark.parametrize(
    ("stream_kind", "count", "sizes", "refresh"),
    [
        # A file: rich only asks for the table at each refresh; new layers keep arriving throughout.
        ("file", 2000, {"destinations": 8, "layers": 250, "modules": 5, "log_every": 20}, 200.0),
        # A terminal: every refresh and every log line repaints the view (slow in rich), so a
        # small view; a lock held around console.print would deadlock here.
        ("terminal", 400, {"destinations": 2, "layers": 3, "modules": 2, "log_every": 25}, 50.0),
    ],
)
def test_the_live_view_takes_events_from_many_threads_while_it_redraws(stream_kind: str, count: int, sizes: dict[str, int], refresh: float, thread_errors: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", "120")
    stream: io.StringIO = Terminal() if stream_kind == "terminal" else io.StringIO()
    renderer = LiveRenderer(stream, {"image": "Image", "push": "Push"}, "normal", refresh_per_second=refresh)
    assert renderer.console.is_terminal is (stream_kind == "terminal")

    def scenario() -> None:
        with renderer:
            renderer(StageStarted("image", "Image"))
            renderer(StageStarted("push", "Push"))
            emit_from_threads(renderer, lambda n: push_events(n, count, **sizes), thread_errors)
            renderer(StageFinished("image", "ok", 1.0))
            renderer(StageFinished("push", "ok", 2.0))  # the final frame without the layers: quick to draw
        renderer.summary({"status": "ok", "exitCode": 0})

    took = run_scenario(scenario, thread_errors)

    assert thread_errors == []
    output = stream.getvalue()
    expected = [f"log {n}:{i} end" for n in range(THREADS) for i in range(0, count, sizes["log_every"])]
    assert [line for line in expected if output.count(line) != 1] == []
    assert "result" in output and "✓" in output
    assert took < DEADLINE


def test_plain_output_takes_events_from_many_threads(thread_errors: list[str], busy_switching: None) -> None:
    stream = OneWriterAtATime()
    renderer = PlainRenderer(stream, "normal", colour=True, sections=True)
    count = 3000

    def events_of(n: int) -> Iterator[Event]:
        for i in range(count):
            # One thing whose state flips, reported by every thread (a destination's state) ...
            yield Progress("push", f"registry.example.com/app {'pushing' if i % 2 else 'verifying'}", {"key": "registry.example.com/app"})
            # ... and one of each thread's own, always news.
            yield Progress("push", f"worker {n} step {i}", {"key": f"worker-{n}"})
            if i % 10 == 0:
                yield LogLine("push", f"log {n}:{i} end", "info")

    def scenario() -> None:
        with renderer:
            renderer(StageStarted("push", "Push"))
            emit_from_threads(renderer, events_of, thread_errors)
            renderer(StageFinished("push", "ok", 2.0))

    took = run_scenario(scenario, thread_errors)

    assert thread_errors == []
    assert stream.overlaps == 0
    lines = stream.getvalue().split("\n")
    assert lines[0].startswith("\x1b[0Ksection_start:") and lines[0].endswith("autopack_push\r\x1b[0K\x1b[1;36mPush\x1b[0m")
    assert lines[-3].endswith("\x1b[32mok in 2.0s\x1b[0m") and lines[-2].startswith("\x1b[0Ksection_end:") and lines[-1] == ""
    body = lines[1:-3]
    assert [line for line in body if not LINE.match(line)] == []  # no line cut into another
    texts = [line.split(" ", 2)[2].lstrip() for line in body]
    # Every log line and every step of every worker, once.
    expected = [f"log {n}:{i} end" for n in range(THREADS) for i in range(0, count, 10)] + [f"worker {n} step {i}" for n in range(THREADS) for i in range(count)]
    assert sorted(t for t in texts if t.startswith(("log ", "worker "))) == sorted(expected)
    # The shared thing: a line only when it changed, never the same one twice in a row.
    shared = [t for t in texts if t.startswith("registry.example.com/app ")]
    repeats = sum(1 for a, b in zip(shared, shared[1:], strict=False) if a == b)
    assert repeats == 0, f"{repeats} progress lines repeat the one before"
    assert took < DEADLINE
