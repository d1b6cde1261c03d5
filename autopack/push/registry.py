"""A small client of the Registry HTTP API v2, for what the Engine API does not tell:
whether a registry grants push *before* the build, which manifest a tag holds after, and the
blob-by-blob copy to the other destinations.

Auth follows the registry's challenge (``WWW-Authenticate``): Basic, or a Bearer token from
the realm it names. Credentials stay with their host: the registry's Authorization goes only
to the registry's own scheme, host and port (``_send`` drops it from a request to anywhere
else — an upload ``Location`` on another host, a downgrade to http — and requests drops it on
a redirect to another host, as blob GETs are redirected to storage); a challenge is answered
only when the registry itself sent it; the login goes to the token service only at the realm
it names, and only over https unless that realm is on loopback.

Every call goes through one request layer that sorts what can go wrong:

* transient — a refused, reset or dropped connection; a body cut short (fewer bytes than
  Content-Length) or broken off while it is read; a registry silent for longer than the read
  timeout (a stall: every read is bounded, so nothing hangs); 5xx, 408 and 429 answers; a
  blob whose bytes do not match its digest. These are retried (``retrying``) with
  exponential backoff and jitter, or after the ``Retry-After`` the registry asked for
  (seconds or an HTTP-date, at most ``RETRY_AFTER_MAX``), within a budget of time *and*
  count (``Budget``): ``--push-retries N`` retries a failing call at least N times and for
  as long as the next try starts within N × ``RETRY_SECONDS`` of the first failure — so the
  default 3 outlasts a registry that is busy (or unreachable) for 30 s.
* hard — 401/403, 404 for a manifest or repository, other 4xx, a certificate the system
  does not trust, an answer that is not the JSON or manifest it should be: a ``PushError``
  at once, never retried.

A blob read that breaks off resumes where it stopped with a ``Range`` request when the
registry honours it (206 from that very byte), else starts over; an upload that fails
anywhere starts over with a new upload session. No ``requests`` or ``urllib3`` exception
leaves this module: callers see ``PushError`` (exit 6) with a hint.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import http.client
import ipaddress
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
import tenacity
import urllib3.exceptions

from autopack import secrets
from autopack.errors import PushError, UsageError
from autopack.push.credentials import RegistryAuth

T = TypeVar("T")
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
    )
)
_CANCEL_ANSWERS = (200, 202, 204, 400, 401, 403, 404, 405)  # cancelling an upload: a courtesy whatever the answer
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")

TIMEOUT_ENV = "AUTOPACK_PUSH_TIMEOUT"
DEFAULT_TIMEOUT = 30.0  # seconds a registry may stay silent — to connect, or mid-request — before the try counts as stalled
COMMIT_FACTOR = 4  # an upload (blob or manifest PUT) may stay silent this many times longer: the kernel's buffers hide the progress of a slow one, and the registry stores a blob before it answers
RETRY_SECONDS = 15.0  # the time each --push-retries buys: 3 → retried for 45 s
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 8.0  # seconds before the first retry, and at most between two
RETRY_AFTER_MAX = 60.0  # a registry's Retry-After is honoured up to this
_HINT = "check that the registry is up and reachable from here; --push-retries N retries for N × 15 s"


class Transient(Exception):
    """A failure worth another try; ``retry_after`` is the server's wish, in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class GaveUp(PushError):
    """A transient failure that outlasted the retry budget; ``tries`` were made."""

    def __init__(self, message: str, hint: str, tries: int) -> None:
        super().__init__(message, hint)
        self.tries = tries


class Budget:
    """A tenacity ``stop``: give up once ``retries`` retries were made *and* the next try
    would start more than ``retries × RETRY_SECONDS`` after the first failure. The count
    keeps slow failures (a stall costs a whole read timeout) from using up the budget in
    one or two tries; the time keeps fast ones (503, a refused connection) going long
    enough to outlast a registry that is busy or restarting. ``retries=0``: no retry."""

    def __init__(self, retries: int) -> None:
        self.retries = max(0, retries)
        self.seconds = self.retries * RETRY_SECONDS
        self.first_failure: float | None = None

    def __call__(self, state: tenacity.RetryCallState) -> bool:
        now = time.monotonic()
        if self.first_failure is None:
            self.first_failure = now
        if self.retries == 0:
            return True
        if state.attempt_number <= self.retries:
            return False
        return now - self.first_failure + state.upcoming_sleep > self.seconds

    def elapsed(self) -> float:
        return time.monotonic() - self.first_failure if self.first_failure is not None else 0.0

    def label(self, attempt: int) -> str:
        """``try 2 of 4`` while within the count, ``try 5 (retrying for up to 45 s)`` after."""
        if attempt <= self.retries + 1:
            return f"{attempt} of {self.retries + 1}"
        return f"{attempt} (retrying for up to {self.seconds:.0f} s)"


def retrying(retries: int, before_sleep: Callable[[tenacity.RetryCallState], None] | None = None) -> tuple[tenacity.Retrying, Budget]:
    """The one retry policy of a push: registry calls and the engine's push alike."""
    budget = Budget(retries)
    return tenacity.Retrying(stop=budget, wait=wait_for, retry=tenacity.retry_if_exception_type(Transient), reraise=True, before_sleep=before_sleep), budget


def wait_for(retry_state: tenacity.RetryCallState) -> float:
    """Exponential backoff with jitter, or the server's Retry-After when it gave one."""
    error = retry_state.outcome.exception() if retry_state.outcome else None
    if isinstance(error, Transient) and error.retry_after is not None:
        return min(max(error.retry_after, 0.0), RETRY_AFTER_MAX)
    exponent = min(retry_state.attempt_number - 1, 16)
    return min(BACKOFF_FIRST * 2**exponent + random.uniform(0, 1), BACKOFF_MAX)


def retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds from now: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def read_timeout() -> float:
    """``AUTOPACK_PUSH_TIMEOUT`` (seconds), else ``DEFAULT_TIMEOUT``."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value <= 3600:
        raise UsageError(f"{TIMEOUT_ENV}={raw!r} is not a number of seconds", "give seconds between 0 and 3600, e.g. 30")
    return value


class _Counting:
    """A file body for requests that reports bytes sent; ``rewind`` for a resend."""

    def __init__(self, file: BinaryIO, size: int, on_bytes: Callable[[int], None]) -> None:
        self.file, self.size, self.on_bytes, self.sent = file, size, on_bytes, 0

    def __len__(self) -> int:
        return self.size

    def read(self, n: int = -1) -> bytes:
        chunk = self.file.read(n)
        self.sent += len(chunk)
        self.on_bytes(self.sent)
        return chunk

    def rewind(self) -> None:
        self.file.seek(0)
        self.sent = 0


class _Download:
    """A blob arriving into ``file``: what came so far, and its running digest."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self.restart()

    def restart(self) -> None:
        self.file.seek(0)
        self.file.truncate()
        self.hasher = hashlib.sha256()
        self.received = 0

    def add(self, chunk: bytes) -> None:
        self.file.write(chunk)
        self.hasher.update(chunk)
        self.received += len(chunk)

    @property
    def digest(self) -> str:
        return f"sha256:{self.hasher.hexdigest()}"


@dataclass(frozen=True)
class Manifest:
    digest: str
    config_digest: str | None
    first_child: str | None = None  # an image index's first manifest


def is_loopback(registry: str) -> bool:
    host = registry.rsplit(":", 1)[0].strip("[]") if registry.count(":") <= 1 or registry.startswith("[") else registry
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RegistryClient:
    def __init__(self, registry: str, auth: RegistryAuth | None, retries: int = 3, timeout: float | None = None, on_retry: Callable[[str], None] | None = None) -> None:
        self.registry = registry
        self.auth = auth
        self.retries = retries
        self.timeout = timeout if timeout is not None else read_timeout()
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "autopack"
        self.retried = 0  # transient failures that were tried again, over every call
        self.most_tries = 0  # tries of the most-tried call
        self.on_retry = on_retry
        self._base: str | None = None
        self._authorization: str | None = None
        self._counts = threading.Lock()  # the seed's client reads blobs for several copies at once

    # -- what callers use --------------------------------------------------------------
    def check_push(self, repository: str) -> None:
        """Open a blob upload in ``repository`` and cancel it: the cheapest proof of push rights."""
        response = self._request("POST", f"/v2/{repository}/blobs/uploads/", scope=f"repository:{repository}:pull,push")
        if response.status_code in (201, 202):
            location = response.headers.get("Location")
            if location:
                # Cancelling is a courtesy: distribution's token auth wants the "*" action for
                # any DELETE, which a push grant lacks, and go-containerregistry's registry
                # answers 400 — whatever it answers, the opened upload proved push rights.
                self._request("DELETE", location, scope=f"repository:{repository}:pull,push", ok=_CANCEL_ANSWERS)
            return
        raise self._refusal(response, f"push to {self.registry}/{repository}")

    def check_login(self) -> None:
        """``GET /v2/`` with the login, as ``docker login`` does."""
        response = self._request("GET", "/v2/", scope="")
        if response.status_code != 200:
            raise self._refusal(response, "login")

    def manifest(self, repository: str, reference: str) -> Manifest | None:
        """The manifest a tag points at (digest and config digest), or None if there is none."""
        response = self._request("GET", f"/v2/{repository}/manifests/{reference}", scope=f"repository:{repository}:pull", headers={"Accept": MANIFEST_TYPES}, ok=(200, 404))
        if response.status_code == 404:
            return None
        document = _json_object(response)
        config = document.get("config")
        digest = config.get("digest") if isinstance(config, dict) else None
        children = document.get("manifests")
        first = children[0].get("digest") if isinstance(children, list) and children and isinstance(children[0], dict) else None
        return Manifest(response.headers.get("Docker-Content-Digest", ""), digest if isinstance(digest, str) else None, first if isinstance(first, str) else None)

    def labels(self, repository: str, reference: str) -> tuple[Manifest, dict[str, str]] | None:
        """The manifest a reference points at and its image's labels, read from the config
        blob (checked against its digest); None when there is no such single image."""
        found = self.manifest(repository, reference)
        if found is not None and found.config_digest is None and found.first_child:  # an image index: its first platform's labels
            child = self.manifest(repository, found.first_child)
            found = Manifest(found.digest, child.config_digest) if child is not None else None
        if found is None or not found.config_digest or not found.config_digest.startswith("sha256:"):
            return None
        response = self._request("GET", f"/v2/{repository}/blobs/{found.config_digest}", scope=f"repository:{repository}:pull", ok=(200, 404))
        if response.status_code == 404 or f"sha256:{hashlib.sha256(response.content).hexdigest()}" != found.config_digest:
            return None
        config = _json_object(response).get("config")
        labels = config.get("Labels") if isinstance(config, dict) else None
        return found, {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}

    def raw_manifest(self, repository: str, reference: str) -> tuple[bytes, str]:
        """The manifest's exact bytes and media type: re-uploaded as they are, the digest
        stays the same everywhere. Asked for by digest, the bytes are checked against it."""
        path = f"/v2/{repository}/manifests/{reference}"

        def fetch() -> tuple[bytes, str]:
            response = self._once("GET", path, f"repository:{repository}:pull", {"Accept": MANIFEST_TYPES}, (200,))
            body = response.content
            if reference.startswith("sha256:") and f"sha256:{hashlib.sha256(body).hexdigest()}" != reference:
                raise Transient(f"manifest {reference[:19]} arrived damaged (its {len(body)} bytes do not match its digest)")
            return body, response.headers.get("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")

        return self._retrying(fetch)

    def put_manifest(self, repository: str, tag: str, body: bytes, media_type: str) -> str:
        return self.put_referrer(repository, tag, body, media_type)[0]

    def put_referrer(self, repository: str, tag: str, body: bytes, media_type: str) -> tuple[str, bool]:
        """PUT a manifest under ``tag``; returns its digest, and whether the registry indexed
        its ``subject`` for the referrers API (OCI 1.1: it answers with an ``OCI-Subject``
        header; one without the API ignores the field, and only the tag finds it)."""
        scope = f"repository:{repository}:pull,push"
        response = self._request("PUT", f"/v2/{repository}/manifests/{tag}", scope=scope, headers={"Content-Type": media_type}, body=body, ok=(201, 200, 202, 401, 403), commit=True)
        if response.status_code in (401, 403):
            raise self._refusal(response, f"push to {self.registry}/{repository}")
        return response.headers.get("Docker-Content-Digest") or f"sha256:{hashlib.sha256(body).hexdigest()}", "OCI-Subject" in response.headers

    def referrers(self, repository: str, digest: str) -> list[str] | None:
        """The manifests the OCI 1.1 referrers API lists for ``digest``, or None where the
        registry has no such API (it answers 404, or with something other than an index)."""
        response = self._request("GET", f"/v2/{repository}/referrers/{digest}", scope=f"repository:{repository}:pull", headers={"Accept": "application/vnd.oci.image.index.v1+json"}, ok=(200, 400, 404, 405))
        if response.status_code != 200:
            return None
        try:
            listed = response.json().get("manifests")
        except (ValueError, AttributeError):
            return None
        return [str(m.get("digest")) for m in listed if isinstance(m, dict)] if isinstance(listed, list) else None

    def descriptor(self, repository: str, reference: str) -> tuple[str, int, str] | None:
        """The digest, size and media type of the manifest ``reference`` names (a HEAD), or None."""
        response = self._request("HEAD", f"/v2/{repository}/manifests/{reference}", scope=f"repository:{repository}:pull", headers={"Accept": MANIFEST_TYPES}, ok=(200, 404))
        if response.status_code != 200 or not (digest := response.headers.get("Docker-Content-Digest")):
            return None
        return digest, _length(response) or 0, response.headers.get("Content-Type", "").split(";")[0].strip()

    def mount_blob(self, repository: str, digest: str, source: str) -> bool:
        """Ask the registry to link blob ``digest`` of its repository ``source`` into
        ``repository`` (a cross-repository mount): True when it did; False when it opened an
        upload instead (cancelled here) or refused."""
        scope = f"repository:{repository}:pull,push repository:{source}:pull"
        response = self._request("POST", f"/v2/{repository}/blobs/uploads/?mount={digest}&from={source}", scope=scope, ok=(201, 202, 401, 403, 404))
        if response.status_code == 202 and (location := response.headers.get("Location")):
            self._request("DELETE", location, scope=scope, ok=_CANCEL_ANSWERS)
        return response.status_code == 201

    def blob_exists(self, repository: str, digest: str) -> bool:
        response = self._request("HEAD", f"/v2/{repository}/blobs/{digest}", scope=f"repository:{repository}:pull,push", ok=(200, 404))
        return response.status_code == 200

    def download_blob(self, repository: str, digest: str, dest: Path) -> int:
        """Stream a blob to ``dest`` and check it against its digest; returns the tries it
        took. A read that breaks off is resumed from the byte it stopped at (``Range``),
        or started over when the registry does not resume."""
        path = f"/v2/{repository}/blobs/{digest}"
        short = digest[:19]
        with open(dest, "wb") as f:
            download = _Download(f)

            def fetch() -> None:
                headers = {"Accept-Encoding": "identity"}  # the stored bytes, never a re-encoding of them
                if download.received:
                    headers["Range"] = f"bytes={download.received}-"
                response = self._once("GET", path, f"repository:{repository}:pull", headers, (200, 206, 416), stream=True)
                with response:
                    total = _length(response)
                    if response.status_code == 416 or (response.status_code == 206 and _range_start(response) != download.received):
                        download.restart()
                        raise Transient(f"blob {short} cannot be resumed; starting it over")
                    if response.status_code == 200 and download.received:
                        download.restart()  # the registry ignored the Range: it sends it all again
                    for chunk in self._body(response, f"reading blob {short}", download):
                        download.add(chunk)
                if total is not None and download.received != total:
                    raise Transient(f"blob {short} ended after {download.received} of {total} bytes")
                if download.digest != digest:
                    download.restart()
                    raise Transient(f"blob {short} arrived damaged (its bytes do not match its digest)")

            return self._tried(fetch)[1]

    def upload_blob(self, repository: str, digest: str, source: Path, on_bytes: Callable[[int], None]) -> None:
        """Open an upload and send the whole blob in one PUT; a failure anywhere starts over
        with a new upload, since a half-used upload session cannot be trusted."""
        scope = f"repository:{repository}:pull,push"

        def send() -> None:
            opened = self._once("POST", f"/v2/{repository}/blobs/uploads/", scope, {}, (202, 401, 403))
            with open(source, "rb") as f:
                body = _Counting(f, source.stat().st_size, on_bytes)
                done = self._once("PUT", self._upload_url(opened, repository, digest), scope, {"Content-Type": "application/octet-stream"}, (201, 204, 404), body=body, commit=True)
            if done.status_code == 404:
                code = _error_code(done)
                if code != "BLOB_UPLOAD_UNKNOWN":
                    raise PushError(f"{self.registry} answered HTTP 404 {code or ''} to the upload of {digest[:19]}".replace("  ", " "), "check the destination's repository path")
                raise Transient(f"the registry lost the upload of blob {digest[:19]}; starting it over")

        self._retrying(send)

    def upload_small(self, repository: str, digest: str, body: bytes) -> None:
        """A small blob in one request where the registry takes a monolithic POST (the OCI
        distribution spec's ``POST …/uploads/?digest=``: 201), else the upload it opened
        instead, in one PUT. No existence check first: for a few kilobytes, asking costs the
        round trip that sending does."""
        scope = f"repository:{repository}:pull,push"

        def send() -> None:
            opened = self._once("POST", f"/v2/{repository}/blobs/uploads/?digest={digest}", scope, {"Content-Type": "application/octet-stream"}, (201, 202, 401, 403), body=body, commit=True)
            if opened.status_code != 201:
                self._once("PUT", self._upload_url(opened, repository, digest), scope, {"Content-Type": "application/octet-stream"}, (201, 204), body=body, commit=True)

        self._retrying(send)

    def _upload_url(self, opened: requests.Response, repository: str, digest: str) -> str:
        """Where to PUT the blob of the upload ``opened`` (the answer to its POST) opened."""
        if opened.status_code != 202:
            raise self._refusal(opened, f"push to {self.registry}/{repository}")
        location = opened.headers.get("Location")
        if not location:
            raise PushError(f"{self.registry} opened an upload without a Location to send it to", "the registry does not follow the Registry HTTP API v2")
        separator = "&" if "?" in location else "?"
        return f"{urljoin(self._base_url() + '/', location)}{separator}digest={digest}"

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        response = self._request("HEAD", f"/v2/{repository}/manifests/{reference}", scope=f"repository:{repository}:pull", headers={"Accept": MANIFEST_TYPES}, ok=(200, 404))
        return response.headers.get("Docker-Content-Digest") if response.status_code == 200 else None

    # -- plumbing --------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, scope: str, headers: dict[str, str] | None = None, ok: tuple[int, ...] = (200, 201, 202, 204, 401, 403, 404), body: bytes | None = None, commit: bool = False) -> requests.Response:
        return self._retrying(lambda: self._once(method, path, scope, headers or {}, ok, body=body, commit=commit))

    def _retrying(self, call: Callable[[], T]) -> T:
        return self._tried(call)[0]

    def _tried(self, call: Callable[[], T]) -> tuple[T, int]:
        """``call()`` under the retry policy, and the tries it took; ``GaveUp`` when the
        budget ran out."""
        policy, budget = retrying(self.retries, self._before_retry)
        tries = 0
        try:
            for attempt in policy:
                with attempt:
                    tries += 1
                    if tries > 1:
                        with self._counts:
                            self.retried += 1
                    return call(), tries
        except Transient as e:
            raise GaveUp(f"{self.registry} failed {tries} {'try' if tries == 1 else 'tries'} in {budget.elapsed():.0f} s: {e}", _HINT, tries) from None
        finally:
            with self._counts:
                self.most_tries = max(self.most_tries, tries)
        raise AssertionError("unreachable")

    def _before_retry(self, state: tenacity.RetryCallState) -> None:
        budget = state.retry_object.stop
        if self.on_retry and state.outcome is not None and isinstance(budget, Budget):
            self.on_retry(f"{self.registry}: {state.outcome.exception()}; try {budget.label(state.attempt_number + 1)} in {state.upcoming_sleep:.1f}s")

    def _once(self, method: str, path: str, scope: str, headers: dict[str, str], ok: tuple[int, ...], body: Any = None, stream: bool = False, commit: bool = False) -> requests.Response:
        url = urljoin(self._base_url() + "/", path)
        if self._authorization:
            headers = {**headers, "Authorization": self._authorization}
        response = self._send(method, url, headers, body, stream, commit)
        if response.status_code == 401 and self.auth and self._is_own(response.url) and self._authenticate(response, scope):
            response.close()
            if hasattr(body, "rewind"):
                body.rewind()
            response = self._send(method, url, {**headers, "Authorization": self._authorization or ""}, body, stream, commit)
        status = response.status_code
        if status in (408, 429) or status >= 500:
            response.close()
            raise Transient(f"HTTP {status} for {method} {_short(path)}", retry_after(response.headers.get("Retry-After")))
        if status not in ok:
            code = _error_code(response)
            response.close()
            raise PushError(f"{self.registry} answered HTTP {status}{f' {code}' if code else ''} to {method} {_short(path)}", "see the registry's log")
        return response

    def _send(self, method: str, url: str, headers: dict[str, str], body: Any = None, stream: bool = False, commit: bool = False) -> requests.Response:
        """One HTTP exchange, with the body read in full unless ``stream``: every failure of
        the connection or of the body's bytes is ``Transient``, a bad certificate or URL a
        ``PushError``."""
        # urllib3 bounds the sending of a body by the connect timeout, then the wait for the
        # answer by the read timeout: an upload gets longer for both (``COMMIT_FACTOR``).
        timeout = (self.timeout * COMMIT_FACTOR,) * 2 if commit else (self.timeout, self.timeout)
        if not self._is_own(url):  # the registry's login is for the registry: not another host, not over http
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        try:
            # On a redirect to another host (or from https to http), requests' rebuild_auth
            # drops the Authorization header: a blob redirected to storage gets none.
            return self.session.request(method, url, headers=headers, data=body, stream=stream, timeout=timeout, allow_redirects=True)
        except requests.exceptions.SSLError as e:
            if "CERTIFICATE_VERIFY_FAILED" in str(e) or "certificate" in str(e).lower():
                raise PushError(f"{self.registry} presented a certificate this machine does not trust", "install the registry's CA certificate into the system's trust store") from None
            raise Transient(f"{method} {_short(url)}: TLS failed ({_reason(e, timeout[1])})") from None
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as e:
            raise Transient(f"{method} {_short(url)}: {_reason(e, timeout[1])}") from None
        except requests.RequestException as e:
            raise PushError(f"{method} {_short(url)} to {self.registry} cannot be sent: {type(e).__name__}: {e}", "check the destination's registry address") from None

    def _body(self, response: requests.Response, what: str, download: _Download) -> Iterator[bytes]:
        """The raw bytes of a streamed body; a read that fails (reset, cut short, stalled
        past the read timeout) ends in ``Transient``."""
        raw = response.raw
        # read1 (urllib3 ≥ 2.3) returns what has arrived, so a stall loses none of it for the
        # resume; read(n) waits for n bytes (or the end) and loses what it had on a timeout.
        read = raw.read1 if hasattr(raw, "read1") else lambda n, decode_content: raw.read(min(n, 1 << 16), decode_content=decode_content)
        while True:
            try:
                chunk = read(1 << 20, decode_content=False)
            except (urllib3.exceptions.HTTPError, requests.RequestException, http.client.HTTPException, OSError) as e:
                raise Transient(f"{what} broke off after {download.received} bytes: {_reason(e, self.timeout)}") from None
            if not chunk:
                return
            yield chunk

    def _base_url(self) -> str:
        """https, except on loopback where plain http is accepted (as the Docker engine does)."""
        if self._base is None:
            self._base = f"https://{self.registry}"
            if is_loopback(self.registry):
                try:
                    self.session.get(self._base + "/v2/", timeout=self.timeout).close()
                except requests.RequestException:
                    self._base = f"http://{self.registry}"
        return self._base

    def _is_own(self, url: str) -> bool:
        """Whether ``url`` is on the registry itself: the same scheme, host and port."""
        return secrets.same_origin(url, self._base_url())

    def _authenticate(self, challenge: requests.Response, scope: str) -> bool:
        assert self.auth is not None
        header = challenge.headers.get("WWW-Authenticate", "")
        scheme = header.split(" ", 1)[0].lower()
        if scheme == "basic":
            token = base64.b64encode(f"{self.auth.username}:{self.auth.password}".encode()).decode()
            self._authorization = f"Basic {token}"
            return True
        if scheme == "bearer":
            params = dict(_CHALLENGE.findall(header))
            realm = params.get("realm")
            if not realm:
                return False
            where = urlsplit(realm)
            if where.scheme != "https" and not (where.scheme == "http" and is_loopback(where.hostname or "")):
                raise PushError(f"{self.registry} names the token service {_short_origin(realm)}, which is not https: the login is not sent there", "serve the registry's token service (its auth realm) over https")
            query: dict[str, str | list[str]] = {"service": params.get("service", ""), "scope": scope.split()}  # several scopes: one parameter each
            try:
                answer = self.session.get(realm, params=query, auth=(self.auth.username, self.auth.password), timeout=self.timeout)
            except requests.RequestException as e:
                raise Transient(f"token service {realm} failed: {_reason(e, self.timeout)}") from None
            if answer.status_code in (408, 429) or answer.status_code >= 500:
                raise Transient(f"token service {realm} answered HTTP {answer.status_code}", retry_after(answer.headers.get("Retry-After")))
            if answer.status_code != 200:
                return False
            granted = _json_object(answer)
            bearer = granted.get("token") or granted.get("access_token")
            if not isinstance(bearer, str) or not bearer:
                raise PushError(f"the token service {realm} of {self.registry} sent no token", "check the registry's token service")
            self._authorization = f"Bearer {bearer}"
            return True
        return False

    def _refusal(self, response: requests.Response, what: str) -> PushError:
        origin = self.auth.origin if self.auth else "no credential"
        if response.status_code == 401 and not self.auth:
            key = re.sub(r"[^A-Z0-9]", "_", self.registry.upper())
            return PushError(f"{self.registry} wants a login for {what}, and none was found", f"run autopack login {self.registry}, or set AUTOPACK_REGISTRY_USER_{key} and AUTOPACK_REGISTRY_PASSWORD_{key}")
        if response.status_code == 401:
            return PushError(f"{self.registry} refused the login for {what} (credential from {origin})", f"check the user and password, or run: autopack login {self.registry}")
        if response.status_code == 403:
            return PushError(f"{self.registry} denies {what} to this login (credential from {origin})", "ask for push rights on that repository")
        return PushError(f"{self.registry} answered HTTP {response.status_code} to {what}", "check the destination's repository path")


def _json_object(response: requests.Response) -> dict[str, Any]:
    """The body as a JSON object, or {} when it is not one (an answer is only ever read for
    what it may hold; its shape is the registry's, not a reason to crash)."""
    try:
        value = response.json()
    except (ValueError, requests.RequestException):
        return {}
    return value if isinstance(value, dict) else {}


def _error_code(response: requests.Response) -> str:
    """The first ``errors[].code`` of a registry's error body (``MANIFEST_UNKNOWN``, …), or ''."""
    errors = _json_object(response).get("errors")
    first = errors[0] if isinstance(errors, list) and errors else None
    code = first.get("code") if isinstance(first, dict) else None
    return code if isinstance(code, str) else ""


def _length(response: requests.Response) -> int | None:
    """The whole blob's size: Content-Length of a 200, the total of a 206's Content-Range."""
    if response.status_code == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        return int(match[3]) if match and match[3] != "*" else None
    value = response.headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None


def _range_start(response: requests.Response) -> int | None:
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    return int(match[1]) if match else None


def _reason(error: BaseException, timeout: float) -> str:
    """What happened to the connection, in words: from the exception and those it wraps."""
    text = ""
    seen: BaseException | None = error
    for _ in range(6):
        if seen is None:
            break
        text += f" {type(seen).__name__} {seen}"
        seen = seen.__context__ or seen.__cause__ or (seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None)
    for pattern, words in (
        (r"timed out|Timeout", f"no answer for {timeout:g} s (stalled)"),
        (r"IncompleteRead|InvalidChunkLength|ended prematurely", "the body was cut short"),
        (r"Connection reset|ECONNRESET|Errno 104\b", "connection reset"),
        (r"Connection refused|ECONNREFUSED|Errno 111\b", "connection refused"),
        (r"RemoteDisconnected|without response", "connection closed without an answer"),
        (r"Broken pipe|EPIPE", "connection broken (broken pipe)"),
        (r"Name or service not known|nodename nor servname|getaddrinfo|NameResolution", "the name does not resolve"),
        (r"Network is unreachable|No route to host", "network unreachable"),
    ):
        if re.search(pattern, text):
            return words
    return type(error).__name__


def _short_origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


def _short(url: str) -> str:
    """A request's path, without scheme, host or query (upload state tokens are long and say
    nothing; the registry is named once, by the message around it)."""
    return urlsplit(url).path or "/"
