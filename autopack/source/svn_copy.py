"""Copy the cached working copy into a run's tree: every working file its own copy (never a
hardlink: a build that rewrites a file in place would change the cache), ``.svn`` included
for ``autopack checkout`` (the tree is then a real working copy), modes and modification
times kept (svn compares a file's size and mtime with what ``wc.db`` recorded before it
reads the file: new times would make every ``svn status`` in the copy read every file).

The one exception is ``.svn/pristine/``: svn writes each pristine text once, under its
checksum, read-only, and never changes it in place (an update adds new ones; a cleanup
unlinks unused ones), so those are hardlinked — half the files of a working copy.

Not ``shutil.copytree``: it costs a dozen system calls per file (``copystat`` reads and sets
extended attributes and flags too) and copies one file at a time. A working copy is many
small files, so the copy is bounded by the file system's per-file work: one walk, then the
files in a few threads (the system calls release the GIL), each created, filled in the
kernel (``sendfile``), given its mode and times, closed.
"""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

WORKERS = 4  # more brings nothing measurable on a 2-core machine; fewer leaves it idle


PRISTINE = ".svn/pristine/"


def copy(src: Path, dest: Path, leave_out: frozenset[str] = frozenset()) -> int:
    """Copy the tree ``src`` into the existing directory ``dest``; returns the files copied.
    Symbolic links are copied as links; anything but files, directories and links (svn
    versions none) is left out, and so are the directories named in ``leave_out`` (``.svn``
    for a build, which needs the files, not the working copy: half the bytes)."""
    dirs, files, links = _walk(src, leave_out)
    for rel, _ in dirs:
        os.mkdir(dest / rel, 0o700)  # opened up below, once it is filled
    count = len(files)
    try:
        for rel, _ in (f for f in files if f[0].startswith(PRISTINE)):
            os.link(src / rel, dest / rel)
        files = [f for f in files if not f[0].startswith(PRISTINE)]
    except OSError:  # another file system (EXDEV), or links refused: those not linked yet are copied
        files = [f for f in files if not (f[0].startswith(PRISTINE) and (dest / f[0]).exists())]
    chunks = [files[i::WORKERS] for i in range(WORKERS)]
    with ThreadPoolExecutor(WORKERS, thread_name_prefix="svn-copy") as pool:
        futures = [pool.submit(_copy_files, src, dest, chunk) for chunk in chunks if chunk]
        try:
            for future in futures:
                future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    for rel, target in links:
        os.symlink(target, dest / rel)
    for rel, mode in dirs:
        os.chmod(dest / rel, mode)
    return count


def _walk(src: Path, leave_out: frozenset[str]) -> tuple[list[tuple[str, int]], list[tuple[str, os.stat_result]], list[tuple[str, str]]]:
    """(directories, parents first, with their modes; files with their stat; links with their targets)."""
    dirs: list[tuple[str, int]] = []
    files: list[tuple[str, os.stat_result]] = []
    links: list[tuple[str, str]] = []
    pending = [""]
    while pending:
        top = pending.pop()
        with os.scandir(src / top if top else src) as entries:
            for entry in entries:
                rel = f"{top}/{entry.name}" if top else entry.name
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISLNK(info.st_mode):
                    links.append((rel, os.readlink(entry.path)))
                elif stat.S_ISDIR(info.st_mode) and entry.name in leave_out:
                    continue
                elif stat.S_ISDIR(info.st_mode):
                    dirs.append((rel, stat.S_IMODE(info.st_mode)))
                    pending.append(rel)
                elif stat.S_ISREG(info.st_mode):
                    files.append((rel, info))
    return dirs, files, links


def _copy_files(src: Path, dest: Path, files: list[tuple[str, os.stat_result]]) -> None:
    for rel, info in files:
        source = os.open(src / rel, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            target = os.open(dest / rel, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                offset = 0
                while offset < info.st_size:
                    sent = os.sendfile(target, source, offset, info.st_size - offset)
                    if sent == 0:
                        break  # the file shrank under us: the cache is locked, so not by a run
                    offset += sent
                os.fchmod(target, stat.S_IMODE(info.st_mode))
                os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
            finally:
                os.close(target)
        finally:
            os.close(source)
