"""Source backends behind one interface: which one a source needs is decided here, once.

``resolve`` turns what the user typed (a path, a URL, a ``gitlab:`` shorthand, ``--vcs``)
into a ``SourceSpec`` with its ``kind``; ``checkout`` hands it to that kind's backend.
"""

from __future__ import annotations

import re
from base64 import b64encode
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from autopack import secrets
from autopack.errors import SourceError, UsageError
from autopack.events import Emit, LogLine
from autopack.source import gitlab, safety
from autopack.source.base import Checkout, Login, Source, SourceSpec
from autopack.source.svn_client import TRUST_FINGERPRINT_ENV, presented_note

if TYPE_CHECKING:
    import urllib.request

KINDS = ("local", "git", "svn")  # one backend module each, behind base.Source

# URL scheme → kind; None: the scheme alone does not tell (asked of the server or the disk).
SCHEMES: dict[str, str | None] = {
    "git": "git",
    "ssh": "git",
    "git+ssh": "git",
    "git+https": "git",
    "git+http": "git",
    "svn": "svn",
    "svn+ssh": "svn",
    "svn+https": "svn",
    "svn+http": "svn",
    "http": None,
    "https": None,
    "file": None,
}
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:(?!//)")
_SVN_PEG = re.compile(r"@(HEAD|\d+)$", re.IGNORECASE)


def resolve(
    location: str,
    *,
    vcs: str | None = None,
    ref: str | None = None,
    revision: str | None = None,
    branch: str | None = None,
    svn_tag: str | None = None,
    subdir: str | None = None,
    shallow: bool = False,
    svn_externals: bool = False,
    gitlab_url: str | None = None,
    login: Login | None = None,
    environ: Mapping[str, str],
    emit: Emit,
) -> SourceSpec:
    """Decide the backend for ``location`` and return the spec it will check out."""
    if vcs is not None and vcs not in KINDS:
        raise UsageError(f"--vcs '{vcs}' is not a known kind", "use one of: " + ", ".join(KINDS))
    safety.check(SourceSpec(location, ref=ref, revision=revision, branch=branch, svn_tag=svn_tag, subdir=subdir))
    kind = vcs
    if location.startswith(gitlab.PREFIX):
        location, shorthand_ref = gitlab.expand(location, gitlab.server_url(gitlab_url, environ))
        ref, kind = ref or shorthand_ref, "git"
    elif _SCP_LIKE.match(location):
        kind = kind or "git"
    else:
        scheme = urlsplit(location).scheme.lower() if "://" in location else ""
        if scheme.startswith(("git+http", "svn+http")):
            kind, location = kind or scheme[:3], location[4:]
        elif scheme and scheme not in SCHEMES:
            known = ", ".join(f"{s}://" for s in SCHEMES) + ", gitlab:group/project, or a local path"
            raise UsageError(f"unsupported source '{location}'", f"use one of {known}")
        elif not kind and scheme in ("http", "https") and urlsplit(location).path.rstrip("/").endswith(".git"):
            kind = "git"
        elif not kind:
            kind = SCHEMES.get(scheme) or _detect(location, scheme, environ, gitlab_url, login, emit)
    if kind == "git" and branch and not ref:
        ref, branch = f"refs/heads/{branch}", None
    if kind == "svn" and (m := _SVN_PEG.search(urlsplit(location).path)):
        peg = m[1].upper()
        if revision and revision.upper() != peg:
            raise UsageError(f"{location} names revision {peg} but --revision says {revision}", "give the revision once")
        revision, location = peg, location[: -len(m[0])]
        if _SVN_PEG.search(urlsplit(location).path):
            raise UsageError(f"{location}@{peg} names two revisions", "give one revision: URL@REV, or --revision")
    spec = SourceSpec(location, kind, ref, revision, branch, svn_tag, subdir, shallow, login, svn_externals=svn_externals and kind == "svn")
    safety.check(spec)
    unused = {"--ref": ref if kind == "svn" else None, "--revision/--svn-tag": revision or svn_tag if kind == "git" else None}
    for option, value in unused.items():
        if value:
            raise UsageError(f"{option} does not apply to a {kind} source", "use --ref for git, --revision/--branch/--svn-tag for svn")
    if kind == "local" and (ref or revision or branch or svn_tag):
        raise UsageError(f"{location} is a local directory: it has no refs or revisions", "check out the wanted version first, or give a repository URL")
    if kind == "local":
        _expanded(Path(location.removeprefix("file://")))  # as source/local.py reads it
    return spec


def checkout(spec: SourceSpec, dest: Path, emit: Emit) -> Checkout:
    safety.check(spec)
    return backend(spec.kind).checkout(spec, dest, emit)


def backend(kind: str) -> Source:
    """The module for ``kind``, imported on first use (pysvn and GitPython cost start-up
    time); each is checked against ``Source`` by the type checker."""
    if kind == "git":
        from autopack.source import git

        return git
    if kind == "svn":
        from autopack.source import svn

        return svn
    from autopack.source import local

    return local


def _detect(location: str, scheme: str, environ: Mapping[str, str], gitlab_url: str | None, login: Login | None, emit: Emit) -> str:
    if scheme in ("", "file"):
        path = _expanded(Path(urlsplit(location).path if scheme else location))
        try:
            return _detect_on_disk(path)
        except OSError as e:  # a name too long for the file system, a directory it may not read
            raise SourceError(f"cannot look at {path}: {e.strerror or e}", "give the path of a directory that exists") from None
    kind = _ask_server(location, environ, gitlab_url, login)
    emit(LogLine("source", f"{secrets.strip_url_credentials(location)} answers as a {kind} server", "info"))
    return kind


def _expanded(path: Path) -> Path:
    """``path`` with ``~`` / ``~user`` expanded; a user that does not exist is a usage error."""
    try:
        return path.expanduser()
    except RuntimeError:
        raise UsageError(f"'{path}' starts with the home directory of a user that does not exist", "write the path without '~user', or name a user of this machine") from None


def _detect_on_disk(path: Path) -> str:
    """A directory is local unless it is a repository itself: an svn repository (file://
    URLs point inside one, so look up for its ``format`` + ``db``) or a bare git repo."""
    if (path / "HEAD").is_file() and (path / "objects").is_dir():
        return "git"
    for candidate in (path, *path.parents):
        if (candidate / "format").is_file() and (candidate / "db").is_dir():
            return "svn"
        if candidate.exists():
            break
    return "local"


def _ask_server(url: str, environ: Mapping[str, str], gitlab_url: str | None, login: Login | None) -> str:
    """One cheap request each: git's smart-HTTP ref advertisement, then svn's DAV OPTIONS."""
    import ssl  # here, not at the top: every command imports this package, few ask a server

    git_login = gitlab.login_for(url, environ, gitlab.server_url(gitlab_url, environ))
    try:
        answer = _request(url.rstrip("/") + "/info/refs?service=git-upload-pack", "GET", git_login)
    except ssl.SSLCertVerificationError:
        raise _untrusted(url) from None  # nothing was sent: the handshake failed first
    if answer and answer.get("content-type", "").startswith("application/x-git-upload-pack-advertisement"):
        return "git"
    answer = _request(url, "OPTIONS", login)
    if answer and (any(h.startswith("svn-") for h in answer) or "svn" in answer.get("dav", "")):
        return "svn"
    raise UsageError(
        f"cannot tell whether {secrets.strip_url_credentials(url)} is a git or an svn repository",
        "add --vcs git or --vcs svn (or write the URL as git+https://… / svn+https://…, or end it in .git)",
    )


def _same_origin_opener() -> urllib.request.OpenerDirector:
    """urllib's redirect handler copies every header, Authorization too, to wherever the
    server redirects; this opener's keeps it only while scheme, host and port stay the same."""
    import urllib.request

    class SameOriginRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            new = super().redirect_request(req, fp, code, msg, headers, newurl)
            if new is not None and not secrets.same_origin(new.full_url, req.full_url):
                new.remove_header("Authorization")
            return new

    return urllib.request.build_opener(SameOriginRedirects)


def _request(url: str, method: str, login: Login | None) -> dict[str, str] | None:
    import ssl
    import urllib.error
    import urllib.request

    request = urllib.request.Request(secrets.strip_url_credentials(url), method=method)
    if login:
        token = b64encode(f"{login.username}:{login.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    opener = _same_origin_opener()
    try:
        with opener.open(request, timeout=10) as response:
            return {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as e:
        return {k.lower(): v for k, v in e.headers.items()} if e.code < 500 else None
    except urllib.error.URLError as e:
        if isinstance(e.reason, ssl.SSLCertVerificationError):
            raise e.reason from None  # the caller says so; every other failure is "no answer"
        return None
    except ssl.SSLCertVerificationError:
        raise
    except OSError:
        return None


def _untrusted(url: str) -> SourceError:
    shown = secrets.strip_url_credentials(url)
    return SourceError(
        f"the certificate of {shown} is not trusted, so autopack cannot ask whether it is a git or an svn server",
        f"add its CA to the system's trust store, or for an svn server give --vcs svn (or svn+https://) and set {TRUST_FINGERPRINT_ENV} to its SHA-1 fingerprint{presented_note(shown)}",
    )


__all__ = ["KINDS", "Checkout", "SourceSpec", "checkout", "resolve"]
