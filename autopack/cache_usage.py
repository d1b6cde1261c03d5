"""What the cache holds, and pruning it (``autopack cache ls`` / ``autopack cache prune``),
safe while other runs use it:

- a git mirror or svn working copy is removed only under its own entry lock, taken without
  waiting (a live run holds it: skipped), its completion marker first — a prune killed
  half-way leaves an entry that the next ``cache.entry`` throws away, never trusts — and only
  when it was not used since it was listed;
- a run's work directory only when its run's lock is free (a killed run's);
- blobs only while the blob store is held exclusively: when any run uses it, no blob is
  removed. Each blob is whole or absent (content-addressed, one unlink); the records that
  name one (``diffid/``, ``engine/``) are checked by their readers and removed here once
  their blob is gone.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import filelock

from autopack import cache

ENTRY_KINDS = ("git", "svn")
IN_USE = "in use by a running autopack"
_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Item:
    """One thing in the cache: a git mirror, an svn working copy, a run's work directory or
    a blob. ``name`` is its path under the root (credential-free: see ``cache.key_for``)."""

    kind: str  # "git", "svn", "work", "blob"
    name: str
    path: Path
    size: int
    last_use: float  # seconds since the epoch
    in_use: bool

    def as_json(self) -> dict[str, object]:
        return {"kind": self.kind, "name": self.name, "size": self.size, "lastUse": round(self.last_use), "inUse": self.in_use}


@dataclass(frozen=True, slots=True)
class Listing:
    root: Path
    items: tuple[Item, ...]

    @property
    def total(self) -> int:
        return sum(i.size for i in self.items)


@dataclass(frozen=True, slots=True)
class Pruned:
    removed: tuple[Item, ...]
    skipped: tuple[tuple[Item, str], ...]  # what would have gone, and why it stayed
    total_after: int
    dry_run: bool

    @property
    def freed(self) -> int:
        return sum(i.size for i in self.removed)


def listing(blobs_free: bool | None = None) -> Listing:
    """Everything in the cache. ``blobs_free``: whether no run uses the blob store (asked
    of its lock when not given)."""
    top = cache.root()
    if blobs_free is None:
        with cache.blob_store_alone() as alone:
            blobs_free = alone is not None
    seen: set[tuple[int, int]] = set()  # a work tree's git objects are hard links to its mirror's
    items = [*_entries(top, seen), *_work_dirs(top, seen), *_blobs(top, blobs_free, seen)]
    return Listing(top, tuple(sorted(items, key=lambda i: (i.kind != "blob", i.last_use), reverse=True)))


def prune(older_than_days: float | None, max_size: int | None, dry_run: bool) -> Pruned:
    """Remove what is not in use: last used more than ``older_than_days`` ago, and then the
    least recently used until the cache fits ``max_size``; without either, everything."""
    with cache.blob_store_alone() as store:  # held to the end: no run starts using a blob meanwhile
        found = listing(blobs_free=store is not None)
        chosen, skipped = _select(found, older_than_days, max_size)
        removed = []
        for item in chosen:
            if dry_run:
                removed.append(item)
            elif (why := _remove(item)) is None:
                removed.append(item)
            else:
                skipped.append((item, why))
        if store is not None and not dry_run and any(i.kind == "blob" for i in removed):
            _tidy_blob_store(store)
    return Pruned(tuple(removed), tuple(skipped), found.total - sum(i.size for i in removed), dry_run)


def _select(found: Listing, older_than_days: float | None, max_size: int | None) -> tuple[list[Item], list[tuple[Item, str]]]:
    """What to remove (least recently used first), and what would go but is in use."""
    if older_than_days is None and max_size is None:
        wanted = list(found.items)
    else:
        cutoff = time.time() - (older_than_days or 0.0) * _DAY
        wanted = [i for i in found.items if older_than_days is not None and i.last_use < cutoff]
        if max_size is not None:
            taken = set(wanted)
            left = found.total - sum(i.size for i in wanted if not i.in_use)
            for item in sorted(found.items, key=lambda i: i.last_use):
                if left <= max_size:
                    break
                if item not in taken:
                    wanted.append(item)
                    left -= 0 if item.in_use else item.size
    chosen = sorted((i for i in wanted if not i.in_use), key=lambda i: i.last_use)
    return chosen, [(i, IN_USE) for i in wanted if i.in_use]


def _remove(item: Item) -> str | None:
    """Remove one item; why it stayed, or None."""
    if item.kind == "work":
        return None if cache.remove_if_unheld(Path(f"{item.path}.lock"), item.path) else IN_USE
    if item.kind == "blob":  # the store is held exclusively
        item.path.unlink(missing_ok=True)
        return None
    stamped = Path(f"{item.path}.lock").exists()
    lock = filelock.FileLock(f"{item.path}.lock", timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        return IN_USE
    try:
        if stamped and _last_use(item.path) != item.last_use:
            return "used since it was listed"
        cache.Entry(item.path).invalidate()  # first: a kill from here on leaves it untrusted
        for leftover in [item.path, *item.path.parent.glob(f".{item.path.name}.*")]:
            shutil.rmtree(leftover, ignore_errors=True)
    finally:
        lock.release()  # the lock file stays: another run may be waiting on it
    return None


def _entries(top: Path, seen: set[tuple[int, int]]) -> Iterator[Item]:
    for kind in ENTRY_KINDS:
        for path in _children(top / kind):
            if path.name.startswith(".") or path.name.endswith(".lock") or not path.is_dir():
                continue
            size = sum(cache.tree_size(p, seen=seen) for p in [path, *path.parent.glob(f".{path.name}.*")])
            yield Item(kind, f"{kind}/{path.name}", path, size, _last_use(path), _held(Path(f"{path}.lock")))


def _work_dirs(top: Path, seen: set[tuple[int, int]]) -> Iterator[Item]:
    for path in _children(top / "work"):
        if path.is_dir():
            yield Item("work", f"work/{path.name}", path, cache.tree_size(path, seen=seen), _mtime(path), _held(Path(f"{path}.lock")))


def _blobs(top: Path, free: bool, seen: set[tuple[int, int]]) -> Iterator[Item]:
    for path in _children(top / cache.BLOBS / "sha256"):
        if "." not in path.name:  # not a download's .part or its .lock
            with contextlib.suppress(OSError):
                yield Item("blob", f"sha256:{path.name}", path, cache.file_size(path.stat(), seen), _mtime(path), not free)


def _tidy_blob_store(store: Path) -> None:
    """With the store held exclusively (no run is in it): what killed runs left (temporary
    blobs, partial downloads, their locks) and the records naming a blob no longer there."""
    have = {p.name for p in _children(store / "sha256")}
    for path in [*_children(store), *_children(store / "sha256")]:
        if path.name == cache.STORE_LOCK or not (path.name.startswith((".blob.", "autopack-save-")) or path.name.endswith((".part", ".lock"))):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    for record in _children(store / "diffid"):
        named = record.read_text(errors="replace").split()[:1] if record.is_file() else []
        if not named or named[0].removeprefix("sha256:") not in have:
            record.unlink(missing_ok=True)
    for record in _children(store / "engine"):
        if record.suffix == ".lock" or not _names_only(record, have):
            record.unlink(missing_ok=True)


def _names_only(record: Path, have: set[str]) -> bool:
    import json

    try:
        saved = json.loads(record.read_text())
        return all(str(d).removeprefix("sha256:") in have for d in [saved["config"], *(d for d, _ in saved["layers"])])
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _children(directory: Path) -> list[Path]:
    try:
        return sorted(directory.iterdir())
    except OSError:
        return []


def _held(lock_path: Path) -> bool:
    if not lock_path.exists():
        return False
    lock = filelock.FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        return True
    lock.release()
    return False


def _last_use(entry: Path) -> float:
    """An entry's lock file's time (``cache.entry`` sets it on every use); else the directory's."""
    lock = Path(f"{entry}.lock")
    return _mtime(lock) if lock.exists() else _mtime(entry)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
