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


# --- last use, sizes, the size warning, the blob store's shared hold (issue 15, point 5) ---


def test_taking_an_entry_stamps_its_last_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOPACK_CACHE_DIR", str(tmp_path / "cache"))
    with cache.entry("git/example-1") as found:
        found.path.mkdir()
        found.mark_complete()
    lock = tmp_path / "cache" / "git" / "example-1.lock"
    long_ago = time.time() - 90 * 86400
    os.utime(lock, (long_ago, long_ago))
    with cache.entry("git/example-1") as found:
        assert found.complete
        assert time.time() - lock.stat().st_mtime < 60, "taking the entry is a use"
        os.utime(lock, (long_ago, long_ago))
    assert time.time() - lock.stat().st_mtime < 60, "leaving it is one too"


@pytest.mark.parametrize(("text", "size"), [("4096", 4096), ("500M", 500 << 20), ("2g", 2 << 30), ("1.5GiB", 3 << 29), ("10 KB", 10 << 10), ("1T", 1 << 40)])
def test_sizes_are_read_in_powers_of_1024(text: str, size: int) -> None:
    assert cache.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "2x", "-1G", "G", "1.2.3M", "10 GB extra"])
def test_a_malformed_size_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        cache.parse_size(text)


def test_the_size_warning_says_the_size_and_the_command_only_past_the_threshold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOPACK_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "cache" / "git" / "big").mkdir(parents=True)
    (tmp_path / "cache" / "git" / "big" / "pack").write_bytes(b"x" * 3000)
    monkeypatch.setenv("AUTOPACK_CACHE_WARN_SIZE", "2K")
    warning = cache.size_warning()
    assert warning is not None and "more than 2.0 KiB" in warning and str(tmp_path / "cache") in warning
    assert "autopack cache prune --max-size 2K" in warning
    monkeypatch.setenv("AUTOPACK_CACHE_WARN_SIZE", "4K")
    assert cache.size_warning() is None
    monkeypatch.setenv("AUTOPACK_CACHE_WARN_SIZE", "0")
    assert cache.size_warning() is None, "0 turns it off"
    monkeypatch.delenv("AUTOPACK_CACHE_WARN_SIZE")
    assert cache.size_warning() is None, "the default is 10 GiB"
    monkeypatch.setenv("AUTOPACK_CACHE_WARN_SIZE", "lots")
    assert "AUTOPACK_CACHE_WARN_SIZE='lots' is not a size" in (cache.size_warning() or "")


HOLDING_THE_STORE = """
import sys, time
from autopack.image import oci
oci.blob_store()
print("held", flush=True)
time.sleep(120)
"""


def test_a_run_using_the_blob_store_keeps_a_prune_out_until_it_ends_however_it_ends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOPACK_CACHE_DIR", str(tmp_path / "cache"))
    user = subprocess.Popen([sys.executable, "-c", HOLDING_THE_STORE], stdout=subprocess.PIPE, text=True)
    try:
        assert user.stdout is not None and user.stdout.readline().strip() == "held"
        with cache.blob_store_alone() as store:
            assert store is None, "a live run holds the store: nothing in it may go"
        user.kill()  # SIGKILL: no clean-up runs, the kernel drops the hold
        user.wait(timeout=30)
        with cache.blob_store_alone() as store:
            assert store == tmp_path / "cache" / "blobs"
    finally:
        user.kill()
        user.wait(timeout=30)


def test_a_run_waits_for_a_prune_that_holds_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOPACK_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "cache" / "blobs").mkdir(parents=True)
    with cache.blob_store_alone() as store:
        assert store is not None
        started = time.monotonic()
        user = subprocess.Popen([sys.executable, "-c", HOLDING_THE_STORE], stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(1.0)
            assert user.poll() is None
            leaving_at = time.monotonic()
        except BaseException:
            user.kill()
            raise
    try:
        assert user.stdout is not None and user.stdout.readline().strip() == "held"
        assert leaving_at - started >= 1.0
    finally:
        user.kill()
        user.wait(timeout=30)


PRUNING = """
from autopack import cache_usage
cache_usage.prune(None, None, False)
"""


def test_a_prune_killed_at_any_moment_leaves_no_trusted_half_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large entry is pruned by a process that is SIGKILLed once the removal has begun, at
    several moments: what is left is either whole and marked, or unmarked — and then the
    next use throws it away. (The files sit beside the marker, so that a removal in
    directory order alone would reach some of them first.)"""
    monkeypatch.setenv("AUTOPACK_CACHE_DIR", str(tmp_path / "cache"))
    files, cut_short = 4000, 0
    for attempt, delay in enumerate((0.0, 0.0, 0.005, 0.02)):
        key = f"git/big-{attempt}"
        with cache.entry(key) as made:
            made.path.mkdir()
            for n in range(files):
                (made.path / f"f{n}").write_text("x")
            made.mark_complete()
        marker = made.path / ".autopack-complete"
        pruner = subprocess.Popen([sys.executable, "-c", PRUNING])
        deadline = time.monotonic() + 60
        while marker.exists() and len(os.listdir(made.path)) > files and pruner.poll() is None and time.monotonic() < deadline:
            time.sleep(0.0002)  # until the removal has begun, whatever it removes first
        time.sleep(delay)
        pruner.kill()
        pruner.wait(timeout=30)
        left = sum(1 for _ in made.path.glob("f*")) if made.path.exists() else 0
        assert not (marker.exists() and left < files), f"a marked entry with {left} of {files} files"
        cut_short += 0 < left < files
        with cache.entry(key) as again:
            assert not again.complete and not again.path.exists(), "an unmarked entry is thrown away on its next use"
    assert cut_short, "no kill landed in the middle of a removal: the test tested nothing"
