"""The inputs digest: one sha256 over everything that determines an image, so that a build
whose inputs did not change can be skipped — checked against the image itself (its
``io.autopack.inputs`` label, read from the engine or from each registry), never against a
record of autopack's own.

What goes in, per image (``digest``):

- the source files the image's module can see — its own directory, the reactor modules it
  needs (``-am``'s closure: dependencies and parents), and the reactor root's files outside
  every module (the root pom, ``.mvn/``, shared config) — each as ``mode id path``. For a
  git working copy the ids are git's own blob ids (``ls-tree`` of the commit, so the tree
  id stands for the files), with uncommitted and untracked files hashed as they are on
  disk; for an svn checkout or a plain directory, a content hash of every file that git's
  ignore rules (``.gitignore`` at any level) do not exclude. Build output (every module's
  build directory), ``.git`` and ``.svn`` are never inputs;
- the Dockerfile (its bytes) and a build context outside the source tree (its files);
- build args, ``--target``, ``--network``, the secret ids, the engine kind, the Maven goals,
  profiles, ``-D`` properties (command line, ``.mvn/``, ``MAVEN_OPTS``, settings profiles),
  extra Maven arguments and the artifact choice;
- the base images' ids (local store) or manifest digests (registry), and autopack's version.

Not in it: the labels autopack derives from the commit (revision, created time, source URL),
so that a commit that changes nothing an image sees — another service's, in a monorepo —
reuses the image; it keeps the revision it was built from ("unchanged since …").
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autopack import __version__, process
from autopack.source import git_cli

LABEL = "io.autopack.inputs"
TAG_PREFIX = "inputs-sha256-"  # the registry tag that finds an image by its inputs digest
_SCHEMA = "autopack-inputs/1"
_SKIPPED_DIRS = frozenset({".git", ".svn"})


@dataclass(frozen=True)
class SourceFiles:
    """The project's files as inputs: path (relative to the project, posix) → ``mode id``."""

    entries: Mapping[str, str] = field(default_factory=dict)
    dirty: bool = False  # a git working copy with changes its commit does not have


def tag(digest: str) -> str:
    """The tag under which each destination also holds the image: found by inputs alone."""
    return TAG_PREFIX + digest.removeprefix("sha256:")


def read_source(root: Path, build_dirs: Iterable[Path], in_git: bool) -> SourceFiles:
    """The files under ``root`` that are inputs, with their content ids."""
    excluded = sorted({rel for d in build_dirs if (rel := _relative(d, root)) is not None})
    if in_git:
        found = _from_git(root, excluded)
        if found is not None:
            return found
    return SourceFiles(_from_disk(root, excluded))


def files_digest(source: SourceFiles, module_dirs: Sequence[Path], wanted: Sequence[Path], root: Path) -> str:
    """The digest of the files one image sees: those owned by a module in ``wanted`` (the
    deepest module directory holding a file owns it) and those owned by the root module."""
    relative = sorted({r for d in module_dirs if (r := _relative(d, root))}, key=len, reverse=True)
    wanted_rel = {_relative(d, root) or "" for d in wanted} | {""}
    owner = {path: next((m for m in relative if path == m or path.startswith(m + "/")), "") for path in source.entries}
    return _listing_digest({path: value for path, value in source.entries.items() if owner[path] in wanted_rel})


def digest(parts: Mapping[str, Any]) -> str:
    """The inputs digest of ``parts`` (JSON values), with the digest scheme and autopack's version."""
    document = {"schema": _SCHEMA, "autopack": __version__, **parts}
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def file_digest(path: Path) -> str:
    with path.open("rb") as f:
        return "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()


def directory_digest(root: Path) -> str:
    """A directory's files (git's ignore rules applied), as one digest: a build context
    that lies outside the source tree."""
    return _listing_digest(_from_disk(root, []))


def _listing_digest(entries: Mapping[str, str]) -> str:
    """One digest of files: a ``mode id path`` line each, in path order."""
    return "sha256:" + hashlib.sha256("".join(f"{value} {path}\n" for path, value in sorted(entries.items())).encode()).hexdigest()


# -- git working copies ------------------------------------------------------------------


def _from_git(root: Path, excluded: Sequence[str]) -> SourceFiles | None:
    """The commit's blob ids under ``root`` (``ls-tree``: no file is read), with what
    ``status`` says differs from the commit hashed from the disk. None: not a git working copy."""

    def git(*args: str) -> git_cli.Output:
        return git_cli.run("-c", "core.quotePath=false", *args, cwd=root, discover=True, check=False)

    prefix_out = git("rev-parse", "--show-prefix")
    if prefix_out.returncode != 0:
        return None
    prefix: str = git_cli.value(prefix_out) or ""
    listing = git("ls-tree", "-r", "--full-tree", "HEAD", *(["--", prefix] if prefix else []))
    if listing.returncode != 0:
        return None  # no commit yet
    entries: dict[str, str] = {}
    for line in listing.lines:
        meta, _, path = line.partition("\t")
        mode, kind, object_id = (meta.split() + ["", "", ""])[:3]
        if kind in ("blob", "commit") and (rel := _strip(path, prefix)) is not None and not _under(rel, excluded):
            entries[rel] = f"{mode} {object_id}"
    status = git("status", "--porcelain=v1", "--untracked-files=all", "--no-renames", "--", ".", *(f":(exclude){p}" for p in excluded))
    if status.returncode != 0:
        return None
    changed = [changed_path for line in status.lines if len(line) > 3 and (changed_path := _strip(line[3:].strip('"'), prefix)) is not None and not _under(changed_path, excluded)]
    algorithm = "sha256" if any(len(v.split()[1]) == 64 for v in entries.values()) else "sha1"
    for rel in changed:
        entries.pop(rel, None)
        value = _entry(root / rel, algorithm)
        if value is not None:
            entries[rel] = value
    return SourceFiles(entries, dirty=bool(changed))


def _strip(path: str, prefix: str) -> str | None:
    if not prefix:
        return path
    return path[len(prefix) :] if path.startswith(prefix) else None


# -- plain directories and svn checkouts ----------------------------------------------------


def _from_disk(root: Path, excluded: Sequence[str]) -> dict[str, str]:
    """Every file under ``root`` that git's ignore rules keep (asked of git itself, with a
    repository of its own in a temporary directory), hashed from the disk; without git,
    every file but build output and version-control metadata."""
    listed = _unignored(root, excluded)
    paths = listed if listed is not None else _walk(root, excluded)
    entries = {}
    for rel in paths:
        value = _entry(root / rel, "sha256")
        if value is not None:
            entries[rel] = value
    return entries


def _unignored(root: Path, excluded: Sequence[str]) -> list[str] | None:
    with tempfile.TemporaryDirectory(prefix="autopack-inputs-") as scratch:
        git_dir = Path(scratch) / "git"
        try:
            if git_cli.run("init", "--quiet", "--bare", str(git_dir), cwd=Path(scratch), check=False).returncode != 0:
                return None
            listing = git_cli.run(
                f"--work-tree={root}",
                "-c",
                "core.quotePath=false",
                "ls-files",
                "--others",
                "--exclude-standard",
                "--exclude=.svn",
                "--",
                ".",
                *(f":(exclude){p}" for p in excluded),
                git_dir=git_dir,
                check=False,
            )
        except process.ProcessFailed:
            return None
        if listing.returncode != 0:
            return None
        return [line.strip('"') for line in listing.lines if line and not _under(line, excluded)]


def _walk(root: Path, excluded: Sequence[str]) -> list[str]:
    found = []
    for directory, dirs, files in os.walk(root):
        rel_dir = Path(directory).relative_to(root).as_posix()
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS and not _under(_join(rel_dir, d), excluded))
        found += [_join(rel_dir, f) for f in files]
    return found


def _join(directory: str, name: str) -> str:
    return name if directory == "." else f"{directory}/{name}"


def _entry(path: Path, algorithm: str) -> str | None:
    """``mode id`` of one file as git would record it (id: the blob's hash in the repository's
    object format, of the bytes on disk); None for what is no file (gone, a directory)."""
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            mode, data = "120000", os.readlink(path).encode()
        elif stat.S_ISREG(info.st_mode):
            mode, data = ("100755" if info.st_mode & 0o111 else "100644"), path.read_bytes()
        else:
            return None
    except OSError:
        return None
    blob = hashlib.new(algorithm, b"blob %d\0" % len(data))
    blob.update(data)
    return f"{mode} {blob.hexdigest()}"


def _relative(path: Path, root: Path) -> str | None:
    try:
        rel = path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None
    return "" if rel == "." else rel


def _under(path: str, prefixes: Sequence[str]) -> bool:
    return any(p and (path == p or path.startswith(p + "/")) for p in prefixes)
