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
