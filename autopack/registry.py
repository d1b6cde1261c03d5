"""A small client of the Registry HTTP API v2, for what the Engine API does not tell:
whether a registry grants push *before* the build, and which manifest a tag holds after.

Auth follows the registry's challenge (``WWW-Authenticate``): Basic, or a Bearer token from
the realm it names. Transient answers (connection errors, 5xx, 429) are retried with
exponential backoff and jitter, honouring ``Retry-After``; 401/403 never are.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from dataclasses import dataclass

import requests
import tenacity

from autopack.credentials import RegistryAuth
from autopack.errors import PushError

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
    def __init__(self, registry: str, auth: RegistryAuth | None, retries: int = 3, timeout: float = 15) -> None:
        self.registry = registry
        self.auth = auth
        self.retries = retries
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "autopack"
        self.attempts = 0
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

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        response = self._request("HEAD", f"/v2/{repository}/manifests/{reference}", scope=f"repository:{repository}:pull", headers={"Accept": MANIFEST_TYPES}, ok=(200, 404))
        return response.headers.get("Docker-Content-Digest") if response.status_code == 200 else None

    # -- plumbing --------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, scope: str, headers: dict[str, str] | None = None, ok: tuple[int, ...] = (200, 201, 202, 204, 401, 403, 404)) -> requests.Response:
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.retries + 1),
            wait=wait_for,
            retry=tenacity.retry_if_exception_type(Transient),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    self.attempts += 1
                    return self._once(method, path, scope, headers or {}, ok)
        except Transient as e:
            raise PushError(f"{self.registry} did not answer after {self.retries + 1} tries: {e}", "check that the registry is up and reachable from here") from None
        raise AssertionError("unreachable")

    def _once(self, method: str, path: str, scope: str, headers: dict[str, str], ok: tuple[int, ...]) -> requests.Response:
        url = path if path.startswith("http") else self._base_url() + path
        if self._authorization:
            headers = {**headers, "Authorization": self._authorization}
        response = self._send(method, url, headers)
        if response.status_code == 401 and self.auth and self._authenticate(response, scope):
            response = self._send(method, url, {**headers, "Authorization": self._authorization or ""})
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = response.headers.get("Retry-After")
            raise Transient(f"HTTP {response.status_code} for {method} {path}", float(retry_after) if retry_after and retry_after.isdigit() else None)
        if response.status_code not in ok:
            raise PushError(f"{self.registry} answered HTTP {response.status_code} to {method} {path}", "see the registry's log")
        return response

    def _send(self, method: str, url: str, headers: dict[str, str]) -> requests.Response:
        try:
            return self.session.request(method, url, headers=headers, timeout=self.timeout, allow_redirects=True)
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
        if response.status_code == 401:
            return PushError(f"{self.registry} refused the login for {what} (credential from {origin})", f"check the user and password, or run: autopack login {self.registry}")
        if response.status_code == 403:
            return PushError(f"{self.registry} denies {what} to this login (credential from {origin})", "ask for push rights on that repository")
        return PushError(f"{self.registry} answered HTTP {response.status_code} to {what}", "check the destination's repository path")
