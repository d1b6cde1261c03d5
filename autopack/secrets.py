"""The one place that knows every secret of a run and removes it from every string that
leaves the process (renderers, result files, error messages, log files)."""

from __future__ import annotations

import base64
import functools
import json
import re
import threading
from collections.abc import Mapping, Sequence
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

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


# The credentials autopack itself holds for git, svn and registries: a child (Maven, an
# external signer) is never their host, so it never gets them.
CREDENTIAL_VARIABLES = re.compile(
    r"^(AUTOPACK_(GIT_(USER|PASSWORD|TOKEN)|SVN_(USER|PASSWORD)|REGISTRY_(USER|PASSWORD)_\w+)|GITLAB_TOKEN|CI_JOB_TOKEN"
    r"|CI_REGISTRY_PASSWORD|CI_REGISTRY_USER|CI_DEPLOY_PASSWORD|DOCKER_AUTH_CONFIG)$"
)


def child_environment(environ: Mapping[str, str], passed: Sequence[str] = (), *, by_value: bool = True) -> dict[str, str]:
    """``environ`` for a child: minus the credentials autopack holds (by name), and with
    ``by_value`` any variable holding a registered secret; ``passed`` (``--maven-env NAME``)
    names variables to hand on all the same. An external signer keeps the secrets that are
    not autopack's (``by_value=False``): a KMS client needs its own."""
    held_values = held() if by_value else frozenset()
    return {name: value for name, value in environ.items() if name in passed or not (CREDENTIAL_VARIABLES.match(name) or value in held_values)}


def redact(text: str) -> str:
    """``text`` with every registered secret masked, in each form it travels in (see
    ``_forms``), and the password of any ``scheme://user:password@``. Every character of
    every occurrence goes — overlapping ones (``abab`` in ``ababab``) and secrets that
    overlap each other too: each run of overlapping occurrences becomes one mask."""
    with _lock:
        known = tuple(_secrets)
    spans = []
    for secret in known:
        plain, encoded = _forms(secret)
        for form in plain:
            spans += _occurrences(text, form, widen=False)
        for fragment in encoded:
            spans += _occurrences(text, fragment, widen=True)
    if spans:
        text = _masked(text, spans)
    return _URL_PASSWORD.sub(r"\1:" + MASK + "@", text)


def _occurrences(text: str, form: str, widen: bool) -> list[tuple[int, int]]:
    """Every (start, end) of ``form`` in ``text``, overlapping ones included; ``widen``: each
    grown to the whole base64 word around it (the characters that hold a part of the
    secret's bits, and the rest of the encoded credential)."""
    found = []
    start = text.find(form)
    while start >= 0:
        end = start + len(form)
        if widen:
            while start > 0 and text[start - 1] in _BASE64_CHARS:
                start -= 1
            while end < len(text) and text[end] in _BASE64_CHARS:
                end += 1
            while end < len(text) and text[end] == "=":
                end += 1
        found.append((start, end))
        start = text.find(form, found[-1][0] + 1 if not widen else end)
    return found


def _masked(text: str, spans: list[tuple[int, int]]) -> str:
    out, at = [], 0
    for start, end in sorted(spans):
        if start < at:  # overlaps the run being masked: extend it
            if end > at:
                at = end
            continue
        out += [text[at:start], MASK]
        at = end
    return "".join(out) + text[at:]


_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")


@functools.lru_cache(maxsize=256)
def _forms(secret: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The forms a secret travels in: (plain forms, base64 fragments).

    Plain: as given; URL-encoded (``quote`` with and without '/' kept, ``quote_plus``, upper-
    and lowercase hex); JSON-escaped as Python and as Go write it (``\\u00e9`` or ``é``; Go's
    ``\\u0026`` for ``&``, ``<``, ``>``). Base64 (standard and URL-safe): the secret's bytes
    at each of the three alignments they can have inside encoded data — ``user:secret`` in
    an ``Authorization: Basic`` header or a Docker config's ``auth`` puts them after
    ``len(user) + 1`` bytes — as the run of characters that depend on the secret's bits
    alone; a match is widened to the whole base64 word it sits in."""
    encoded_forms = (quote(secret, safe=""), quote(secret), quote_plus(secret))
    lower = tuple(re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(), f) for f in encoded_forms)
    python_json = json.dumps(secret)[1:-1]
    unicode_json = json.dumps(secret, ensure_ascii=False)[1:-1]
    go_json = unicode_json.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    plain = tuple(dict.fromkeys(f for f in (secret, *encoded_forms, *lower, python_json, unicode_json, go_json) if len(f) >= 4))
    data = secret.encode()
    fragments = []
    for offset in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            chars = encode(bytes(offset) + data).decode()
            first, last = -(-offset * 8 // 6), (offset + len(data)) * 8 // 6  # the characters of the secret's bits alone
            fragments.append(chars[first:last])
    return plain, tuple(dict.fromkeys(f for f in fragments if len(f) >= 4))


# The password of user:password@ inside any URL, even one that was never registered.
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/@\s:]+):[^/@\s]+@", re.IGNORECASE)


def strip_url_credentials(url: str) -> str:
    """The URL without its user-info, for labels, result files and cache keys."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def same_origin(a: str, b: str) -> bool:
    """Whether two URLs share scheme, host and port (default ports filled in): the test for
    whether a credential meant for one may be sent to the other."""
    return _origin(a) == _origin(b)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1  # a port that is not one: equal to no origin autopack sends to
    return scheme, (parts.hostname or "").lower(), port if port is not None else {"https": 443, "http": 80}.get(scheme)
