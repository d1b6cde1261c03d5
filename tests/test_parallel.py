"""parallel.run_all: every item tried, at most N at once, an escaping error raised at the end."""

from __future__ import annotations

import threading
import time

import pytest

from autopack import parallel


def test_every_item_runs_and_no_more_than_the_workers_at_once() -> None:
    lock = threading.Lock()
    running, peak, done = 0, 0, []

    def job(n: int) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
            done.append(n)

    parallel.run_all(job, range(7), workers=3)

    assert sorted(done) == list(range(7))
    assert peak == 3


def test_an_escaping_error_is_raised_after_every_item_was_tried() -> None:
    tried = []

    def job(n: int) -> None:
        tried.append(n)
        if n == 0:
            raise ValueError("item 0 broke")

    with pytest.raises(ValueError, match="item 0 broke"):
        parallel.run_all(job, range(5), workers=1)

    assert sorted(tried) == list(range(5))


def test_no_items_is_no_work() -> None:
    parallel.run_all(lambda n: pytest.fail("called"), [], workers=4)
