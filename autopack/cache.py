"""The cache: git mirrors, svn working copies, per-run work trees and the direct builder's
blob store, under one root (``AUTOPACK_CACHE_DIR``, else the user cache directory).

Several jobs on one agent share it, and any of them may be killed at any moment, so:
one lock per entry (not one global lock), a completion marker that is written last and
removed before an entry is changed, and anything unmarked is thrown away, never trusted.
An entry's last use is its lock file's time, set whenever a run takes and leaves the entry;
the blob store is held shared by every run that uses it (``use_blob_store``), so that
``autopack cache prune`` (``cache_usage.py``) removes blobs only while no run is using them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import secrets as secrets_module
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import filelock
import platformdirs

from autopack import secrets

_MARKER = ".autopack-complete"
LOCK_TIMEOUT = 1800  # seconds: another job may be fetching a large repository
BLOBS = "blobs"  # the direct builder's blob store, under the root
STORE_LOCK = ".in-use.lock"  # in the blob store: shared by each run using it, exclusive for a prune


def root() -> Path:
    configured = os.environ.get("AUTOPACK_CACHE_DIR")
    return Path(configured) if configured else platformdirs.user_cache_path("autopack")


@dataclass(frozen=True)
class Entry:
    """A locked cache entry. ``complete`` says whether its content can be trusted."""

    path: Path

    @property
    def complete(self) -> bool:
        return (self.path / _MARKER).is_file()

    def invalidate(self) -> None:
        """Call before changing the entry: a kill from now on leaves it untrusted."""
        (self.path / _MARKER).unlink(missing_ok=True)

    def mark_complete(self) -> None:
        (self.path / _MARKER).write_text("ok\n")

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def key_for(kind: str, url: str) -> str:
    """A readable, credential-free and collision-safe directory name for ``url``."""
    clean = secrets.strip_url_credentials(url).rstrip("/")
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", clean.split("://", 1)[-1])[-48:].strip("-.")
    digest = hashlib.sha256(clean.encode()).hexdigest()[:12]
    return f"{kind}/{readable}-{digest}"


@contextlib.contextmanager
def entry(key: str, timeout: float = LOCK_TIMEOUT) -> Iterator[Entry]:
    """Hold the lock of the entry ``key`` (from ``key_for``) for the duration of the block.
    An entry without its completion marker is removed before the caller sees it."""
    path = root() / key
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = Path(str(path) + ".lock")
    with filelock.FileLock(str(lock), timeout=timeout):
        _stamp(lock)  # the entry's last use (``autopack cache ls``), on taking it and on leaving it
        try:
            found = Entry(path)
            if path.exists() and not found.complete:
                found.discard()  # an earlier run died half-way: never trust what it left
            for leftover in path.parent.glob(f".{path.name}.*"):
                shutil.rmtree(leftover, ignore_errors=True)  # a staging dir of a killed run; we hold the lock
            yield found
        finally:
            _stamp(lock)


def _stamp(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.utime(path)


@contextlib.contextmanager
def work_dir(prefix: str = "run-") -> Iterator[Path]:
    """A fresh directory for one run's work tree, removed afterwards whatever happens.

    Each run holds the lock ``<dir>.lock`` for as long as its directory exists (taken before
    the directory is made), so a directory whose lock nobody holds was left by a run that
    was killed (SIGKILL, a lost machine): the next run removes it, never uses it."""
    parent = root() / "work"
    parent.mkdir(parents=True, exist_ok=True)
    _sweep(parent, prefix)
    name = f"{prefix}{os.getpid()}-{secrets_module.token_hex(4)}"
    path = parent / name
    lock = Path(str(path) + ".lock")
    try:
        with filelock.FileLock(str(lock), timeout=0):
            path.mkdir(mode=0o700)
            try:
                yield path
            finally:
                shutil.rmtree(path, ignore_errors=True)
    finally:
        lock.unlink(missing_ok=True)


# A lock file without its directory may be a run's that has just taken its lock and is about
# to make the directory: left alone until it is older than this (seconds). Touched sooner, a
# sweeper could hold it at the moment its run takes it (and fail that run), or unlink it
# under a run that then holds a lock on a file no longer there — and no longer protects it.
_FRESH_LOCK = 60.0


def _sweep(parent: Path, prefix: str) -> None:
    """Remove the work directories (and lock files) of runs that no longer hold their lock."""
    for candidate in parent.glob(f"{prefix}*"):
        if candidate.name.endswith(".lock"):
            if not candidate.with_suffix("").exists() and _age(candidate) > _FRESH_LOCK:
                remove_if_unheld(candidate, None)
            continue
        remove_if_unheld(Path(str(candidate) + ".lock"), candidate)


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0  # gone already


def remove_if_unheld(lock_path: Path, directory: Path | None) -> bool:
    """Remove a run's work directory (and its lock file) unless a live run holds the lock;
    whether it was removed."""
    lock = filelock.FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        return False  # a live run's
    try:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
    finally:
        lock.release()
        lock_path.unlink(missing_ok=True)
    return True


@contextlib.contextmanager
def staging(target: Path) -> Iterator[Path]:
    """Build something in a temporary sibling of ``target``; on success it is renamed into
    place, on any exception it is removed — ``target`` is never seen half-made."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# --- the blob store, shared ------------------------------------------------------------------

_held: dict[Path, int] = {}  # this process's shared holds: lock file -> its descriptor
_holding = threading.Lock()  # image builds run in worker threads


def use_blob_store(timeout: float = LOCK_TIMEOUT) -> Path:
    """The blob store's directory, held shared by this process from its first use until it
    ends. Every user gets the store's path from here (``image/oci.py`` ``blob_store``), and
    the blobs it returns stay in use to the end of the run (a built image's layers are read
    again by the push stage), so the hold is the process's: the kernel drops it when the
    process ends, however it ends — a kill leaves nothing held. A prune that holds the store
    exclusively is waited for."""
    store = root() / BLOBS
    store.mkdir(parents=True, exist_ok=True)
    lock = store / STORE_LOCK
    with _holding:
        if lock not in _held:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                _flock(fd, fcntl.LOCK_SH, timeout)
            except BaseException:
                os.close(fd)
                raise
            _held[lock] = fd
    return store


def _flock(fd: int, operation: int, timeout: float) -> None:
    """flock with a timeout (polled, so that Ctrl-C and SIGTERM are never held up)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"the blob store has been held for {timeout:.0f}s by an `autopack cache prune`") from None
            time.sleep(0.05)


@contextlib.contextmanager
def blob_store_alone() -> Iterator[Path | None]:
    """The blob store held exclusively for the block (a prune), or None when a run uses it
    (then nothing in it may be removed). Not for a process that has used the store itself."""
    store = root() / BLOBS
    if not store.is_dir():
        yield store  # nothing in it to remove, nor to hold
        return
    fd = os.open(store / STORE_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        yield store
    finally:
        os.close(fd)  # releases the lock with the descriptor


# --- sizes -------------------------------------------------------------------------------

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
WARN_SIZE = 10 << 30  # the default of AUTOPACK_CACHE_WARN_SIZE
_WARN_SCAN = 200_000  # directory entries size_warning reads at most


def parse_size(text: str) -> int:
    """``500M``, ``2G``, ``1.5GiB``, ``4096`` (bytes); binary units. ValueError otherwise."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", text.upper())
    if found is None:
        raise ValueError(text)
    return int(float(found[1]) * _UNITS[found[2]])


def format_size(size: int) -> str:
    for unit in ("T", "G", "M", "K"):
        if size >= _UNITS[unit]:
            return f"{size / _UNITS[unit]:.1f} {unit}iB"
    return f"{size} B"


def tree_size(top: Path, *, seen: set[tuple[int, int]] | None = None, stop_above: int | None = None, max_entries: int | None = None) -> int:
    """The bytes of the files under ``top``: a file with several hard links counted once (over
    every call given the same ``seen``); reading stops once past ``stop_above`` bytes or after
    ``max_entries`` directory entries. What another run removes meanwhile is not counted."""
    seen = set() if seen is None else seen
    total, entries, pending = 0, 0, [top]
    while pending and (stop_above is None or total <= stop_above) and (max_entries is None or entries < max_entries):
        with contextlib.suppress(OSError), os.scandir(pending.pop()) as listing:
            for item in listing:
                entries += 1
                with contextlib.suppress(OSError):
                    if item.is_dir(follow_symlinks=False):
                        pending.append(Path(item.path))
                    else:
                        total += file_size(item.stat(follow_symlinks=False), seen)
    return total


def file_size(stat: os.stat_result, seen: set[tuple[int, int]]) -> int:
    """A file's bytes, or 0 for another link to a file already in ``seen``."""
    if stat.st_nlink > 1:
        if (stat.st_dev, stat.st_ino) in seen:
            return 0
        seen.add((stat.st_dev, stat.st_ino))
    return stat.st_size


def size_warning() -> str | None:
    """One line for the end of a run when the cache holds more than
    ``AUTOPACK_CACHE_WARN_SIZE`` (default 10 GiB, ``0`` never), else None. Cheap: it stops
    reading as soon as the threshold is passed, and after a bounded number of entries."""
    configured = os.environ.get("AUTOPACK_CACHE_WARN_SIZE", "").strip()
    try:
        threshold = parse_size(configured) if configured else WARN_SIZE
    except ValueError:
        return f"AUTOPACK_CACHE_WARN_SIZE={configured[:40]!r} is not a size (e.g. 10G, 500M): the cache size is not checked"
    if threshold <= 0:
        return None
    total = tree_size(root(), stop_above=threshold, max_entries=_WARN_SCAN)
    if total <= threshold:
        return None
    return f"the cache in {root()} holds more than {format_size(threshold)} — see `autopack cache ls`; `autopack cache prune --max-size {configured or '10G'}` frees the least recently used"
