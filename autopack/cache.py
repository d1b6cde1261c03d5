"""The cache: git mirrors, svn working copies and per-run work trees, under one root
(``AUTOPACK_CACHE_DIR``, else the user cache directory).

Several jobs on one agent share it, and any of them may be killed at any moment, so:
one lock per entry (not one global lock), a completion marker that is written last and
removed before an entry is changed, and anything unmarked is thrown away, never trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets as secrets_module
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import filelock
import platformdirs

from autopack import secrets

_MARKER = ".autopack-complete"
LOCK_TIMEOUT = 1800  # seconds: another job may be fetching a large repository


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
    with filelock.FileLock(str(path) + ".lock", timeout=timeout):
        found = Entry(path)
        if path.exists() and not found.complete:
            found.discard()  # an earlier run died half-way: never trust what it left
        for leftover in path.parent.glob(f".{path.name}.*"):
            shutil.rmtree(leftover, ignore_errors=True)  # a staging dir of a killed run; we hold the lock
        yield found


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
                _remove_if_unheld(candidate, None)
            continue
        _remove_if_unheld(Path(str(candidate) + ".lock"), candidate)


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0  # gone already


def _remove_if_unheld(lock_path: Path, directory: Path | None) -> None:
    lock = filelock.FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        return  # a live run's
    try:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
    finally:
        lock.release()
        lock_path.unlink(missing_ok=True)


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
