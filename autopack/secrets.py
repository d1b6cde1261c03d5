"""The one place that knows every secret of a run and removes it from every string that
leaves the process (renderers, result files, error messages, log files)."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

MASK = "******"
_lock = threading.Lock()
_secrets: set[str] = set()  # hidden from output
_held: set[str] = set()  # credentials autopack itself uses (git, svn, registries)


def register(secret: str | None) -> None:
    """Remember a credential autopack holds, so that ``redact`` hides it and no child that
    runs the project's code (Maven) is handed it; short strings are not masked because
    masking every "a" or "1" would garble output without protecting anything."""
    if secret:
        with _lock:
            _held.add(secret)
    _mask(secret)


def _mask(secret: str | None) -> None:
    if secret and len(secret) >= 4:
        with _lock:
            _secrets.add(secret)


def held() -> frozenset[str]:
    with _lock:
        return frozenset(_held)


_SECRET_NAME = re.compile(r"(PASSWORD|TOKEN|SECRET)(_|$)")


def register_environment(environ: Mapping[str, str]) -> None:
    """Every variable that names itself a password, token or secret (CI_JOB_TOKEN,
    CI_REGISTRY_PASSWORD, AUTOPACK_REGISTRY_PASSWORD_…) is hidden from the start, even
    where autopack never reads it: a child's output could echo it."""
    for name, value in environ.items():
        if _SECRET_NAME.search(name.upper()):
            _mask(value)


def redact(text: str) -> str:
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    return _URL_PASSWORD.sub(r"\1:" + MASK + "@", text)


# The password of user:password@ inside any URL, even one that was never registered.
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/@\s:]+):[^/@\s]+@", re.IGNORECASE)


def strip_url_credentials(url: str) -> str:
    """The URL without its user-info, for labels, result files and cache keys."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
