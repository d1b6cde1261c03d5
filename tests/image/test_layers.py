"""The direct builder's layers, made from contexts and layer tars built in tmp_path and read
back with tarfile: reproducible bytes, Docker's COPY/ADD/WORKDIR semantics, refusals."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from autopack.errors import ImageError
from autopack.image.hygiene import Patterns, read_ignore_lines
from autopack.image.layers import Files, Layer, copy_layer, store_blob, workdir_layer
from autopack.image.steps import Copy, Unsupported, Workdir

EPOCH = 1_700_000_000


def write(root: Path, files: dict[str, str | bytes | None]) -> Path:
    """Files (text or bytes) and directories (None) under ``root``, in the order given."""
    for name, content in files.items():
        path = root / name
        if content is None:
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def members(layer: Layer) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(layer.path, "r:gz") as tar:
        return {m.name: m for m in tar.getmembers()}


def contents(layer: Layer) -> dict[str, bytes]:
    with tarfile.open(layer.path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isreg()}  # type: ignore[union-attr]


def copy(context: Path, tmp_path: Path, *sources: str, dest: str, files: Files | None = None, ignore: Sequence[str] = (), source: Files | None = None, **options: object) -> Layer:
    step = Copy(tuple(sources), dest, str(options.pop("workdir", "/")), text="COPY", **options)  # type: ignore[arg-type]
    patterns = Patterns(read_ignore_lines(list(ignore))) if ignore else None
    return copy_layer(step, context=context, ignore=patterns, files=files or Files(), source=source, epoch=EPOCH, blobs=tmp_path / "blobs")


def tar_blob(path: Path, entries: dict[str, str | None], compress: bool = True) -> Path:
    """A layer tar: files (text), directories (None), ``->target`` symlinks; in that order."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in entries.items():
            info = tarfile.TarInfo(name)
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif content.startswith("->"):
                info.type, info.linkname = tarfile.SYMTYPE, content[2:]
                tar.addfile(info)
            else:
                data = content.encode()
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(buffer.getvalue()) if compress else buffer.getvalue())
    return path


def never() -> Sequence[Path]:
    raise AssertionError("the base image's layers were read")


class Counting:
    def __init__(self, layers: Sequence[Path]) -> None:
        self.layers, self.calls = layers, 0

    def __call__(self) -> Sequence[Path]:
        self.calls += 1
        return self.layers


# --- reproducible bytes ----------------------------------------------------------------------


def make_context(root: Path, umask: int, mtime: int, reverse: bool) -> Path:
    files: dict[str, str | bytes | None] = {"app/lib/a.jar": b"A" * 5000, "app/lib/b.jar": b"B" * 3000, "app/run.sh": "#!/bin/sh\n", "app/conf/app.yml": "port: 8080\n", "app/empty": None}
    old = os.umask(umask)
    try:
        write(root, dict(reversed(files.items())) if reverse else files)
        (root / "app/run.sh").chmod(0o777 & ~umask)
        os.symlink("lib/a.jar", root / "app/current.jar")
    finally:
        os.umask(old)
    for path in root.rglob("*"):
        os.utime(path, (mtime, mtime), follow_symlinks=False)
    return root


def test_the_same_context_gives_the_same_bytes_whatever_the_umask_mtimes_and_order(tmp_path: Path) -> None:
    one = copy(make_context(tmp_path / "one", 0o022, 1_000_000, False), tmp_path / "a", "app", dest="/srv/")
    two = copy(make_context(tmp_path / "two", 0o077, 2_000_000, True), tmp_path / "b", "app", dest="/srv/")
    assert (one.digest, one.diff_id, one.size) == (two.digest, two.diff_id, two.size)
    assert one.path.read_bytes() == two.path.read_bytes()
    blob = one.path.read_bytes()
    assert one.digest == "sha256:" + hashlib.sha256(blob).hexdigest() and one.size == len(blob)
    assert one.diff_id == "sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest()
    assert one.path == tmp_path / "a" / "blobs" / "sha256" / one.digest.removeprefix("sha256:")
    assert blob[3] == 0 and blob[4:8] == b"\0\0\0\0"  # gzip: no file name, mtime 0
    assert one.created_by == "COPY"


def test_entries_sorted_with_parents_normalised_modes_owners_and_mtimes(tmp_path: Path) -> None:
    context = make_context(tmp_path / "ctx", 0o002, 1_000_000, False)
    found = members(copy(context, tmp_path, "app", dest="/srv/app/"))
    names = list(found)
    assert names == ["srv", "srv/app", "srv/app/conf", "srv/app/conf/app.yml", "srv/app/current.jar", "srv/app/empty", "srv/app/lib", "srv/app/lib/a.jar", "srv/app/lib/b.jar", "srv/app/run.sh"]
    assert {m.mtime for m in found.values()} == {EPOCH}
    assert {(m.uid, m.gid, m.uname, m.gname) for m in found.values()} == {(0, 0, "", "")}
    assert {n: oct(m.mode) for n, m in found.items() if m.isdir()} == dict.fromkeys(["srv", "srv/app", "srv/app/conf", "srv/app/empty", "srv/app/lib"], "0o755")
    assert oct(found["srv/app/lib/a.jar"].mode) == "0o644" and oct(found["srv/app/run.sh"].mode) == "0o755"
    link = found["srv/app/current.jar"]
    assert link.issym() and link.linkname == "lib/a.jar" and oct(link.mode) == "0o777"
    with tarfile.open(copy(context, tmp_path, "app", dest="/srv/app/").path, "r:gz") as tar:
        assert all(not m.pax_headers for m in tar.getmembers())


def test_hard_links_become_files_and_long_or_non_ascii_names_get_pax_headers(tmp_path: Path) -> None:
    context = write(tmp_path / "ctx", {"d/one": "same", "d/" + "x" * 120: "long", "d/café": "ü"})
    os.link(context / "d/one", context / "d/two")
    os.mkfifo(context / "d/pipe")
    layer = copy(context, tmp_path, "d", dest="/d/")
    found = members(layer)
    assert found["d/two"].isreg() and contents(layer)["d/two"] == b"same"
    assert "d/pipe" not in found
    with tarfile.open(layer.path, "r:gz") as tar:
        headers = {m.name: m.pax_headers for m in tar.getmembers()}
    assert set(n for n, h in headers.items() if h) == {"d/" + "x" * 120, "d/café"}


# --- sources -----------------------------------------------------------------------------------


def test_dockerignore_excludes_and_exceptions(tmp_path: Path) -> None:
    context = write(tmp_path / "ctx", {"src/Main.java": "x", "target/app.jar": "jar", "target/classes/A.class": "c", ".git/config": "g", "secret.env": "s", "notes.md": "n", "keep.md": "k"})
    found = members(copy(context, tmp_path, ".", dest="/w/", ignore=[".git", "target", "!target/app.jar", "*.env", "*.md", "!keep.md"]))
    assert sorted(n for n, m in found.items() if m.isreg()) == ["w/keep.md", "w/src/Main.java", "w/target/app.jar"]
    assert found["w/target"].isdir()
    with pytest.raises(ImageError, match="secret.env is not in the build context"):
        copy(context, tmp_path, "secret.env", dest="/w/", ignore=["*.env"])


def test_wildcards_match_context_paths(tmp_path: Path) -> None:
    context = write(tmp_path / "ctx", {"target/app-1.0.jar": "a", "target/app-1.0-sources.jar": "s", "target/lib/x.jar": "x", "a.txt": "a", "b.txt": "b", "c.txt": "c"})
    found = members(copy(context, tmp_path, "target/*.jar", "[ab].txt", dest="/app/"))
    assert sorted(n for n, m in found.items() if m.isreg()) == ["app/a.txt", "app/app-1.0-sources.jar", "app/app-1.0.jar", "app/b.txt"]
    one = members(copy(context, tmp_path, "target/app-?.?.jar", dest="/app.jar"))
    assert [n for n, m in one.items() if m.isreg()] == ["app.jar"]
    assert [n for n, m in members(copy(context, tmp_path, "*/lib/*.jar", dest="/l/")).items() if m.isreg()] == ["l/x.jar"]
    with pytest.raises(ImageError, match=r"target/\*.war matches no file"):
        copy(context, tmp_path, "target/*.war", dest="/app/")
    with pytest.raises(ImageError, match="several sources"):
        copy(context, tmp_path, "target/*.jar", dest="/app.jar")


def test_a_directory_source_copies_its_contents(tmp_path: Path) -> None:
    context = write(tmp_path / "ctx", {"build/libs/app.jar": "jar", "build/conf/a.yml": "a"})
    assert list(members(copy(context, tmp_path, "build", dest="/opt/app"))) == ["opt", "opt/app", "opt/app/conf", "opt/app/conf/a.yml", "opt/app/libs", "opt/app/libs/app.jar"]
    assert list(members(copy(context, tmp_path, "build/libs/", dest="."))) == ["app.jar"]  # into "/"
    assert list(members(copy(context, tmp_path, "/build/conf", dest="conf", workdir="/srv"))) == ["srv", "srv/conf", "srv/conf/a.yml"]


def test_destination_rules(tmp_path: Path) -> None:
    context = write(tmp_path / "ctx", {"app.jar": "jar", "run.sh": "sh"})
    assert list(members(copy(context, tmp_path, "app.jar", dest="/opt/app"))) == ["opt", "opt/app"]
    assert list(members(copy(context, tmp_path, "app.jar", dest="/opt/app/"))) == ["opt", "opt/app", "opt/app/app.jar"]
    assert list(members(copy(context, tmp_path, "app.jar", dest="lib/", workdir="/srv"))) == ["srv", "srv/lib", "srv/lib/app.jar"]
    assert list(members(copy(context, tmp_path, "app.jar", dest=".", workdir="/srv"))) == ["srv", "srv/app.jar"]
    with pytest.raises(ImageError, match="several sources .* need a directory destination"):
        copy(context, tmp_path, "app.jar", "run.sh", dest="/opt/app")
    files = Files(never)
    files.add(workdir_layer(Workdir("/opt/app"), files=files, epoch=EPOCH, blobs=tmp_path / "blobs"))
    assert files.known_dir("/opt/app") and files.known_dir("/opt") and not files.known_dir("/srv")
    assert list(members(copy(context, tmp_path, "app.jar", dest="/opt/app", files=files))) == ["opt", "opt/app", "opt/app/app.jar"]
    assert list(members(copy(context, tmp_path, "app.jar", "run.sh", dest="/opt/app", files=files))) == ["opt", "opt/app", "opt/app/app.jar", "opt/app/run.sh"]


def test_workdir_layer_is_the_directory_chain(tmp_path: Path) -> None:
    layer = workdir_layer(Workdir("/srv/my/app", text="WORKDIR /srv/my/app"), files=Files(never), epoch=EPOCH, blobs=tmp_path)
    found = members(layer)
    assert list(found) == ["srv", "srv/my", "srv/my/app"]
    assert {(m.isdir(), m.mode, m.uid, m.gid, m.mtime) for m in found.values()} == {(True, 0o755, 0, 0, EPOCH)}
    assert layer.created_by == "WORKDIR /srv/my/app"


# --- owners and modes -------------------------------------------------------------------------------


def test_numeric_chown_and_chmod_never_read_the_base(tmp_path: Path) -> None:
    context = write(tmp_path / "ctx", {"dist/bin/run": "r", "dist/lib/a.jar": "a"})
    found = members(copy(context, tmp_path, "dist", dest="/opt/app/", files=Files(never), chown="1000"))
    assert {n: (m.uid, m.gid) for n, m in found.items()} == {"opt": (0, 0), "opt/app": (1000, 1000), "opt/app/bin": (1000, 1000), "opt/app/bin/run": (1000, 1000), "opt/app/lib": (1000, 1000), "opt/app/lib/a.jar": (1000, 1000)}
    found = members(copy(context, tmp_path, "dist", dest="/opt/app/", files=Files(never), chown="1000:50", chmod="750"))
    assert {n: (m.uid, m.gid, oct(m.mode)) for n, m in found.items() if n.startswith("opt/app/")} == dict.fromkeys(["opt/app/bin", "opt/app/bin/run", "opt/app/lib", "opt/app/lib/a.jar"], (1000, 50, "0o750"))
    assert oct(found["opt"].mode) == "0o755"
    with pytest.raises(ImageError, match="not an octal mode"):
        copy(context, tmp_path, "dist", dest="/opt/", chmod="u+x")


def test_chown_by_name_reads_passwd_and_group_of_the_base_once(tmp_path: Path) -> None:
    base = tar_blob(tmp_path / "base.tar.gz", {"etc": None, "etc/passwd": "root:x:0:0::/root:/bin/sh\napp:x:1001:1002::/app:/bin/sh\n", "etc/group": "root:x:0:\napp:x:1002:\nstaff:x:50:\n"})
    layers = Counting([base])
    files = Files(layers)
    context = write(tmp_path / "ctx", {"app.jar": "jar"})
    assert files.owner("app") == (1001, 1002)
    assert files.owner("app:staff") == (1001, 50) and files.owner("7:staff") == (7, 50) and files.owner("app:9") == (1001, 9)
    found = members(copy(context, tmp_path, "app.jar", dest="/app/", files=files, chown="app:staff"))
    assert (found["app/app.jar"].uid, found["app/app.jar"].gid) == (1001, 50)
    with pytest.raises(ImageError, match="no user 'nobody'"):
        files.owner("nobody")
    with pytest.raises(ImageError, match="no group 'wheel'"):
        files.owner("app:wheel")
    assert layers.calls == 1


# --- ADD and COPY --from -------------------------------------------------------------------------


def test_add_unpacks_a_local_tar_archive_found_by_content(tmp_path: Path) -> None:
    context = tmp_path / "ctx"
    tar_blob(context / "jdk.tar.gz", {"jdk": None, "jdk/bin/java": "java", "jdk/release": "17", "jdk/lib/current": "->../release"})
    tar_blob(context / "plain-archive", {"x/y": "y"}, compress=False)
    write(context, {"notes.tar.gz": "not an archive"})
    layer = copy(context, tmp_path, "jdk.tar.gz", dest="/opt", add=True)
    found = members(layer)
    assert list(found) == ["opt", "opt/jdk", "opt/jdk/bin", "opt/jdk/bin/java", "opt/jdk/lib", "opt/jdk/lib/current", "opt/jdk/release"]
    assert contents(layer)["opt/jdk/bin/java"] == b"java" and found["opt/jdk/lib/current"].linkname == "../release"
    assert {m.mtime for m in found.values()} == {EPOCH}
    assert [n for n in members(copy(context, tmp_path, "plain-archive", dest="/p/", add=True))] == ["p", "p/x", "p/x/y"]
    assert list(members(copy(context, tmp_path, "notes.tar.gz", dest="/n/", add=True))) == ["n", "n/notes.tar.gz"]
    assert list(members(copy(context, tmp_path, "jdk.tar.gz", dest="/opt/"))) == ["opt", "opt/jdk.tar.gz"]  # COPY does not unpack
    write(context, {"app.tar.zst": b"\x28\xb5\x2f\xfd" + bytes(20)})
    with pytest.raises(Unsupported, match="zstd"):  # the builder then leaves the image to an engine
        copy(context, tmp_path, "app.tar.zst", dest="/opt/", add=True)


def test_copy_from_another_stage_sees_its_base_with_whiteouts_and_its_own_layers(tmp_path: Path) -> None:
    bottom = tar_blob(tmp_path / "l1.tar.gz", {"opt": None, "opt/app": None, "opt/app/a.txt": "a", "opt/app/b.txt": "b", "opt/app/old": None, "opt/app/old/x": "x", "opt/current": "->app"})
    top = tar_blob(tmp_path / "l2.tar", {"opt/app/.wh.b.txt": "", "opt/app/old/.wh..wh..opq": "", "opt/app/old/y": "y"}, compress=False)
    builder = Files(Counting([bottom, top]))
    builder.add(copy(write(tmp_path / "ctx", {"built.jar": "jar"}), tmp_path, "built.jar", dest="/opt/app/"))
    layer = copy(tmp_path / "unused", tmp_path, "/opt/current", dest="/srv/", source=builder, files=Files(never))
    assert contents(layer) == {"srv/a.txt": b"a", "srv/built.jar": b"jar", "srv/old/y": b"y"}
    assert {(m.uid, m.gid, m.mtime) for m in members(layer).values()} == {(0, 0, EPOCH)}
    one = copy(tmp_path / "unused", tmp_path, "opt/app/*.txt", dest="/t/", source=builder)
    assert contents(one) == {"t/a.txt": b"a"}
    with pytest.raises(ImageError, match="/opt/app/b.txt is not in the stage"):
        copy(tmp_path / "unused", tmp_path, "/opt/app/b.txt", dest="/t/", source=builder)


# --- refusals and the store ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sources", "match"),
    [
        (("missing.jar",), "missing.jar is not in the build context"),
        (("../outside.txt",), "outside the build context"),
        (("sub/../../outside.txt",), "outside the build context"),
        (("escape",), "leads outside the build context"),
        (("inside/escape-dir/outside.txt",), "leads outside the build context"),
    ],
)
def test_refusals(tmp_path: Path, sources: tuple[str, ...], match: str) -> None:
    write(tmp_path, {"outside.txt": "o"})
    context = write(tmp_path / "ctx", {"app.jar": "a", "inside": None})
    os.symlink("../outside.txt", context / "escape")
    os.symlink(tmp_path, context / "inside/escape-dir")
    with pytest.raises(ImageError, match=match):
        copy(context, tmp_path, *sources, dest="/app/")


def test_a_symlink_source_inside_the_context_is_followed(tmp_path: Path) -> None:
    context = write(tmp_path / "ctx", {"target/app-1.0.jar": "jar"})
    os.symlink("target/app-1.0.jar", context / "app.jar")
    layer = copy(context, tmp_path, "app.jar", dest="/app/")
    assert contents(layer) == {"app/app.jar": b"jar"}


def test_store_blob_is_content_addressed_and_keeps_an_existing_blob(tmp_path: Path) -> None:
    digest, size, path = store_blob(tmp_path, lambda out: out.write(b"hello"))
    assert (digest, size, path.read_bytes()) == ("sha256:" + hashlib.sha256(b"hello").hexdigest(), 5, b"hello")
    before = path.stat().st_ino
    assert store_blob(tmp_path, lambda out: out.write(b"hello")) == (digest, size, path)
    assert path.stat().st_ino == before
    assert [p.name for p in tmp_path.iterdir()] == ["sha256"]  # no temporary file left


def test_directories_the_copy_goes_into_keep_what_this_stage_made_them(tmp_path: Path) -> None:
    context = write(tmp_path / "ctx", {"conf/etc/a.conf": "a", "b.conf": "b", "empty": None})
    files = Files(never)
    files.add(copy(context, tmp_path, "conf", dest="/app/", files=files, chown="1000:1000"))
    assert files.known_dir("/app/etc") and files.known_dir("/app") and not files.known_dir("/app/etc/a.conf")
    found = members(copy(context, tmp_path, "b.conf", dest="/app/etc/", files=files))
    assert {n: (m.uid, m.gid) for n, m in found.items()} == {"app": (1000, 1000), "app/etc": (1000, 1000), "app/etc/b.conf": (0, 0)}  # /app: made by the --chown copy
    assert oct(members(copy(context, tmp_path, "b.conf", dest="/tmp/"))["tmp"].mode) == "0o1777"
    assert list(members(copy(context, tmp_path, "empty", dest="/data"))) == ["data"]


def test_add_keeps_an_archives_owners_and_modes_and_makes_its_hard_links_files(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
        info = tarfile.TarInfo("tool/bin/run")
        info.size, info.mode, info.uid, info.gid, info.mtime = 3, 0o4750, 123, 456, 1
        tar.addfile(info, io.BytesIO(b"run"))
        alias = tarfile.TarInfo("tool/bin/alias")
        alias.type, alias.linkname, alias.mode, alias.uid, alias.gid = tarfile.LNKTYPE, "tool/bin/run", 0o4750, 123, 456
        tar.addfile(alias)
    context = write(tmp_path / "ctx", {"tool.txz": buffer.getvalue()})
    layer = copy(context, tmp_path, "tool.txz", dest="/opt/", add=True)
    found = members(layer)
    assert {n: (m.uid, m.gid, oct(m.mode)) for n, m in found.items() if m.isreg()} == dict.fromkeys(["opt/tool/bin/alias", "opt/tool/bin/run"], (123, 456, "0o4750"))
    assert contents(layer)["opt/tool/bin/alias"] == b"run"
    assert (found["opt/tool"].uid, found["opt"].uid) == (0, 0)  # a directory the archive lacks
    owned = members(copy(context, tmp_path, "tool.txz", dest="/opt/", add=True, chown="7:8", chmod="700"))
    assert {(m.uid, m.gid, oct(m.mode)) for n, m in owned.items() if n.startswith("opt/")} == {(7, 8, "0o700")}
