"""The direct builder's layers: COPY, ADD and WORKDIR executed without an engine, each into
one gzip'd tar blob in a content-addressed store, the same bytes on every run.

Semantics are ``docker build``'s with BuildKit, except where reproducibility decides:

- every entry has mtime ``epoch``, uid/gid the ``--chown`` owner else 0/0, no user or group
  names; a context file is 0644, or 0755 when it has any execute bit, a directory 0755, a
  symlink 0777 (its target kept); ``--chmod`` sets files and directories the copy brings;
  hard links become regular files; sockets, devices and fifos are left out. Files from
  another stage (COPY --from) keep their permission bits; an ADD'ed archive keeps its
  entries' modes and owners (as Docker unpacks it) unless --chown/--chmod say otherwise.
- entries are sorted by path (parents first); every parent directory of an entry is in the
  layer. The destination and its parents (the directories the copy goes *into*) keep what
  this stage's own earlier layers made them; else the destination gets the --chown owner
  (as BuildKit gives it to a destination it creates) and its parents are 0755 root
  (``/tmp`` and ``/var/tmp`` 1777); directories below the destination get the --chown
  owner. The base image's directories are not looked at (that would need its layers), so
  neither are they for "is the destination a directory?": only a trailing "/" and this
  stage's own directories (``Files.known_dir``).
- a pattern's matches count as sources: several need a directory destination.
- a source path or a symlink that leaves the build context is refused (BuildKit would
  resolve it inside the context); within a copied directory, symlinks are kept as they are.
- tar: PAX, with extended headers only for long or non-ASCII names; gzip: level 6, mtime
  0, no file name. Written as a stream: tar and gzip digests in one pass.

What a stage's files are (for COPY --from, --chown names, "is it a directory?") is
``files.Files``.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import posixpath
import re
import stat
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from autopack.errors import ImageError
from autopack.files import write_atomically
from autopack.image.files import Files, Index, Node, Readable, Spool, clean, parent
from autopack.image.hygiene import Patterns
from autopack.image.steps import Copy, Unsupported, Workdir

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

_STICKY = {"tmp": 0o1777, "var/tmp": 0o1777}  # a parent entry must not make them unwritable
_WILDCARD = re.compile(r"(?<!\\)(?:\\\\)*[*?\[]")


@dataclass(frozen=True, slots=True)
class Layer:
    digest: str  # "sha256:<hex>" of the gzip blob
    diff_id: str  # "sha256:<hex>" of the uncompressed tar
    size: int  # bytes of the gzip blob
    path: Path  # the blob in the store: <blobs>/sha256/<hex>
    created_by: str  # the instruction, for the image history


# --- the blob store ------------------------------------------------------------------------


class _Writer(Protocol):
    def write(self, data: bytes, /) -> object: ...


class _Hashing(io.RawIOBase):
    """Passes bytes on to ``out``, hashing and counting them."""

    def __init__(self, out: _Writer) -> None:
        self.out, self.sha, self.size = out, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data: ReadableBuffer) -> int:
        view = memoryview(data).cast("B")
        self.sha.update(view)
        self.out.write(bytes(view))
        self.size += len(view)
        return len(view)


def store_blob(blobs: Path, write: Callable[[BinaryIO], object]) -> tuple[str, int, Path]:
    """Content-addressed: ``write`` fills a temporary file in ``blobs``, hashed as it is
    written, which becomes ``<blobs>/sha256/<hex>`` (a blob already there is kept). Returns
    the digest, the size and the path."""
    (blobs / "sha256").mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".blob.", dir=blobs)
    try:
        with os.fdopen(fd, "wb") as raw:
            hashing = _Hashing(raw)
            with io.BufferedWriter(hashing, 1 << 16) as out:
                write(out)
        target = blobs / "sha256" / hashing.sha.hexdigest()
        if target.exists():
            os.unlink(tmp)
        else:
            os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return f"sha256:{hashing.sha.hexdigest()}", hashing.size, target


@dataclass(frozen=True, slots=True)
class _Entry:
    """One entry of a layer being written; ``path`` relative to "/", "" never."""

    path: str
    kind: str  # "dir", "file", "link"
    mode: int
    uid: int = 0
    gid: int = 0
    link: str = ""
    size: int = 0
    data: Callable[[], Readable] | None = None


_TYPES = {"dir": tarfile.DIRTYPE, "file": tarfile.REGTYPE, "link": tarfile.SYMTYPE}


def _write_layer(entries: Sequence[_Entry], epoch: int, blobs: Path, created_by: str) -> Layer:
    """The layer's tar, compressed into the blob store — unless the store has that very tar
    compressed already (``<blobs>/diffid/<hex>`` names its blob): an unchanged layer (the
    dependencies, after a one-line change) costs one uncompressed pass, not a gzip."""
    ordered = sorted(entries, key=lambda e: e.path.split("/"))
    counted = _Hashing(_Null())
    _tar(ordered, epoch, counted)
    diff_id = f"sha256:{counted.sha.hexdigest()}"
    record = blobs / "diffid" / diff_id.removeprefix("sha256:")
    if record.is_file() and (known := record.read_text().split()) and (path := blobs / "sha256" / known[0].removeprefix("sha256:")).is_file():
        return Layer(known[0], diff_id, path.stat().st_size, path, created_by)

    def write(out: BinaryIO) -> None:
        with compressing(out) as gz:
            packed = _Hashing(gz)
            _tar(ordered, epoch, packed)
        if packed.sha.hexdigest() != counted.sha.hexdigest():
            raise ImageError(f"{created_by}: a file changed while its layer was written", "let nothing write into the build context during the build")

    digest, size, path = store_blob(blobs, write)
    record.parent.mkdir(exist_ok=True)
    write_atomically(record, digest + "\n")
    return Layer(digest, diff_id, size, path, created_by)


def compressing(out: BinaryIO) -> gzip.GzipFile:
    """The one gzip of a layer blob: level 6 (Docker's), no file name and mtime 0 in the
    header, so the blob depends on the tar alone."""
    return gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=6, mtime=0)


class _Null:
    def write(self, data: bytes, /) -> int:
        return len(data)


def _tar(entries: Sequence[_Entry], epoch: int, out: _Hashing) -> None:
    with io.BufferedWriter(out, 1 << 16) as tee, tarfile.open(fileobj=tee, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            _add(tar, entry, epoch)


def _add(tar: tarfile.TarFile, entry: _Entry, epoch: int) -> None:
    info = tarfile.TarInfo(entry.path)
    info.type, info.mode, info.uid, info.gid, info.mtime = _TYPES[entry.kind], entry.mode, entry.uid, entry.gid, epoch
    info.uname = info.gname = ""
    info.linkname = entry.link
    if entry.kind != "file" or entry.data is None:
        tar.addfile(info)
        return
    info.size = entry.size
    try:
        data = entry.data()
        try:
            tar.addfile(info, data)
        finally:
            data.close()
    except OSError as e:  # unreadable, or shorter than when it was listed
        raise ImageError(f"cannot copy the file that goes to /{entry.path}: {e}", "check that it is readable and that nothing changes it during the build") from e


# --- one stage's files ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Item:
    """A file, directory or symlink a copy takes: its mode as it goes in without --chmod,
    its owner when it has one of its own (an archive's entries), how to read it."""

    kind: str  # "dir", "file", "link", "other"
    mode: int
    size: int = 0
    link: str = ""
    data: Callable[[], Readable] | None = None
    owner: tuple[int, int] | None = None
    path: Path | None = None  # a context file, for ADD's look at its content


class _Source(Protocol):
    def expand(self, source: str) -> list[str]: ...

    def item(self, path: str) -> _Item: ...

    def walk(self, path: str) -> Iterator[tuple[str, _Item]]: ...


def _context_item(path: Path, st: os.stat_result) -> _Item:
    if stat.S_ISDIR(st.st_mode):
        return _Item("dir", 0o755)
    if stat.S_ISLNK(st.st_mode):
        return _Item("link", 0o777, link=os.readlink(path))
    if stat.S_ISREG(st.st_mode):  # a hard link too: its content is copied
        return _Item("file", 0o755 if st.st_mode & 0o111 else 0o644, st.st_size, data=lambda: open(path, "rb"), path=path)
    return _Item("other", 0)


class _Context:
    """The build context as BuildKit sends it: what the ignore file excludes is not there."""

    def __init__(self, root: Path, ignore: Patterns | None, where: str) -> None:
        self.root, self.ignore, self.where = root, ignore, where
        self.real_root = os.path.realpath(root)

    def _relative(self, source: str) -> str:
        relative = posixpath.normpath(source.lstrip("/") or ".")
        if relative == ".." or relative.startswith("../"):
            raise ImageError(f"{self.where}: {source} is outside the build context", "a COPY can only take files from the build context")
        return "" if relative == "." else relative

    def _state(self, relative: str) -> tuple[bool, tuple[bool, ...] | None]:
        """Whether ``relative`` is excluded, and the match results its children need, as
        the hygiene walk (fsutil) gets them: from the top, directory by directory."""
        if self.ignore is None or not relative:
            return False, None
        info: tuple[bool, ...] | None = None
        parts = relative.split("/")
        excluded = False
        for n in range(len(parts)):
            prefix = "/".join(parts[: n + 1])
            excluded, info = self.ignore.match(prefix, info)
            if excluded and n < len(parts) - 1 and not self.ignore.enters(prefix):
                return True, info
        return excluded, info

    def _sent(self, relative: str, is_dir: bool) -> bool:
        excluded, _ = self._state(relative)
        return not excluded or (is_dir and self.ignore is not None and self.ignore.enters(relative))

    def expand(self, source: str) -> list[str]:
        relative = self._relative(source)
        if not _WILDCARD.search(relative):
            return [relative]
        found = _glob(relative, self.where, self._names)
        found = [f for f in found if os.path.lexists(os.path.join(self.root, f)) and self._sent(f, os.path.isdir(os.path.join(self.root, f)))]
        if not found:
            raise ImageError(f"{self.where}: {source} matches no file in the build context", "check the pattern, and that the .dockerignore does not exclude what it should match")
        return found

    def _names(self, directory: str) -> list[str]:
        try:
            return os.listdir(os.path.join(self.root, directory))
        except OSError:
            return []

    def _real(self, relative: str) -> str:
        """``relative`` with its symlinks followed; refused when that leaves the context."""
        real = os.path.realpath(os.path.join(self.root, relative))
        if os.path.commonpath([real, self.real_root]) != self.real_root:
            raise ImageError(f"{self.where}: {relative} leads outside the build context (a symlink)", "copy the file into the build context instead of linking to it")
        relative = os.path.relpath(real, self.real_root).replace(os.sep, "/")
        return "" if relative == "." else relative

    def item(self, path: str) -> _Item:
        real = self._real(path)
        full = os.path.join(self.real_root, real)
        try:
            st = os.lstat(full)
        except OSError:
            st = None
        if st is None or not self._sent(path, stat.S_ISDIR(st.st_mode)) or not self._sent(real, stat.S_ISDIR(st.st_mode)):
            raise ImageError(f"{self.where}: {path or '.'} is not in the build context", "check the path (relative to the build context), and that the .dockerignore does not exclude it")
        return _context_item(Path(full), st)

    def walk(self, path: str) -> Iterator[tuple[str, _Item]]:
        real = self._real(path)
        stack = [("", Path(self.real_root, real), real, self._state(real)[1])]
        while stack:
            inside, directory, relative, info = stack.pop()
            try:
                with os.scandir(directory) as scan:
                    found = list(scan)
            except OSError as e:
                raise ImageError(f"{self.where}: cannot read {relative or '.'} in the build context: {e.strerror}", "check its permissions") from e
            for entry in found:
                name = f"{relative}/{entry.name}" if relative else entry.name
                excluded, below = self.ignore.match(name, info) if self.ignore else (False, None)
                item = _context_item(Path(entry.path), entry.stat(follow_symlinks=False))
                if item.kind == "dir":
                    if excluded and not (self.ignore and self.ignore.enters(name)):
                        continue
                    stack.append((f"{inside}/{entry.name}" if inside else entry.name, Path(entry.path), name, below))
                if not excluded:
                    yield (f"{inside}/{entry.name}" if inside else entry.name), item


class _Stage:
    """Another stage's filesystem (COPY --from), or an archive's (ADD): paths from its "/"."""

    def __init__(self, index: Index, spool: Spool, where: str, keep_owners: bool = False) -> None:
        self.index, self.spool, self.where, self.keep_owners = index, spool, where, keep_owners

    def expand(self, source: str) -> list[str]:
        relative = clean(source)
        if not _WILDCARD.search(relative):
            return [relative]
        found = _glob(relative, self.where, self._names)
        if not found:
            raise ImageError(f"{self.where}: {source} matches no file in the stage it copies from", "check the pattern")
        return found

    def _names(self, directory: str) -> list[str]:
        real = self.index.resolve(directory)
        return [name for name, _ in self.index.below(real) if "/" not in name] if real is not None else []

    def _item(self, node: Node) -> _Item:
        owner = (node.uid, node.gid) if self.keep_owners else None
        if node.kind == "file":
            return _Item("file", node.mode, node.size, data=self.spool.want(node), owner=owner)
        return _Item(node.kind, node.mode, link=node.link, owner=owner)

    def item(self, path: str) -> _Item:
        real = self.index.resolve(path)
        if real is None:
            raise ImageError(f"{self.where}: /{path} is not in the stage it copies from", "check the path in that stage")
        return _Item("dir", 0o755) if real == "" else self._item(self.index.nodes[real])

    def walk(self, path: str) -> Iterator[tuple[str, _Item]]:
        real = self.index.resolve(path)
        for name, node in self.index.below(real or ""):
            yield name, self._item(node)


def _glob(relative: str, where: str, names: Callable[[str], list[str]]) -> list[str]:
    """The paths a wildcard source matches, segment by segment as Go's filepath.Glob walks
    (``names(directory)``: what a directory holds), in name order."""
    found = [""]
    for segment in relative.split("/"):
        if not _WILDCARD.search(segment):
            found = [posixpath.join(f, _unescape(segment)) for f in found]
            continue
        pattern = _segment_pattern(segment, where)
        found = [posixpath.join(base, name) for base in found for name in sorted(names(base)) if pattern.match(name)]
    return found


def _unescape(segment: str) -> str:
    return re.sub(r"\\(.)", r"\1", segment)


def _segment_pattern(segment: str, where: str) -> re.Pattern[str]:
    """Go's ``filepath.Match`` for one path segment, as a regular expression."""
    out, at = [], 0
    while at < len(segment):
        ch = segment[at]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\" and at + 1 < len(segment):
            at += 1
            out.append(re.escape(segment[at]))
        elif ch == "[":
            at += 1
            negate = at < len(segment) and segment[at] == "^"
            at += negate
            ranges: list[str] = []
            while at < len(segment) and (segment[at] != "]" or not ranges):
                low = segment[at]
                if low == "\\" and at + 1 < len(segment):
                    at += 1
                    low = segment[at]
                at += 1
                if at + 1 < len(segment) and segment[at] == "-" and segment[at + 1] != "]":
                    high = segment[at + 1]
                    at += 2
                    ranges.append(f"{re.escape(low)}-{re.escape(high)}")
                else:
                    ranges.append(re.escape(low))
            if at >= len(segment):
                raise ImageError(f"{where}: bad pattern {segment!r} (an unclosed '[')", "close the character class, or escape '[' with a backslash")
            out.append(f"[{'^' if negate else ''}{''.join(ranges)}]")
        else:
            out.append(re.escape(ch))
        at += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


# --- ADD's archives --------------------------------------------------------------------------


def _is_archive(path: Path, step: Copy) -> bool:
    """Whether ADD unpacks ``path``: as Docker decides, by content: a tar, plain or
    compressed with gzip, bzip2 or xz (zstd too, which the direct builder leaves to an
    engine)."""
    with open(path, "rb") as f:
        head = f.read(6)
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        raise Unsupported("ADD", step.line, f"{path.name} is a zstd archive")
    opener: Callable[[Path], Readable] = lambda p: open(p, "rb")  # noqa: E731
    if head.startswith(b"\x1f\x8b\x08"):
        opener = lambda p: gzip.open(p, "rb")  # noqa: E731
    elif head.startswith(b"BZh"):
        opener = lambda p: bz2.open(p, "rb")  # noqa: E731
    elif head.startswith(b"\xfd7zXZ\x00"):
        opener = lambda p: lzma.open(p, "rb")  # noqa: E731
    try:
        reader = opener(path)
        try:
            block = reader.read(tarfile.BLOCKSIZE)
        finally:
            reader.close()
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except (tarfile.HeaderError, OSError, EOFError, zlib.error, lzma.LZMAError):
        return False
    return True


# --- the steps -------------------------------------------------------------------------------


def _where(step: Copy | Workdir, name: str) -> str:
    return f"{name} (line {step.line})" if step.line else name


def _dir_entry(path: str, files: Files, owner: tuple[int, int] | None = None) -> _Entry:
    """A directory the copy goes into: as this stage's own layers made it, else ``owner``'s
    (the destination of a COPY --chown, which creates it), else root's."""
    node = files.own().nodes.get(path)
    if node is not None and node.kind == "dir":
        return _Entry(path, "dir", node.mode, node.uid, node.gid)
    return _Entry(path, "dir", _STICKY.get(path, 0o755), *(owner or (0, 0)))


def _chmod(step: Copy, where: str) -> int | None:
    if step.chmod is None:
        return None
    if not re.fullmatch(r"[0-7]{1,4}", step.chmod):
        raise ImageError(f"{where}: --chmod={step.chmod} is not an octal mode", "the direct builder takes octal modes, e.g. --chmod=755")
    return int(step.chmod, 8)


def copy_layer(step: Copy, *, context: Path, ignore: Patterns | None, files: Files, source: Files | None, epoch: int, blobs: Path) -> Layer:
    """The layer of a COPY or ADD of local files (``source``: COPY --from that stage)."""
    name = "ADD" if step.add else "COPY"
    where = _where(step, name)
    chmod = _chmod(step, where)
    chown = files.owner(step.chown) if step.chown else None
    spools: list[Spool] = []
    tree: _Source
    if source is not None:
        index, blob_paths = source.tree()
        spools.append(Spool(blob_paths))
        tree = _Stage(index, spools[0], where)
    else:
        tree = _Context(context, ignore, where)

    raw = step.dest or "."
    dest = clean(posixpath.join(step.workdir or "/", raw))
    into = raw.endswith(("/", "/.", "/..")) or raw in (".", "..") or files.known_dir(dest)
    matches = [path for s in step.sources for path in tree.expand(s)]
    if not matches:
        raise ImageError(f"{where}: no source", "name the files to copy")
    if len(matches) > 1 and not into:
        raise ImageError(f"{where}: several sources ({', '.join(matches[:3])}{', …' if len(matches) > 3 else ''}) need a directory destination", f"end the destination with a slash: {raw}/")

    entries: dict[str, _Entry] = {}

    def put(path: str, item: _Item) -> None:
        if item.kind == "other" or not path:
            return
        mode = item.mode if chmod is None or item.kind == "link" else chmod
        uid, gid = chown or item.owner or (0, 0)
        entries[path] = _Entry(path, item.kind, mode, uid, gid, item.link, item.size, item.data)

    def put_tree(top: str, inside: _Source, path: str) -> None:
        for relative, item in inside.walk(path):
            put(posixpath.join(top, relative) if top else relative, item)

    dest_dir = into  # also when a directory's contents or an archive go there
    try:
        for path in matches:
            item = tree.item(path)
            if item.kind == "dir":
                dest_dir = True
                put_tree(dest, tree, path)
            elif step.add and source is None and item.path is not None and _is_archive(item.path, step):
                archive = Index()
                archive.apply(0, item.path, whiteouts=False)
                spools.append(Spool([item.path]))
                dest_dir = True
                put_tree(dest, _Stage(archive, spools[-1], where, keep_owners=True), "")
            else:
                put(posixpath.join(dest, posixpath.basename(path)) if into else dest, item)
        if dest_dir and dest:
            entries.setdefault(dest, _dir_entry(dest, files, chown))
        for path in list(entries):
            up = parent(path)
            while up and up not in entries:
                below = up.startswith(dest + "/") if dest else True
                entries[up] = _Entry(up, "dir", 0o755 if chmod is None else chmod, *(chown or (0, 0))) if below else _dir_entry(up, files)
                up = parent(up)
        for spool in spools:
            spool.fetch()
        return _write_layer(list(entries.values()), epoch, blobs, step.text or f"{name} {' '.join(step.sources)} {step.dest}")
    finally:
        for spool in spools:
            spool.close()


def workdir_layer(step: Workdir, *, files: Files, epoch: int, blobs: Path) -> Layer:
    """The layer of a WORKDIR: its directory and their parents, as Docker creates them."""
    path = clean(step.path)
    entries = []
    while path:
        entries.append(_dir_entry(path, files))
        path = parent(path)
    return _write_layer(entries, epoch, blobs, step.text or f"WORKDIR {step.path}")
