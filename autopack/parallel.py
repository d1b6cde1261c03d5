"""Running a stage's independent jobs side by side (image builds, pre-flight checks, registry
copies) without letting them hold up a Ctrl-C.

``concurrent.futures`` joins its worker threads before the interpreter exits, so an
interrupted run would wait for a long image build or blob upload to finish on its own.
These workers are daemon threads instead: on Ctrl-C ``run_all`` raises at once, the run
reports and exits, the workers' connections close with the process — the engine cancels a
build whose client went away — and the error handler stops the children they started
(``process.stop_all``: a docker CLI's BuildKit build).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def run_all(job: Callable[[T], R], items: Iterable[T], workers: int) -> list[R]:
    """Call ``job(item)`` for every item, at most ``workers`` at once, and return what each
    returned, in the items' order, when all are done: workers return values, they do not
    write into shared state. ``job`` returns its own failures as values; an exception that
    escapes it is raised here once every item has been tried. KeyboardInterrupt in the
    caller returns at once."""
    todo: queue.SimpleQueue[tuple[int, T]] = queue.SimpleQueue()
    count = 0
    for entry in enumerate(items):
        todo.put(entry)
        count += 1
    if count == 0:
        return []
    returned: dict[int, R] = {}
    escaped: list[BaseException] = []
    finished = threading.Semaphore(0)

    def work() -> None:
        while True:
            try:
                index, item = todo.get_nowait()
            except queue.Empty:
                return
            try:
                returned[index] = job(item)
            except BaseException as e:  # noqa: BLE001 - handed to the caller below
                escaped.append(e)
            finally:
                finished.release()

    for n in range(max(1, min(workers, count))):
        threading.Thread(target=work, name=f"autopack-job-{n}", daemon=True).start()
    for _ in range(count):
        while not finished.acquire(timeout=0.5):  # a bounded wait: signals are seen in between
            pass
    if escaped:
        raise escaped[0]
    return [returned[i] for i in range(count)]
