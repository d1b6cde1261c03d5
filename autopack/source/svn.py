"""Subversion: URL[@REV] with --revision, --branch or --svn-tag of the standard
trunk/branches/tags layout, through pysvn (Debian's python3-svn) or, when that is not
importable, the ``svn`` command line (``AUTOPACK_SVN_BACKEND=pysvn|cli`` forces one).

``svn:externals`` are never followed unless the spec asks (``--svn-externals``), and then
only as ``svn_externals`` allows: checkouts and switches ignore them, so the cache holds
only what the repository itself has.

Speed: one cached working copy per repository root. The first run checks out; later runs
``switch`` it to URL@REV — a switch handles a new branch and a new revision alike — after
one status walk: local changes and unversioned or ignored files (someone's hand in the
cache) are reverted and removed first. The working copy is then copied (``svn_copy``: its
own files, ``.svn`` included, times kept) into the run's own directory under the cache lock:
Maven builds there, never in the cache. The completion marker is removed before the working
copy is touched and written after, so a run killed half-way leaves an entry that the next run
throws away.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from autopack import cache, secrets
from autopack.errors import SourceError, UsageError
from autopack.events import Emit, LogLine
from autopack.source import svn_copy, svn_externals
from autopack.source.base import Checkout, Login, SourceSpec, project_path
from autopack.source.svn_client import TRUST_FINGERPRINT_ENV, Client, SvnFailure, presented_note

BACKEND_ENV = "AUTOPACK_SVN_BACKEND"
USER_ENV, PASSWORD_ENV = "AUTOPACK_SVN_USER", "AUTOPACK_SVN_PASSWORD"
_LAYOUT_TAIL = re.compile(r"/(?:trunk|branches/[^/]+|tags/[^/]+)/*$")
_LAYOUT_PART = re.compile(r"/(trunk|branches/([^/]+)|tags/([^/]+))(?=/|$)")
_WC = "wc"  # the working copy inside the cache entry; the completion marker sits beside it
_NO_EXTERNALS = "no-externals"  # beside it too: the working copy was made without svn:externals

# svn error codes (svn_error_codes.h, APR)
_AUTH = {170001, 215004}  # RA_NOT_AUTHORIZED, AUTHN_NO_PROVIDER / credentials exhausted
_NO_REVISION = {160006}  # FS_NO_SUCH_REVISION
_NO_PATH = {170000, 160013, 200009, 195012, 210005}  # RA_ILLEGAL_URL, FS_NOT_FOUND, ILLEGAL_TARGET, …
_UNREACHABLE = {170013, 210002, 670002, 670008, 111, 113, 110}  # can't connect, DNS, refused, timed out
_UNTRUSTED = {230001}  # RA_SERF_SSL_CERT_UNTRUSTED: the server's certificate failed verification


def checkout(spec: SourceSpec, dest: Path, emit: Emit) -> Checkout:
    open_client = _backend()
    url, revision = resolve(spec)
    login = spec.login or _login_from_url(spec.location) or login_from_env(os.environ)
    if login is not None:
        secrets.register(login.password)
    shown = f"{url}@{revision}"
    client: Client = open_client(login, emit)
    try:
        try:
            target = client.info(url, revision)
        except SvnFailure as e:
            raise _source_error(e, shown, login) from e
        if target.kind != "dir":
            raise SourceError(f"{url} is a file in the svn repository, not a project directory", "give the URL of the directory holding pom.xml")
        number = target.revision
        shown = f"{url}@{number}"
        with cache.entry(cache.key_for("svn", target.repos_root)) as entry:
            wc = entry.path / _WC
            # A working copy checked out before externals were ignored may hold some: not reused.
            how = "switch" if entry.complete and (wc / ".svn").is_dir() and (entry.path / _NO_EXTERNALS).is_file() else "checkout"
            entry.invalidate()
            try:
                if how == "switch":
                    emit(LogLine("source", f"switching cached working copy to {shown}", "info"))
                    try:
                        # Maven never runs here and a run killed half-way leaves no marker, so a
                        # complete entry is as clean as the last run left it, unless someone
                        # changed it by hand: one status walk tells, and only then is it cleaned
                        # (before the switch, so that local changes cannot conflict with it). A
                        # switch of a clean working copy leaves it clean: nothing to do after.
                        if not client.is_clean(wc):
                            client.clean(wc)
                        client.switch(wc, url, number)
                    except SvnFailure as e:
                        if _server_said_no(e):
                            raise
                        # The working copy itself is broken (not the server's answer): start over.
                        emit(LogLine("source", f"the cached working copy could not be switched ({secrets.redact(str(e))}); checking out afresh", "warning"))
                        how = "checkout"
                if how == "checkout":
                    emit(LogLine("source", f"svn checkout of {shown} into the cache", "info"))
                    entry.discard()
                    entry.path.mkdir(parents=True)
                    client.checkout(url, number, wc)
                    (entry.path / _NO_EXTERNALS).write_text("checked out with --ignore-externals\n")
                facts = client.wc_info(wc)
                definitions = svn_externals.read(client, wc)
            except SvnFailure as e:
                raise _source_error(e, shown, login) from e
            entry.mark_complete()
            svn_copy.copy(wc, dest, frozenset() if spec.working_copy else frozenset({".svn"}))
        # Into the run's own tree, not the cache (which holds only what the repository has).
        if definitions and spec.svn_externals:
            try:
                svn_externals.follow(client, dest, facts, definitions, emit)
            except SvnFailure as e:
                raise _source_error(e, f"an svn:externals of {shown}", login) from e
        elif definitions:
            where = ", ".join(f"'{d}'" for d in sorted(definitions))
            emit(LogLine("source", f"svn:externals of {where} not followed (--svn-externals follows those on the source's own server)", "info"))
    finally:
        client.close()
    repository_path = "/" + unquote(facts.url[len(facts.repos_root) :]).strip("/") if facts.url.startswith(facts.repos_root) else None
    ref, branch = layout_names(repository_path or "")
    path = project_path(dest, spec.subdir)
    if not path.is_dir():
        raise SourceError(f"{shown} has no directory '{spec.subdir}'", "check --subdir")
    return Checkout(
        path=path,
        kind="svn",
        url=secrets.strip_url_credentials(facts.url),
        ref=ref,
        revision=str(facts.revision),
        short_revision=f"r{facts.revision}",
        branch=branch,
        author=facts.author,
        committed_at=facts.committed_at,
        repository_path=repository_path,
        last_changed_revision=str(facts.last_changed_revision) if facts.last_changed_revision is not None else None,
        cache=how,
    )


def resolve(spec: SourceSpec) -> tuple[str, str]:
    """(URL without credentials or ``@REV``, with the branch or tag applied; revision)."""
    location = secrets.strip_url_credentials(spec.location)
    parts = urlsplit(location)
    peg = None
    if "@" in parts.path:
        path, _, peg = parts.path.rpartition("@")
        if not re.fullmatch(r"HEAD|\d+", peg, re.IGNORECASE):
            raise UsageError(f"'{peg}' in {location} is not an svn revision", "write URL@NUMBER or URL@HEAD")
        location = location[: len(location) - len(peg) - 1]
    revision = spec.revision
    if peg is not None and revision is not None and peg.upper() != revision.upper():
        raise UsageError(f"{location}@{peg} and --revision {revision} disagree", "give the revision once")
    revision = (revision or peg or "HEAD").upper()
    if spec.branch and spec.svn_tag:
        raise UsageError("--branch and --svn-tag both given", "choose one")
    url = location.rstrip("/")
    if spec.branch or spec.svn_tag:
        base = _LAYOUT_TAIL.sub("", url)
        url = f"{base}/branches/{spec.branch}" if spec.branch else f"{base}/tags/{spec.svn_tag}"
    return url, revision


def layout_names(repository_path: str) -> tuple[str | None, str | None]:
    """``/trunk`` → (trunk, trunk); ``/x/branches/b/sub`` → (branches/b, b); else (None, None)."""
    found = list(_LAYOUT_PART.finditer(repository_path))
    if not found:
        return None, None
    m = found[-1]
    return m[1], m[2] or m[3] or "trunk"


def login_from_env(environ) -> Login | None:
    user, password = environ.get(USER_ENV), environ.get(PASSWORD_ENV)
    if user and password:
        secrets.register(password)
        return Login(user, password, f"{USER_ENV}/{PASSWORD_ENV}")
    return None


def _login_from_url(location: str) -> Login | None:
    parts = urlsplit(location)
    if parts.username and parts.password:
        secrets.register(parts.password)
        return Login(unquote(parts.username), unquote(parts.password), "the URL")
    return None


def _backend():
    """The client class: pysvn when importable, else the svn command line."""
    wanted = os.environ.get(BACKEND_ENV, "").strip().lower()
    if wanted not in ("", "pysvn", "cli"):
        raise UsageError(f"{BACKEND_ENV}={wanted} is not an svn backend", "use pysvn or cli (or leave it unset)")
    if wanted in ("", "pysvn"):
        try:
            from autopack.source import svn_pysvn
        except ImportError as e:
            if wanted == "pysvn":
                raise UsageError(f"{BACKEND_ENV}=pysvn but pysvn cannot be imported ({e})", "install Debian's python3-svn (never the PyPI package 'pysvn'), or use cli") from e
        else:
            return svn_pysvn.Client
    from autopack.source import svn_cli

    return svn_cli.Client


def _server_said_no(e: SvnFailure) -> bool:
    codes = {code for code, _ in e.errors}
    return e.login_refused or bool(codes & (_AUTH | _NO_REVISION | _NO_PATH | _UNREACHABLE | _UNTRUSTED))


def _source_error(e: SvnFailure, shown: str, login: Login | None) -> SourceError:
    codes = {code for code, _ in e.errors}
    detail = secrets.redact(str(e).replace("\n", " ")) or "svn failed"
    if e.login_refused or codes & _AUTH:
        if login is None:
            return SourceError(f"the svn server refused anonymous access to {shown}", f"set {USER_ENV} and {PASSWORD_ENV}, or --svn-user with --svn-password-file")
        return SourceError(
            f"the svn server refused the login of '{login.username}' (from {login.origin or 'the caller'}) for {shown}",
            f"check {USER_ENV}/{PASSWORD_ENV} or --svn-password-file",
        )
    if codes & _NO_REVISION:
        message = next(m for c, m in e.errors if c in _NO_REVISION)
        return SourceError(f"{secrets.redact(message)} in the repository of {shown}", "give a revision that exists (svn log shows them)")
    if codes & _NO_PATH:
        return SourceError(f"{shown} does not exist in the svn repository ({detail})", "check the URL, --branch or --svn-tag and --revision")
    if codes & _UNTRUSTED or "certificate verification failed" in detail:
        return SourceError(
            f"the svn server's certificate for {shown} is not trusted: {detail}",
            f"add its CA to the system's trust store, or set {TRUST_FINGERPRINT_ENV} to its SHA-1 fingerprint{presented_note(shown)}",
        )
    if codes & _UNREACHABLE:
        return SourceError(f"cannot reach the svn server for {shown}: {detail}", "check the URL and that the server is up and reachable")
    return SourceError(f"svn failed for {shown}: {detail}", "see the svn message; the source stage's log has every line")
