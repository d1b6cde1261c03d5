"""A git repository at a ref, through GitPython.

Every remote gets a bare mirror in the cache (``clone --mirror`` once, ``fetch --prune``
after), and each run gets its own work tree cloned from that mirror — a local clone, which
hardlinks the objects instead of copying them — with ``origin`` pointing back at the real
remote. ``--shallow`` without a mirror fetches just the ref, at depth 1, straight into the
work tree, and leaves the cache alone. Credentials and the environment are in ``git_auth``.
"""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import git

from autopack import cache, secrets
from autopack.errors import SourceError
from autopack.events import Emit, LogLine
from autopack.source import git_auth, safety
from autopack.source.base import Checkout, Login, SourceSpec, project_path
from autopack.source.git_progress import GitProgress

_HEX = re.compile(r"[0-9a-f]{4,64}")
_FULL_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_REVIEW_REF = re.compile(r"refs/(merge-requests|pull)/(\d+)/head")

# GitPython logs a failed fetch's stderr as a warning; without a handler Python would print
# it on stderr, past the renderers. The error reaches the user as a SourceError instead.
logging.getLogger("git").addHandler(logging.NullHandler())


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
            mirror = _open(entry.path)
            target = _resolve(mirror, spec.ref, url)
            _work_tree(entry.path, dest, url, target.sha)
        return _result(spec, url, dest, target, how, emit)
    except (git.exc.UnsafeProtocolError, git.exc.UnsafeOptionError) as e:
        raise SourceError(secrets.redact(f"refusing {url}: {e}"), "give a plain https://, ssh:// or file:// URL") from e
    except git.GitCommandError as e:
        raise git_auth.translate(e, url, login, "checking out") from e


def _has_mirror(key: str) -> bool:
    with cache.entry(key) as entry:
        return entry.complete


def _update_mirror(entry: cache.Entry, url: str, login: Login | None, want_head: bool, emit: Emit) -> str:
    if entry.complete:
        emit(LogLine("source", f"fetching into cached mirror of {url}", "info"))
        # No invalidate() here. A killed fetch leaves a valid repository by git's design:
        # a pack is renamed into place only once complete, and a ref moves only after the
        # objects it names are stored; at worst some refs are old, and this fetch fixes
        # them. What such a kill does leave is a stale *.lock (git removes its lock files
        # on exit, not on SIGKILL) that would fail every later fetch; we hold the entry's
        # lock and every writer of the mirror holds it, so any lock file is stale.
        _remove_stale_locks(entry.path)
        try:
            mirror = _open(entry.path)
            with mirror.git.custom_environment(**git_auth.environment(login)):
                mirror.remotes.origin.fetch(progress=GitProgress(emit), prune=True)
                if want_head:
                    _follow_remote_head(mirror)
            return "fetch"
        except (git.GitCommandError, git.InvalidGitRepositoryError, git.NoSuchPathError) as e:
            if isinstance(e, git.GitCommandError) and git_auth.is_remote_failure(e):
                raise git_auth.translate(e, url, login, "fetching") from e
            # The server is fine and our copy is not (disk full, corruption): start over.
            emit(LogLine("source", f"the cached mirror of {url} is damaged ({type(e).__name__}); cloning it again", "warning"))
            entry.discard()
    emit(LogLine("source", f"cloning mirror of {url}", "info"))
    with cache.staging(entry.path) as tmp:
        progress = GitProgress(emit)
        try:
            git.Repo.clone_from(url, tmp, progress=progress, env=git_auth.environment(login), mirror=True)  # type: ignore[arg-type]  # a RemoteProgress, which GitPython's hints leave out
        except git.GitCommandError as e:
            e.stderr = e.stderr or "\n".join(progress.error_lines)  # clone's stderr went to the progress parser
            raise git_auth.translate(e, url, login, "cloning") from e
    entry.mark_complete()  # last: a kill before this line leaves an entry that is thrown away
    return "clone"


def _follow_remote_head(mirror: git.Repo) -> None:
    """``fetch`` never moves a mirror's HEAD; follow the remote when its default branch changed."""
    for line in str(mirror.git.ls_remote("--symref", "origin", "HEAD")).splitlines():
        if line.startswith("ref: refs/heads/") and line.endswith("\tHEAD"):
            head = line[len("ref: ") : -len("\tHEAD")]
            if _rev_parse(mirror, head):
                mirror.git.symbolic_ref("HEAD", head)


def _resolve(mirror: git.Repo, ref: str | None, url: str) -> _Target:
    if ref is None:
        head = mirror.git.symbolic_ref("HEAD")
        sha = _rev_parse(mirror, head)
        if sha is None:
            raise SourceError(f"{url} has no commits on its default branch", "push a commit, or give --ref")
        return _Target(sha, _short_name(head), _short_name(head))
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


def _rev_parse(repo: git.Repo, name: str) -> str | None:
    try:
        return repo.git.rev_parse("--verify", "--quiet", "--end-of-options", f"{name}^{{commit}}") or None
    except git.GitCommandError:
        return None


def _unknown_ref(ref: str, url: str, repo: git.Repo | None = None) -> SourceError:
    known = ""
    if repo is not None:
        names = [r.name for r in repo.heads][:8] + [t.name for t in repo.tags][:8]
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
    env = git_auth.environment()
    repo = git.Repo.clone_from(str(mirror), dest, env=env, no_checkout=True)
    repo.git.update_environment(**env)
    with repo.config_writer() as config:
        config.set_value('remote "origin"', "url", url)
    repo.git.checkout("--detach", sha)


def _shallow(ref: str | None, url: str, login: Login | None, dest: Path, emit: Emit) -> _Target | None:
    """Fetch ``ref`` alone, at depth 1, straight into ``dest`` (no temporary repository to
    copy from and discard). None, with ``dest`` left empty, when ``ref`` is a short sha
    (which a server cannot be asked for) or a commit that the server will not send alone."""
    emit(LogLine("source", f"shallow fetch of {ref or 'the default branch'} from {url}", "info"))
    network = git_auth.environment(login)
    if ref is not None and _FULL_SHA.fullmatch(ref):
        want, target = ref, _Target("", ref, None)
    else:
        patterns = ["HEAD"] if ref is None else [ref] if ref.startswith("refs/") else [f"refs/heads/{ref}", f"refs/tags/{ref}"]
        try:
            listing = str(git.Git(str(dest)).ls_remote("--symref", "--", url, *patterns, env=network))
        except git.GitCommandError as e:
            raise git_auth.translate(e, url, login, "listing") from e
        lines = [line.split("\t", 1) for line in listing.splitlines() if "\t" in line]
        found = {name for _, name in lines}
        if ref is None:
            want = next((value.removeprefix("ref: ") for value, name in lines if name == "HEAD" and value.startswith("ref: ")), "")
            if not want.startswith("refs/heads/"):
                raise SourceError(f"{url} names no default branch", "give --ref")
            target = _Target("", _short_name(want), _short_name(want))
        else:
            want = next((p for p in patterns if p in found), "")
            if not want:
                if _HEX.fullmatch(ref):
                    return None
                raise _unknown_ref(ref, url)
            target = _Target("", ref, _short_name(want))
    repo = git.Repo.init(dest)
    repo.git.update_environment(**git_auth.environment())
    origin = repo.create_remote("origin", url)
    try:
        with repo.git.custom_environment(**network):
            origin.fetch(want, progress=GitProgress(emit), depth=1, no_tags=True)
    except git.GitCommandError as e:
        if target.branch is None and not git_auth.is_remote_failure(e):
            # A server may refuse a commit that no ref names (uploadpack.allowAnySHA1InWant
            # off, protocol v0): the mirror has the full history and can tell.
            _empty(dest)
            return None
        raise git_auth.translate(e, url, login, "fetching") from e
    sha = repo.git.rev_parse("--verify", "FETCH_HEAD^{commit}")
    repo.git.checkout("--detach", sha)
    return _Target(sha, target.ref, target.branch)


def _result(spec: SourceSpec, url: str, dest: Path, target: _Target, how: str, emit: Emit) -> Checkout:
    repo = _open(dest)
    commit = repo.commit(target.sha)
    path = project_path(dest, spec.subdir)
    if not path.is_dir():
        raise SourceError(f"no folder '{spec.subdir}' in {url} at {target.sha[:8]}", "check --subdir against the repository's layout")
    emit(LogLine("source", f"checked out {target.sha[:8]} ({target.branch or 'detached'}): {commit.summary!s}", "info"))
    return Checkout(
        path=path,
        kind="git",
        url=url,
        ref=target.ref,
        revision=target.sha,
        short_revision=target.sha[:8],
        branch=target.branch,
        author=commit.author.name,
        committed_at=commit.committed_datetime.isoformat(),
        cache=how,
    )


def _open(path: Path) -> git.Repo:
    repo = git.Repo(path)
    repo.git.update_environment(**git_auth.environment())
    return repo


def _remove_stale_locks(repo: Path) -> None:
    for lock in repo.rglob("*.lock"):  # git refuses ref names ending in .lock: these are all locks
        lock.unlink(missing_ok=True)


def _empty(directory: Path) -> None:
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
