"""A git repository at a ref, with the git command line (every child through ``git_cli``,
and so through ``autopack.process``).

Every remote gets a bare mirror in the cache (``clone --mirror`` once, ``fetch --prune``
after), and each run gets its own work tree cloned from that mirror — a local clone, which
hardlinks the objects instead of copying them — with ``origin`` pointing back at the real
remote. ``--shallow`` without a mirror fetches just the ref, at depth 1, straight into the
work tree, and leaves the cache alone. Credentials and the environment are in ``git_auth``;
what makes a cached mirror trusted, in ``git_mirror``.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from autopack import cache, process
from autopack.errors import SourceError
from autopack.events import Emit, LogLine
from autopack.source import git_auth, git_cli, git_mirror, safety
from autopack.source.base import Checkout, Login, SourceSpec, project_path

_HEX = re.compile(r"[0-9a-f]{4,64}")
_FULL_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_REVIEW_REF = re.compile(r"refs/(merge-requests|pull)/(\d+)/head")
_COMMIT = git_cli.field_format(sha="%H", author="%an", committed_at="%cI", subject="%s")


@dataclass(frozen=True)
class _Target:
    sha: str
    ref: str  # what was asked for, or the default branch
    branch: str | None  # branch or tag name; None for a bare commit


def checkout(spec: SourceSpec, dest: Path, emit: Emit) -> Checkout:
    safety.check(spec)
    url, login = git_auth.remote(spec)
    key = cache.key_for("git", url)
    try:
        if spec.shallow and not _has_mirror(key):
            target = _shallow(spec.ref, url, login, dest, emit)
            if target is not None:
                return _result(spec, url, dest, target, "shallow", emit)
            emit(LogLine("source", f"'{spec.ref}' cannot be fetched alone: using the cached mirror", "info"))
        with cache.entry(key) as entry:  # held while fetching and while cloning from the mirror
            how = _update_mirror(entry, url, login, spec.ref is None, emit)
            target = _resolve(entry.path, spec.ref, url)
            _work_tree(entry.path, dest, url, target.sha)
        return _result(spec, url, dest, target, how, emit)
    except process.ProcessFailed as e:
        raise git_auth.translate(e, url, login, "checking out") from e


def _has_mirror(key: str) -> bool:
    with cache.entry(key) as entry:
        return entry.complete


def _update_mirror(entry: cache.Entry, url: str, login: Login | None, want_head: bool, emit: Emit) -> str:
    if entry.complete:
        # No invalidate() here. A killed fetch leaves a valid repository by git's design:
        # a pack is renamed into place only once complete, and a ref moves only after the
        # objects it names are stored; at worst some refs are old, and this fetch fixes
        # them. What such a kill does leave is a stale *.lock (git removes its lock files
        # on exit, not on SIGKILL) that would fail every later fetch; we hold the entry's
        # lock and every writer of the mirror holds it, so any lock file is stale.
        _remove_stale_locks(entry.path)
        if reason := git_mirror.changed(entry.path, url):
            emit(LogLine("source", f"the cached mirror of {url} was changed outside autopack ({reason}); cloning it again", "warning"))
            entry.discard()
        else:
            emit(LogLine("source", f"fetching into cached mirror of {url}", "info"))
            try:
                # The URL itself, not "origin": the mirror's config picks nothing.
                git_cli.run("fetch", "--progress", "--prune", "--", url, git_mirror.REFSPEC, git_dir=entry.path, login=login, emit=emit, progress=True)
                if want_head:
                    _follow_remote_head(entry.path, url, login)
                return "fetch"
            except process.ProcessFailed as e:
                if git_auth.is_remote_failure(e):
                    raise git_auth.translate(e, url, login, "fetching") from e
                # The server is fine and our copy is not (disk full, corruption): start over.
                emit(LogLine("source", f"the cached mirror of {url} is damaged ({git_auth.translate(e, url, login, 'fetching').message}); cloning it again", "warning"))
                entry.discard()
    emit(LogLine("source", f"cloning mirror of {url}", "info"))
    with cache.staging(entry.path) as tmp:
        try:
            git_cli.run("clone", "--mirror", "--progress", "--", url, str(tmp), cwd=tmp, login=login, emit=emit, progress=True)
        except process.ProcessFailed as e:
            raise git_auth.translate(e, url, login, "cloning") from e
        object_format = git_cli.value(git_cli.run("rev-parse", "--show-object-format", git_dir=tmp)) or "sha1"
        git_mirror.seal(tmp, url, object_format)
    entry.mark_complete()  # last: a kill before this line leaves an entry that is thrown away
    return "clone"


def _follow_remote_head(mirror: Path, url: str, login: Login | None) -> None:
    """``fetch`` never moves a mirror's HEAD; follow the remote when its default branch changed."""
    listing = git_cli.run("ls-remote", "--symref", "--", url, "HEAD", git_dir=mirror, login=login)
    for line in listing.lines:
        if line.startswith("ref: refs/heads/") and line.endswith("\tHEAD"):
            head = line[len("ref: ") : -len("\tHEAD")]
            if safety.valid_ref(head) and _rev_parse(mirror, head):
                git_cli.run("symbolic-ref", "HEAD", head, git_dir=mirror)


def _resolve(mirror: Path, ref: str | None, url: str) -> _Target:
    if ref is None:
        branch = git_cli.value(git_cli.run("symbolic-ref", "HEAD", git_dir=mirror), "refs/heads/")
        sha = _rev_parse(mirror, f"refs/heads/{branch}") if branch else None
        if branch is None or sha is None:
            raise SourceError(f"{url} has no commits on its default branch", "push a commit, or give --ref")
        return _Target(sha, branch, branch)
    candidates: list[tuple[str, str | None]]
    if ref.startswith("refs/"):
        candidates = [(ref, _short_name(ref))]
    else:
        candidates = [(f"refs/heads/{ref}", ref), (f"refs/tags/{ref}", ref)]
        if _HEX.fullmatch(ref):
            candidates.append((ref, None))
    for name, branch in candidates:
        if sha := _rev_parse(mirror, name):
            return _Target(sha, ref, branch)
    raise _unknown_ref(ref, url, mirror)


def _rev_parse(git_dir: Path, name: str) -> str | None:
    found = git_cli.run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{name}^{{commit}}", git_dir=git_dir, check=False)
    sha = git_cli.value(found) if found.returncode == 0 else None
    return sha if sha and _FULL_SHA.fullmatch(sha) else None


def _unknown_ref(ref: str, url: str, mirror: Path | None = None) -> SourceError:
    known = ""
    if mirror is not None:
        names = [line for kind in ("refs/heads", "refs/tags") for line in git_cli.run("for-each-ref", "--count=8", "--format=%(refname:short)", kind, git_dir=mirror).lines]
        known = f"; it has {', '.join(names)}" if names else ""
    return SourceError(
        f"no branch, tag or commit '{ref}' in {url}",
        f"give a branch or tag name, a full ref (refs/merge-requests/1/head) or a unique commit sha{known}",
    )


def _short_name(full_ref: str) -> str:
    if m := _REVIEW_REF.fullmatch(full_ref):
        return f"{m[1]}/{m[2]}"
    for prefix in ("refs/heads/", "refs/tags/", "refs/"):
        if full_ref.startswith(prefix):
            return full_ref[len(prefix) :]
    return full_ref


def _work_tree(mirror: Path, dest: Path, url: str, sha: str) -> None:
    # A plain path (not --local, which fails across filesystems instead of copying):
    # objects are hardlinked when dest is on the mirror's filesystem, copied otherwise.
    git_cli.run("clone", "--quiet", "--no-checkout", "--", str(mirror), str(dest), cwd=dest)
    git_cli.run("config", "remote.origin.url", url, cwd=dest)
    git_cli.run("checkout", "--quiet", "--detach", sha, "--", cwd=dest)


def _shallow(ref: str | None, url: str, login: Login | None, dest: Path, emit: Emit) -> _Target | None:
    """Fetch ``ref`` alone, at depth 1, straight into ``dest`` (no temporary repository to
    copy from and discard). None, with ``dest`` left empty, when ``ref`` is a short sha
    (which a server cannot be asked for) or a commit that the server will not send alone."""
    emit(LogLine("source", f"shallow fetch of {ref or 'the default branch'} from {url}", "info"))
    if ref is not None and _FULL_SHA.fullmatch(ref):
        want, target = ref, _Target("", ref, None)
    else:
        patterns = ["HEAD"] if ref is None else [ref] if ref.startswith("refs/") else [f"refs/heads/{ref}", f"refs/tags/{ref}"]
        try:
            listing = git_cli.run("ls-remote", "--symref", "--", url, *patterns, cwd=dest, login=login)
        except process.ProcessFailed as e:
            raise git_auth.translate(e, url, login, "listing") from e
        lines = [line.split("\t", 1) for line in listing.lines if "\t" in line]
        found = {name for _, name in lines}
        if ref is None:
            want = next((value.removeprefix("ref: ") for value, name in lines if name == "HEAD" and value.startswith("ref: ")), "")
            if not want.startswith("refs/heads/") or not safety.valid_ref(want):
                raise SourceError(f"{url} names no default branch", "give --ref")
            target = _Target("", _short_name(want), _short_name(want))
        else:
            want = next((p for p in patterns if p in found), "")
            if not want:
                if _HEX.fullmatch(ref):
                    return None
                raise _unknown_ref(ref, url)
            target = _Target("", ref, _short_name(want))
    git_cli.run("init", "--quiet", cwd=dest)
    git_cli.run("config", "remote.origin.url", url, cwd=dest)
    git_cli.run("config", "remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*", cwd=dest)
    try:
        git_cli.run("fetch", "--progress", "--depth=1", "--no-tags", "--", "origin", want, cwd=dest, login=login, emit=emit, progress=True)
    except process.ProcessFailed as e:
        if target.branch is None and not git_auth.is_remote_failure(e):
            # A server may refuse a commit that no ref names (uploadpack.allowAnySHA1InWant
            # off, protocol v0): the mirror has the full history and can tell.
            _empty(dest)
            return None
        raise git_auth.translate(e, url, login, "fetching") from e
    sha = _rev_parse(dest / ".git", "FETCH_HEAD")
    if sha is None:
        raise SourceError(f"fetching {want} from {url} gave no commit", "check the ref")
    git_cli.run("checkout", "--quiet", "--detach", sha, "--", cwd=dest)
    return _Target(sha, target.ref, target.branch)


def _result(spec: SourceSpec, url: str, dest: Path, target: _Target, how: str, emit: Emit) -> Checkout:
    commit = git_cli.fields(git_cli.run("log", "-1", "--no-show-signature", f"--format={_COMMIT}", target.sha, "--", cwd=dest), ("author", "committed_at", "subject"))
    path = project_path(dest, spec.subdir)
    if not path.is_dir():
        raise SourceError(f"no folder '{spec.subdir}' in {url} at {target.sha[:8]}", "check --subdir against the repository's layout")
    emit(LogLine("source", f"checked out {target.sha[:8]} ({target.branch or 'detached'}): {commit.get('subject', '')}", "info"))
    return Checkout(
        path=path,
        kind="git",
        url=url,
        ref=target.ref,
        revision=target.sha,
        short_revision=target.sha[:8],
        branch=target.branch,
        author=commit.get("author"),
        committed_at=commit.get("committed_at"),
        cache=how,
    )


def _remove_stale_locks(repo: Path) -> None:
    for lock in repo.rglob("*.lock"):  # git refuses ref names ending in .lock: these are all locks
        if lock.is_file() or lock.is_symlink():
            lock.unlink(missing_ok=True)


def _empty(directory: Path) -> None:
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
