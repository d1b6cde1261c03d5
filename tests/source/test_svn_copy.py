"""Copying the cached working copy into a run's tree (autopack/source/svn_copy.py)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from autopack.source import svn_copy


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / ".svn" / "pristine" / "ab").mkdir(parents=True)
    (src / ".svn" / "pristine" / "ab" / "abcd.svn-base").write_text("pristine")
    (src / ".svn" / "pristine" / "ab" / "abcd.svn-base").chmod(0o444)
    (src / "src" / "main").mkdir(parents=True)
    (src / "pom.xml").write_text("<project/>")
    (src / "src" / "main" / "App.java").write_bytes(os.urandom(300_000))  # more than one sendfile chunk may take
    (src / "empty.txt").write_text("")
    (src / "mvnw").write_text("#!/bin/sh\n")
    (src / "mvnw").chmod(0o755)
    (src / "link").symlink_to("src/main/App.java")
    (src / "dangling").symlink_to("nowhere")
    (src / "empty-dir").mkdir()
    (src / "locked").mkdir()
    (src / "locked" / "inside.txt").write_text("x")
    (src / "locked").chmod(0o555)
    os.utime(src / "pom.xml", ns=(1_000_000_000_123_456_789, 1_000_000_000_123_456_789))
    os.mkfifo(src / "fifo")  # svn versions no such thing: left out, never opened (it would block)
    yield src
    (src / "locked").chmod(0o755)


def _listing(root: Path) -> dict[str, tuple[int, bytes | str | None]]:
    found: dict[str, tuple[int, bytes | str | None]] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            found[path.relative_to(root).as_posix()] = (stat.S_IFLNK, os.readlink(path))
        elif stat.S_ISREG(info.st_mode):
            found[path.relative_to(root).as_posix()] = (stat.S_IMODE(info.st_mode), path.read_bytes())
        elif stat.S_ISDIR(info.st_mode):
            found[path.relative_to(root).as_posix()] = (stat.S_IMODE(info.st_mode) | stat.S_IFDIR, None)
    return found


def test_copies_files_links_modes_and_times(tree: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    assert svn_copy.copy(tree, dest) == 6
    try:
        assert _listing(dest) == _listing(tree)
        assert not (dest / "fifo").exists()
        assert (dest / "pom.xml").stat().st_mtime_ns == (tree / "pom.xml").stat().st_mtime_ns  # svn compares it with wc.db
        assert (dest / "link").is_symlink() and (dest / "link").read_bytes() == (tree / "src" / "main" / "App.java").read_bytes()
    finally:
        (dest / "locked").chmod(0o755)


def test_every_working_file_is_its_own_copy_and_pristines_are_shared(tree: Path, tmp_path: Path) -> None:
    """Working files are copies (a build may rewrite one in place); svn's pristine texts,
    written once and never changed in place, are hardlinks."""
    dest = tmp_path / "dest"
    dest.mkdir()
    svn_copy.copy(tree, dest)
    (dest / "locked").chmod(0o755)
    files = [p for p in dest.rglob("*") if p.is_file() and not p.is_symlink()]
    pristine = [p for p in files if p.relative_to(dest).as_posix().startswith(svn_copy.PRISTINE)]
    assert pristine and len(files) > len(pristine)
    for path in files:
        original = tree / path.relative_to(dest)
        if path in pristine:
            assert path.stat().st_ino == original.stat().st_ino
        else:
            assert path.stat().st_ino != original.stat().st_ino and path.stat().st_nlink == 1  # no hardlink into the cache
    (dest / "pom.xml").write_text("changed by a build")
    assert (tree / "pom.xml").read_text() == "<project/>"


def test_a_name_already_in_dest_is_an_error_not_an_overwrite(tree: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "pom.xml").write_text("mine")
    with pytest.raises(FileExistsError):
        svn_copy.copy(tree, dest)
    assert (dest / "pom.xml").read_text() == "mine"


def test_a_build_leaves_the_working_copy_metadata_out(tree: Path, tmp_path: Path) -> None:
    """For a build (``SourceSpec.working_copy`` false) ``.svn`` is not copied: the files only."""
    dest = tmp_path / "dest"
    dest.mkdir()
    try:
        assert svn_copy.copy(tree, dest, frozenset({".svn"})) == 5
        expected = {path: entry for path, entry in _listing(tree).items() if not path.startswith(".svn")}
        assert _listing(dest) == expected and not (dest / ".svn").exists()
    finally:
        (dest / "locked").chmod(0o755)
