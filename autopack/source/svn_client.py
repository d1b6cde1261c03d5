"""The small interface both svn backends implement (``svn_pysvn.Client``, ``svn_cli.Client``),
and what they share: the facts of a URL or working copy, the failure they raise, progress
counting and the server-certificate check."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from autopack.events import Emit, Progress

TRUST_FINGERPRINT_ENV = "AUTOPACK_SVN_TRUST_FINGERPRINT"


@dataclass(frozen=True)
class Facts:
    """``svn info`` of a URL@REV or of a working copy."""

    url: str
    repos_root: str
    revision: int
    kind: str  # "dir" or "file"
    last_changed_revision: int | None
    author: str | None
    committed_at: str | None  # ISO 8601, UTC, whole seconds (the same from both backends)


class SvnFailure(Exception):
    """An svn operation failed. ``errors`` are svn's ``(code, message)`` pairs, outermost
    first; ``login_refused`` says that autopack had no (more) credentials to offer."""

    def __init__(self, errors: list[tuple[int, str]], *, login_refused: bool = False) -> None:
        self.errors = errors
        self.login_refused = login_refused
        super().__init__("; ".join(message for _, message in errors if message))


class Client(Protocol):
    """One run's svn client: its own config directory, no auth cache, never a prompt.
    ``revision`` is ``"HEAD"`` or a number; URLs are always read at that peg revision.
    ``checkout`` and ``switch`` never follow ``svn:externals`` (``svn_externals.py`` decides
    whether and how they are fetched)."""

    def info(self, url: str, revision: str) -> Facts: ...

    def checkout(self, url: str, revision: int, path: Path) -> None: ...

    def switch(self, path: Path, url: str, revision: int) -> None: ...

    def externals(self, target: str, revision: str | None = None, peg: str | None = None) -> dict[str, str]:
        """The ``svn:externals`` values at and below ``target``: a working copy path (its
        own properties; no revision) or a URL at ``revision`` (peg ``peg``); keyed by the
        absolute path or the URL of each directory that has one."""

    def export(self, url: str, peg: str, revision: str, path: Path) -> None:
        """``url@peg`` at ``revision`` into the new ``path``, as plain files, its own
        externals not followed."""

    def is_clean(self, path: Path) -> bool:
        """Whether ``svn status --no-ignore`` shows nothing: no local change, no unversioned or
        ignored file (nothing ``clean`` would undo), no conflict, lock or switched path."""

    def clean(self, path: Path) -> None:
        """Revert every local change and remove unversioned and ignored files."""

    def wc_info(self, path: Path) -> Facts: ...

    def close(self) -> None: ...


class FileCounter:
    """Turns "a file was added/updated" notifications into throttled Progress events."""

    def __init__(self, emit: Emit, interval: float = 0.2) -> None:
        self.emit, self.interval, self.count, self._last = emit, interval, 0, 0.0
        self.root: Path | None = None  # the working copy: paths are shown relative to it

    def add(self, path: str) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self.report(path, final=False)

    def report(self, path: str = "", final: bool = True) -> None:
        if path and self.root is not None and Path(path).is_relative_to(self.root):
            path = Path(path).relative_to(self.root).as_posix()
        self.emit(Progress("source", f"svn: {self.count} files added/updated", {"files": self.count, "path": path, "plain": final}))


def normalize_fingerprint(value: str) -> str:
    return value.replace(":", "").replace(" ", "").lower()


def trusted_fingerprint() -> str | None:
    """The server certificate fingerprint (SHA-1, as svn shows it) the user chose to trust
    despite a verification failure; without it an untrusted certificate fails closed."""
    value = os.environ.get(TRUST_FINGERPRINT_ENV, "").strip()
    return normalize_fingerprint(value) if value else None


def der_fingerprint(der: bytes) -> str:
    return hashlib.sha1(der).hexdigest()  # svn identifies certificates by SHA-1


def server_fingerprint(url: str) -> str | None:
    """SHA-1 fingerprint of the certificate an https server presents (unverified: this only
    names it; trusting it is the user's decision), or None when it cannot be fetched."""
    import ssl  # here: every command imports the source package, few meet an untrusted server

    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return None
    try:
        pem = ssl.get_server_certificate((parts.hostname, parts.port or 443), timeout=30)
        return der_fingerprint(ssl.PEM_cert_to_DER_cert(pem))
    except (OSError, ValueError):
        return None


def presented_note(url: str) -> str:
    """For the hint of an untrusted-certificate error: the fingerprint the server presents
    (as svn prints it, ``cc:f9:80:…``), to be checked with its owner before it is trusted."""
    presented = server_fingerprint(url)
    if not presented:
        return ""
    colons = ":".join(presented[i : i + 2] for i in range(0, len(presented), 2))
    return f" (it presents {colons}: check that with the server's owner first)"
