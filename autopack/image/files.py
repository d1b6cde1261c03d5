"""A stage's filesystem as the direct builder knows it (``Files``): an index of path → node
over its layer blobs, bottom first, whiteouts (``.wh.<name>``) and opaque directories applied;
the base image's layers read only when something needs them (COPY --from, a --chown name),
member contents read only for what a copy takes, one pass per layer, into a spool file."""

from __future__ import annotations

import lzma
import os
import posixpath
import shutil
import tarfile
import tempfile
import zlib
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from autopack.errors import ImageError

if TYPE_CHECKING:
    from autopack.image.layers import Layer

_MAX_HOPS = 40  # symlinks followed in one path, as Linux's MAXSYMLINKS


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> object: ...


@dataclass(slots=True)
class Node:
    kind: str  # "dir", "file", "link", "other"
    mode: int  # permission bits
    uid: int = 0
    gid: int = 0
    size: int = 0
    link: str = ""
    blob: int = -1  # the layer (its position in the blob list) holding a file's content
    offset: int = 0  # where the content starts in that layer's tar


def clean(name: str) -> str:
    """A member or image path, relative to "/" ("" for the root); ".." stops at the root."""
    return posixpath.normpath("/" + name).lstrip("/")


def parent(path: str) -> str:
    return path.rpartition("/")[0]


def open_tar(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, mode="r|*")  # plain, gzip, bzip2 or xz, found by content
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as e:
        raise ImageError(f"{path.name}: not a tar archive the direct builder reads ({e})", "it reads plain, gzip, bzip2 and xz tars; a truncated blob in the cache can be removed and fetched again") from e


class Index:
    """Paths → nodes over layers applied bottom first: whiteouts (``.wh.<name>``) and opaque
    directories (``.wh..wh..opq``) hide what lower layers had."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self._keys: list[str] | None = None

    def apply(self, blob: int, path: Path, whiteouts: bool = True) -> None:
        added: dict[str, Node] = {}
        gone: set[str] = set()
        opaque: set[str] = set()
        try:
            with open_tar(path) as tar:
                for member in tar:
                    name = clean(member.name)
                    if not name:
                        continue
                    base = posixpath.basename(name)
                    if whiteouts and base.startswith(".wh."):
                        if base == ".wh..wh..opq":
                            opaque.add(parent(name))
                        elif not base.startswith(".wh..wh."):
                            gone.add(posixpath.join(parent(name), base[4:]))
                        continue
                    node = self._node(member, blob, added)
                    if node is not None:
                        added[name] = node
        except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as e:
            raise ImageError(f"{path.name}: not a readable tar archive ({e})", "the layer blob may be truncated: remove it from the cache and build again") from e
        if gone or opaque:
            self.nodes = {p: n for p, n in self.nodes.items() if not _hidden(p, gone, opaque)}
        for name, node in added.items():
            old = self.nodes.get(name)
            if old is not None and old.kind == "dir" and node.kind != "dir":
                self.nodes = {p: n for p, n in self.nodes.items() if not p.startswith(name + "/")}
            self.nodes[name] = node
            up = parent(name)
            while up and up not in self.nodes:
                self.nodes[up] = Node("dir", 0o755)
                up = parent(up)
        self._keys = None

    def _node(self, member: tarfile.TarInfo, blob: int, added: dict[str, Node]) -> Node | None:
        mode = member.mode & 0o7777
        if member.isdir():
            return Node("dir", mode, member.uid, member.gid)
        if member.issym():
            return Node("link", 0o777, member.uid, member.gid, link=member.linkname)
        if member.islnk():  # a hard link: the file it names, in this layer or a lower one
            target = clean(member.linkname)
            found = added.get(target) or self.nodes.get(target)
            if found is None or found.kind != "file":
                return None
            return Node("file", mode, member.uid, member.gid, found.size, blob=found.blob, offset=found.offset)
        if member.isreg():
            return Node("file", mode, member.uid, member.gid, member.size, blob=blob, offset=member.offset_data)
        return Node("other", mode, member.uid, member.gid)

    def resolve(self, path: str) -> str | None:
        """``path`` with every symlink followed inside this filesystem (an absolute target
        from its root, ".." stopping there); None when something on the way is missing."""
        parts = [p for p in path.split("/") if p]
        done: list[str] = []
        hops = 0
        while parts:
            name = parts.pop(0)
            if name in (".", ""):
                continue
            if name == "..":
                if done:
                    done.pop()
                continue
            current = "/".join([*done, name])
            node = self.nodes.get(current)
            if node is None:
                return None
            if node.kind == "link":
                hops += 1
                if hops > _MAX_HOPS:
                    return None
                if node.link.startswith("/"):
                    done = []
                parts = [p for p in node.link.split("/") if p] + parts
                continue
            if parts and node.kind != "dir":
                return None
            done.append(name)
        return "/".join(done)

    def below(self, directory: str) -> Iterator[tuple[str, Node]]:
        """Everything under ``directory`` ("" for the root), relative to it, not in order."""
        if self._keys is None:
            self._keys = sorted(self.nodes)
        prefix = directory + "/" if directory else ""
        at = bisect_left(self._keys, prefix)
        while at < len(self._keys) and self._keys[at].startswith(prefix):
            key = self._keys[at]
            yield key[len(prefix) :], self.nodes[key]
            at += 1


def _hidden(path: str, gone: set[str], opaque: set[str]) -> bool:
    if path in gone:
        return True
    up = parent(path)
    while True:
        if up in gone or up in opaque:
            return True
        if not up:
            return False
        up = parent(up)


class Spool:
    """The contents a copy takes from layer blobs: one pass over each layer that has some,
    into one temporary file."""

    def __init__(self, blobs: Sequence[Path]) -> None:
        self.blobs = blobs
        self.wanted: dict[int, set[int]] = {}
        self.where: dict[tuple[int, int], int] = {}
        self.file: BinaryIO | None = None

    def want(self, node: Node) -> Callable[[], Readable]:
        self.wanted.setdefault(node.blob, set()).add(node.offset)
        return lambda: self.open(node)

    def fetch(self) -> None:
        if self.file is None:
            self.file = tempfile.TemporaryFile()
        for blob, offsets in sorted(self.wanted.items()):
            left = {o for o in offsets if (blob, o) not in self.where}
            if not left:
                continue
            with open_tar(self.blobs[blob]) as tar:
                for member in tar:
                    if member.offset_data in left and member.isreg():
                        source = tar.extractfile(member)
                        assert source is not None
                        self.where[(blob, member.offset_data)] = self.file.seek(0, os.SEEK_END)
                        shutil.copyfileobj(source, self.file, 1 << 20)
                        left.discard(member.offset_data)
                        if not left:
                            break

    def open(self, node: Node) -> Readable:
        assert self.file is not None, "fetch() first"
        return _Slice(self.file, self.where[(node.blob, node.offset)], node.size)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


class _Slice:
    def __init__(self, file: BinaryIO, start: int, size: int) -> None:
        self.file, self.at, self.left = file, start, size

    def read(self, size: int = -1, /) -> bytes:
        self.file.seek(self.at)
        data = self.file.read(min(size, self.left) if size >= 0 else self.left)
        self.at += len(data)
        self.left -= len(data)
        return data

    def close(self) -> None:
        pass


class Files:
    """One stage's filesystem as far as the direct builder knows it: the base image's layers
    (read only when needed) and the layers its own steps added."""

    def __init__(self, base_layers: Callable[[], Sequence[Path]] = lambda: ()) -> None:
        """``base_layers`` gives the base's layer blobs (gzip or plain tar), bottom first; it
        is called when the base's files are needed (they are downloaded for it), once."""
        self._base_layers = base_layers
        self._layers: list[Layer] = []
        self._own = Index()
        self._own_applied = 0
        self._all: Index | None = None
        self._blobs: list[Path] = []
        self._all_applied = 0
        self._accounts: tuple[dict[str, tuple[int, int]], dict[str, int]] | None = None

    def add(self, layer: Layer) -> None:
        """A layer one of this stage's steps made, in order."""
        self._layers.append(layer)
        self._accounts = None

    def own(self) -> Index:
        """This stage's own layers only: never reads the base."""
        for layer in self._layers[self._own_applied :]:
            self._own.apply(-1, layer.path)
        self._own_applied = len(self._layers)
        return self._own

    def tree(self) -> tuple[Index, Sequence[Path]]:
        """The whole filesystem (reading the base) and the blobs its nodes point into."""
        if self._all is None:
            index, blobs = Index(), list(self._base_layers())
            for number, blob in enumerate(blobs):
                index.apply(number, blob)
            self._all, self._blobs = index, blobs  # only once all of the base is read
        for layer in self._layers[self._all_applied :]:
            self._blobs.append(layer.path)
            self._all.apply(len(self._blobs) - 1, layer.path)
        self._all_applied = len(self._layers)
        return self._all, self._blobs

    def known_dir(self, path: str) -> bool:
        """Whether ``path`` is a directory this stage's own steps (WORKDIR, COPY) made."""
        index = self.own()
        real = index.resolve(clean(path))
        return real is not None and (real == "" or index.nodes[real].kind == "dir")

    def owner(self, spec: str) -> tuple[int, int]:
        """A ``--chown`` value as uid and gid: numbers as they are (a user alone: gid = uid),
        names from this filesystem's /etc/passwd and /etc/group (a user alone: its primary
        group)."""
        user, _, group = spec.partition(":")
        if not user:
            raise ImageError(f"--chown={spec}: no user", "give --chown=user[:group], names or numbers")
        if user.isascii() and user.isdigit():
            uid, gid = int(user), int(user)
        else:
            users = self._read_accounts()[0]
            if user not in users:
                raise ImageError(f"--chown={spec}: no user {user!r} in the image's /etc/passwd", "create the user in the base image, or give its uid")
            uid, gid = users[user]
        if group:
            if group.isascii() and group.isdigit():
                gid = int(group)
            else:
                groups = self._read_accounts()[1]
                if group not in groups:
                    raise ImageError(f"--chown={spec}: no group {group!r} in the image's /etc/group", "create the group in the base image, or give its gid")
                gid = groups[group]
        return uid, gid

    def _read_accounts(self) -> tuple[dict[str, tuple[int, int]], dict[str, int]]:
        if self._accounts is None:
            users: dict[str, tuple[int, int]] = {}
            for fields in _colon_lines(self._text("etc/passwd")):
                if len(fields) >= 4 and fields[2].isdigit() and fields[3].isdigit():
                    users.setdefault(fields[0], (int(fields[2]), int(fields[3])))
            groups: dict[str, int] = {}
            for fields in _colon_lines(self._text("etc/group")):
                if len(fields) >= 3 and fields[2].isdigit():
                    groups.setdefault(fields[0], int(fields[2]))
            self._accounts = users, groups
        return self._accounts

    def _text(self, path: str) -> str:
        index, blobs = self.tree()
        real = index.resolve(path)
        node = index.nodes.get(real) if real else None
        if node is None or node.kind != "file":
            return ""
        spool = Spool(blobs)
        reader = spool.want(node)
        try:
            spool.fetch()
            return reader().read(node.size).decode("utf-8", "replace")
        finally:
            spool.close()


def _colon_lines(text: str) -> Iterator[list[str]]:
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            yield line.split(":")
