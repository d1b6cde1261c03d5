"""Inputs that would turn into options or transports of git, ssh or svn are refused before
any child runs: a value beginning with ``-`` (``--upload-pack=…``, ``-oProxyCommand=…``),
git's ``<transport>::<address>`` helpers (``ext::sh -c …``), and subdirs that escape."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from autopack.errors import UsageError
from autopack.source.base import SourceSpec

_REMOTE_HELPER = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/]+)@)?(?P<host>[^:/]+):(?P<path>.*)$")
# fullmatch, ASCII digits: "$" would let a trailing newline through, "\d" any script's digits.
_REF = re.compile(r"[A-Za-z0-9._/+-]+")
_REVISION = re.compile(r"HEAD|[0-9]+", re.IGNORECASE)


def check(spec: SourceSpec) -> None:
    """Raise ``UsageError`` (exit 2) for anything hostile in ``spec``."""
    _check_location(spec.location)
    for option, value in (("--ref", spec.ref), ("--branch", spec.branch), ("--svn-tag", spec.svn_tag)):
        if value is None:
            continue
        if value.startswith("-") or not _REF.fullmatch(value) or ".." in value or value.endswith((".lock", "/")):
            raise UsageError(f"{option} '{value}' is not a valid name", "use letters, digits and . _ / + - (not starting with '-')")
    if spec.revision is not None and not _REVISION.fullmatch(spec.revision):
        raise UsageError(f"--revision '{spec.revision}' is not a revision", "give a number or HEAD")
    if spec.subdir is not None:
        sub = PurePosixPath(spec.subdir)
        if sub.is_absolute() or ".." in sub.parts or spec.subdir.startswith("-"):
            raise UsageError(f"--subdir '{spec.subdir}' leads outside the checkout", "give a relative path inside the repository")


def valid_ref(value: str) -> bool:
    """Whether ``value`` may be handed to git as a ref name, by the rule ``check`` holds
    ``--ref`` to: for the names a server or a repository supplies too."""
    return not value.startswith("-") and bool(_REF.fullmatch(value)) and ".." not in value and not value.endswith((".lock", "/"))


def _check_location(location: str) -> None:
    def refuse(why: str) -> UsageError:
        return UsageError(f"refusing source '{location}': {why}", "give a plain https://, ssh://, svn:// or file:// URL, or a path")

    if location.startswith("-"):
        raise refuse("it begins with '-'")
    if _REMOTE_HELPER.match(location):
        raise refuse("'<transport>::' remote helpers can run arbitrary commands")
    if "://" in location:
        check_url(location)  # a malformed URL, with the way to write it
    if any(ord(c) < 32 for c in location):
        raise refuse("it holds control characters")
    try:
        parts = urlsplit(location)  # every later step splits it too: refuse what cannot be split
    except ValueError as e:
        raise refuse(f"it is not a valid URL ({e})") from None
    if "://" in location:
        host = parts.netloc.rpartition("@")[2]
        if host.startswith("-") or parts.path.startswith("-"):
            raise refuse("its host or path begins with '-'")
        return
    if (m := _SCP_LIKE.match(location)) and not location.startswith(("/", ".", "~")):
        if m["host"].startswith("-") or (m["user"] or "").startswith("-") or m["path"].startswith("-"):
            raise refuse("its host, user or path begins with '-'")


PASSWORD_HINT = (
    "write the user and password URL-encoded (%40 for @, %3A for :, %2F for /, %23 for #, %3F for ?, %25 for %), "
    "or leave them out of the URL: AUTOPACK_GIT_USER and AUTOPACK_GIT_PASSWORD (or AUTOPACK_GIT_TOKEN) for git, "
    "--svn-user with --svn-password-file or AUTOPACK_SVN_USER and AUTOPACK_SVN_PASSWORD for svn"
)
_IPV6_HINT = "write an IPv6 address whole, in brackets (https://[2001:db8::1]:8443/group/project.git); a '[' or ']' in a password is %5B / %5D"
_UNENCODED = re.compile(r"[\s\x00-\x1f\x7f]")


def check_url(url: str) -> None:
    """Refuse (exit 2, saying how to write it) a ``scheme://`` URL that git, svn, curl and
    Python would not read alike: a password with an unencoded ``@`` or ``:``
    (``https://ada:p@ss@host`` is host ``host`` to one and ``ss@host`` to another), a
    bracketed host that is not an IPv6 address, a port that is not a number (what a ``/``,
    ``#`` or ``?`` in a password turns into), a space or control character, no host."""

    def refuse(why: str, hint: str) -> UsageError:
        # The URL is not shown: what is wrong with it is often the password in it.
        return UsageError(f"refusing source URL {_shown(url)}: {why}", hint)

    scheme = url.partition("://")[0].lower()
    if bad := _UNENCODED.search(url):
        what = "a space" if bad[0] == " " else f"a control character ({bad[0]!r})"
        if bad[0] != " " or scheme != "file":  # a file:// path is the directory's name as it is
            raise refuse(f"it holds {what}", "write the URL on one line, with a space as %20 (and any other such character URL-encoded)")
    authority = re.split(r"[/?#]", url.partition("://")[2], maxsplit=1)[0]
    if re.search(r"[\[\]]", authority.rpartition("@")[0]):
        raise refuse("its user or password holds a '[' or ']'", _IPV6_HINT)
    try:
        parts = urlsplit(url)
    except ValueError as e:
        raise refuse(f"its host is not valid ({e})", _IPV6_HINT) from None
    netloc = parts.netloc
    userinfo, at, host = netloc.rpartition("@")
    if "@" in userinfo:
        raise refuse("its user or password holds an unencoded '@'", PASSWORD_HINT)
    if userinfo.count(":") > 1:
        raise refuse("its password holds an unencoded ':'", PASSWORD_HINT)
    try:
        port = parts.port
    except ValueError:
        raise refuse("what follows the host's ':' is not a port number", "a port is a number from 1 to 65535 (https://host:8443/…); if that is part of a password, " + PASSWORD_HINT) from None
    if port == 0:
        raise refuse("port 0 is not a port", "a port is a number from 1 to 65535")
    if scheme != "file" and not parts.hostname:
        raise refuse("it names no host", "write scheme://host/path (a local repository is file:///path)")


def _shown(url: str) -> str:
    """``url`` for the message: what may be a password (before the last '@', when a ':' is
    there) left out, control characters written as escapes."""
    scheme, _, rest = url.partition("://")
    head, at, tail = rest.rpartition("@")
    shown = f"{scheme}://…@{tail}" if at and ":" in head else url
    return "'" + re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m[0])[1:-1], shown) + "'"
