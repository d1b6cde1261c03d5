"""A small client of the Registry HTTP API v2, for what the Engine API does not tell:
whether a registry grants push *before* the build, and which manifest a tag holds after.

Auth follows the registry's challenge (``WWW-Authenticate``): Basic, or a Bearer token from
the realm it names. Transient answers (connection errors, 5xx, 429) are retried with
exponential backoff and jitter, honouring ``Retry-After``; 401/403 never are.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import requests
import tenacity

from autopack.errors import PushError
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
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


class Transient(Exception):
    """A failure worth another try; ``retry_after`` is the server's wish, in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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


@dataclass(frozen=True)
class Manifest:
    digest: str
    config_digest: str | None


def is_loopback(registry: str) -> bool:
    host = registry.rsplit(":", 1)[0].strip("[]") if registry.count(":") <= 1 or registry.startswith("[") else registry
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def wait_for(retry_state: tenacity.RetryCallState) -> float:
    """Exponential backoff with jitter, or the server's Retry-After when it gave one."""
    error = retry_state.outcome.exception() if retry_state.outcome else None
    if isinstance(error, Transient) and error.retry_after is not None:
        return min(error.retry_after, 60.0)
    return tenacity.wait_exponential_jitter(initial=0.5, max=20)(retry_state)


class RegistryClient:
    def __init__(self, registry: str, auth: RegistryAuth | None, retries: int = 3, timeout: float = 15, on_retry: Callable[[str], None] | None = None) -> None:
        self.registry = registry
        self.auth = auth
        self.retries = retries
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "autopack"
        self.retried = 0  # transient failures that were tried again
        self.on_retry = on_retry
        self._base: str | None = None
        self._authorization: str | None = None

    # -- what callers use --------------------------------------------------------------
    def check_push(self, repository: str) -> None:
        """Open a blob upload in ``repository`` and cancel it: the cheapest proof of push rights."""
        response = self._request("POST", f"/v2/{repository}/blobs/uploads/", scope=f"repository:{repository}:pull,push")
        if response.status_code in (201, 202):
            location = response.headers.get("Location")
            if location:
                self._request("DELETE", location, scope=f"repository:{repository}:pull,push", ok=(204, 404, 405, 200))
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
        try:
            config = (response.json().get("config") or {}).get("digest")
        except ValueError:
            config = None
        return Manifest(response.headers.get("Docker-Content-Digest", ""), config)

    def raw_manifest(self, repository: str, reference: str) -> tuple[bytes, str]:
        """The manifest's exact bytes and media type: re-uploaded as they are, the digest
        stays the same everywhere."""
        response = self._request("GET", f"/v2/{repository}/manifests/{reference}", scope=f"repository:{repository}:pull", headers={"Accept": MANIFEST_TYPES}, ok=(200,))
        return response.content, response.headers.get("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")

    def put_manifest(self, repository: str, tag: str, body: bytes, media_type: str) -> str:
        response = self._request("PUT", f"/v2/{repository}/manifests/{tag}", scope=f"repository:{repository}:pull,push", headers={"Content-Type": media_type}, body=body, ok=(201, 200, 202, 401, 403))
        if response.status_code in (401, 403):
            raise self._refusal(response, f"push to {self.registry}/{repository}")
        return response.headers.get("Docker-Content-Digest", "")

    def blob_exists(self, repository: str, digest: str) -> bool:
        response = self._request("HEAD", f"/v2/{repository}/blobs/{digest}", scope=f"repository:{repository}:pull,push", ok=(200, 404))
        return response.status_code == 200

    def download_blob(self, repository: str, digest: str, dest: Path) -> None:
        """Stream a blob to ``dest`` and check it against its digest."""

        def fetch() -> None:
            response = self._once("GET", f"/v2/{repository}/blobs/{digest}", f"repository:{repository}:pull", {}, (200,), stream=True)
            hasher = hashlib.sha256()
            with open(dest, "wb") as f:
                for chunk in response.iter_content(1 << 20):
                    hasher.update(chunk)
                    f.write(chunk)
            if f"sha256:{hasher.hexdigest()}" != digest:
                raise Transient(f"blob {digest[:19]} arrived damaged")

        self._retrying(fetch)

    def upload_blob(self, repository: str, digest: str, source: Path, on_bytes: Callable[[int], None]) -> None:
        """Open an upload and send the whole blob in one PUT; a failure anywhere starts over
        with a new upload, since a half-used upload session cannot be trusted."""
        scope = f"repository:{repository}:pull,push"

        def send() -> None:
            opened = self._once("POST", f"/v2/{repository}/blobs/uploads/", scope, {}, (202, 401, 403))
            if opened.status_code != 202:
                raise self._refusal(opened, f"push to {self.registry}/{repository}")
            location = opened.headers["Location"]
            separator = "&" if "?" in location else "?"
            url = location if location.startswith("http") else self._base_url() + location
            with open(source, "rb") as f:
                body = _Counting(f, source.stat().st_size, on_bytes)
                self._once("PUT", f"{url}{separator}digest={digest}", scope, {"Content-Type": "application/octet-stream"}, (201, 204), body=body)

        self._retrying(send)

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        response = self._request("HEAD", f"/v2/{repository}/manifests/{reference}", scope=f"repository:{repository}:pull", headers={"Accept": MANIFEST_TYPES}, ok=(200, 404))
        return response.headers.get("Docker-Content-Digest") if response.status_code == 200 else None

    # -- plumbing --------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, scope: str, headers: dict[str, str] | None = None, ok: tuple[int, ...] = (200, 201, 202, 204, 401, 403, 404), body: bytes | None = None) -> requests.Response:
        return self._retrying(lambda: self._once(method, path, scope, headers or {}, ok, body=body))

    def _retrying(self, call: Callable[[], T]) -> T:
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.retries + 1),
            wait=wait_for,
            retry=tenacity.retry_if_exception_type(Transient),
            reraise=True,
            before_sleep=self._before_retry,
        )
        try:
            for attempt in retrying:
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        self.retried += 1
                    return call()
        except Transient as e:
            raise PushError(f"{self.registry} failed {self.retries + 1} tries: {e}", "check that the registry is up and reachable from here; --push-retries allows more") from None
        raise AssertionError("unreachable")

    def _before_retry(self, state: tenacity.RetryCallState) -> None:
        if self.on_retry and state.outcome is not None:
            self.on_retry(f"{self.registry}: {state.outcome.exception()}; try {state.attempt_number + 1} of {self.retries + 1} in {state.upcoming_sleep:.1f}s")

    def _once(self, method: str, path: str, scope: str, headers: dict[str, str], ok: tuple[int, ...], body: Any = None, stream: bool = False) -> requests.Response:
        url = path if path.startswith("http") else self._base_url() + path
        if self._authorization:
            headers = {**headers, "Authorization": self._authorization}
        response = self._send(method, url, headers, body, stream)
        if response.status_code == 401 and self.auth and self._authenticate(response, scope):
            if hasattr(body, "rewind"):
                body.rewind()
            response = self._send(method, url, {**headers, "Authorization": self._authorization or ""}, body, stream)
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = response.headers.get("Retry-After")
            raise Transient(f"HTTP {response.status_code} for {method} {path}", float(retry_after) if retry_after and retry_after.isdigit() else None)
        if response.status_code not in ok:
            raise PushError(f"{self.registry} answered HTTP {response.status_code} to {method} {path}", "see the registry's log")
        return response

    def _send(self, method: str, url: str, headers: dict[str, str], body: Any = None, stream: bool = False) -> requests.Response:
        try:
            return self.session.request(method, url, headers=headers, data=body, stream=stream, timeout=self.timeout, allow_redirects=True)
        except (requests.ConnectionError, requests.Timeout) as e:
            raise Transient(f"{type(e).__name__} talking to {self.registry}") from None

    def _base_url(self) -> str:
        """https, except on loopback where plain http is accepted (as the Docker engine does)."""
        if self._base is None:
            self._base = f"https://{self.registry}"
            if is_loopback(self.registry):
                try:
                    self.session.get(self._base + "/v2/", timeout=self.timeout)
                except requests.RequestException:
                    self._base = f"http://{self.registry}"
        return self._base

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
            query = {"service": params.get("service", ""), "scope": scope}
            try:
                answer = self.session.get(realm, params=query, auth=(self.auth.username, self.auth.password), timeout=self.timeout)
            except requests.RequestException as e:
                raise Transient(f"token service {realm} failed: {type(e).__name__}") from None
            if answer.status_code != 200:
                return False
            body = answer.json()
            token = body.get("token") or body.get("access_token")
            if not token:
                return False
            self._authorization = f"Bearer {token}"
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
