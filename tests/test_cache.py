"""Run work directories (autopack/cache.py): each run's directory and lock, and the sweep of
what killed runs left — never of what a live run is making."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import filelock
import pytest

from autopack import cache


@pytest.fixture
def cache_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AUTOPACK_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "work"


def test_a_work_directory_exists_while_used_and_is_gone_after(cache_root: Path) -> None:
    with cache.work_dir() as work:
        assert work.is_dir() and work.parent == cache_root
        assert Path(f"{work}.lock").exists()
    assert not work.exists() and not Path(f"{work}.lock").exists()


def test_the_sweep_removes_what_killed_runs_left_and_only_that(cache_root: Path) -> None:
    cache_root.mkdir(parents=True)
    dead = cache_root / "run-1-dead"  # a directory whose lock nobody holds: a killed run's
    dead.mkdir()
    (dead / "file").write_text("x")
    old_lock = cache_root / "run-2-gone.lock"  # a lock file without its directory, long ago
    old_lock.write_text("")
    os.utime(old_lock, (time.time() - 3600, time.time() - 3600))
    fresh_lock = cache_root / "run-3-starting.lock"  # a run that has only just taken its lock
    fresh_lock.write_text("")
    live = cache_root / "run-4-live"
    live.mkdir()
    with filelock.FileLock(f"{live}.lock", timeout=0):
        with cache.work_dir():
            pass
        assert live.is_dir() and Path(f"{live}.lock").exists(), "a live run's directory is never swept"
    assert not dead.exists() and not old_lock.exists()
    assert fresh_lock.exists(), "a fresh lock may be a run about to make its directory"


SWEEPING_RUNS = """
import sys, time
from autopack import cache
for _ in range(int(sys.argv[1])):
    with cache.work_dir() as work:
        (work / "f").write_text("x")
        time.sleep(0.002)
        assert (work / "f").read_text() == "x", "a sweeper removed a live run's directory"
"""


def test_concurrent_runs_never_fail_on_or_sweep_each_others_directories(cache_root: Path) -> None:
    """Four processes take and leave work directories as fast as they can, each sweeping at
    every start: none may fail to take its own lock, or lose its directory to another's sweep."""
    runs = [subprocess.Popen([sys.executable, "-c", SWEEPING_RUNS, "150"], stderr=subprocess.PIPE, text=True) for _ in range(4)]
    failures = []
    for run in runs:
        _, err = run.communicate(timeout=120)
        if run.returncode != 0:
            failures.append(err[-2000:])
    assert failures == []
    assert not [p for p in cache_root.iterdir() if not p.name.endswith(".lock")], "every directory was removed by its run"
