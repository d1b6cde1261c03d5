"""Acceptance tests for the registry test servers: real ``docker-registry`` processes, the
fault proxy, and real pushes by the engine through the docker SDK.

What the engine (dockerd 20.10) does under injected faults is pinned here, because autopack's
own retry policy is designed around it:

* blob upload answered 500 — dockerd retries the layer by itself (up to 5 attempts, waiting
  5 s, 10 s, ... between them) and the push succeeds;
* blob upload answered 429 (TOOMANYREQUESTS) — no retry, ``Retry-After`` ignored: the push
  fails at the first fault;
* manifest PUT answered 500 or 429 — no retry: the push fails after all blobs were uploaded;
* no manifest HEAD at all during a push, so that kind never fires.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import docker
import pytest
import requests

from tests.conftest import BASE_IMAGE, ROOT
from tests.servers.fault_proxy import FaultProxy, classify
from tests.servers.fixtures import B_PASSWORD, B_USER, Registries, faulty, registries  # noqa: F401
from tests.servers.registry import Registry

# --- the servers alone --------------------------------------------------------------------


def test_registry_with_auth_challenges_and_stops(tmp_path):
    registry = Registry(tmp_path / "r", user="ada", password="pa55").start()
    try:
        anonymous = requests.get(f"{registry.url}/v2/", timeout=5)
        assert anonymous.status_code == 401
        assert anonymous.headers["WWW-Authenticate"] == 'Basic realm="autopack-test"'
        assert requests.get(f"{registry.url}/v2/", auth=("ada", "pa55"), timeout=5).status_code == 200
        assert requests.get(f"{registry.url}/v2/", auth=("ada", "wrong"), timeout=5).status_code == 401
        assert registry.manifest_digest("team/app", "t1") is None
        assert registry.tags("team/app") == []
    finally:
        registry.stop()
    assert not registry.running
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{registry.url}/v2/", timeout=2)


def test_registry_dies_with_the_test_process(tmp_path):
    """SIGKILL runs neither atexit nor pytest finalizers: the orphan guard must do it."""
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from tests.servers.registry import Registry
        r = Registry({str(tmp_path / "r")!r}).start()
        print(r.host, flush=True)
        time.sleep(600)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        host = child.stdout.readline().strip()
        assert requests.get(f"http://{host}/v2/", timeout=5).status_code == 200
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://{host}/v2/", timeout=1)
        except requests.ConnectionError:
            return
        time.sleep(0.1)
    pytest.fail(f"the registry on {host} outlived its killed parent")


@pytest.mark.parametrize("kind, method, path", [
    ("blob-upload", "POST", "/v2/team/app/blobs/uploads/"),
    ("blob-upload", "PATCH", "/v2/a/b/c/blobs/uploads/0f1e?_state=xyz"),
    ("blob-upload", "PUT", "/v2/team/app/blobs/uploads/0f1e?_state=x&digest=sha256%3Aab"),
    ("blob-upload-status", "GET", "/v2/team/app/blobs/uploads/0f1e"),
    ("blob-head", "HEAD", "/v2/team/app/blobs/sha256:ab"),
    ("manifest-put", "PUT", "/v2/team/app/manifests/t1"),
    ("manifest-head", "HEAD", "/v2/team/app/manifests/sha256:ab"),
    ("ping", "GET", "/v2/"),
])
def test_classify(kind, method, path):
    assert classify(method, path) == kind


def _upload_blob(base: str, repository: str, data: bytes, auth=None) -> requests.Response:
    """POST, a chunked PATCH (a generator body), then PUT — the engine's sequence."""
    started = requests.post(f"{base}/v2/{repository}/blobs/uploads/", auth=auth, timeout=10)
    if started.status_code != 202:
        return started
    location = requests.compat.urljoin(base + "/", started.headers["Location"])
    assert location.startswith(base), f"upload went around the proxy: {location}"
    pieces = (data[i : i + 1_000_000] for i in range(0, len(data), 1_000_000))
    patched = requests.patch(location, data=pieces, auth=auth, timeout=30)  # Transfer-Encoding: chunked
    assert patched.status_code == 202, patched.text
    assert patched.headers["Range"] == f"0-{len(data) - 1}"
    assert patched.headers["Docker-Upload-UUID"]
    location = requests.compat.urljoin(base + "/", patched.headers["Location"])
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return requests.put(location, params={"digest": digest}, auth=auth, timeout=10)


@pytest.mark.parametrize("relative_urls", [False, True], ids=["absolute-location", "relative-location"])
def test_fault_proxy_fails_first_uploads_then_streams_through(tmp_path, relative_urls):
    data = os.urandom(5_000_000)
    with Registry(tmp_path / "r", relative_urls=relative_urls) as registry, \
            FaultProxy(registry, kind="blob-upload", status=429, times=1) as proxy:
        refused = requests.post(f"{proxy.url}/v2/team/app/blobs/uploads/", timeout=10)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["errors"][0]["code"] == "TOOMANYREQUESTS"

        done = _upload_blob(proxy.url, "team/app", data)
        assert done.status_code == 201, done.text
        digest = done.headers["Docker-Content-Digest"]
        blob = requests.get(f"{registry.url}/v2/team/app/blobs/{digest}", timeout=10)
        assert blob.content == data
        assert proxy.injected == 1
        assert proxy.requests["blob-upload"] == 4  # the refused POST, then POST, PATCH, PUT


def test_fault_proxy_passes_auth_through(registries: Registries, faulty):
    proxy = faulty(registries.b, kind="manifest-head", status=500, times=1)
    challenge = requests.get(f"{proxy.url}/v2/", timeout=5)
    assert challenge.status_code == 401
    assert challenge.headers["WWW-Authenticate"] == 'Basic realm="autopack-test"'
    assert requests.get(f"{proxy.url}/v2/", auth=(B_USER, B_PASSWORD), timeout=5).status_code == 200
    head = requests.head(f"{proxy.url}/v2/team/app/manifests/t1", auth=(B_USER, B_PASSWORD), timeout=5)
    assert head.status_code == 500
    assert requests.head(f"{proxy.url}/v2/team/app/manifests/t1", auth=(B_USER, B_PASSWORD), timeout=5).status_code == 404
    assert proxy.injected == 1


# --- real pushes by the engine --------------------------------------------------------------


class Pusher:
    """Tags the base image for a registry and pushes it through the SDK's low-level API;
    untags everything it tagged afterwards (the base image stays)."""

    def __init__(self, engine: docker.DockerClient) -> None:
        self.engine = engine
        self.tagged: list[str] = []

    def push(self, registry, repository: str = "team/app", tag: str = "t1", *, auth: bool = True,
             auth_config: dict[str, str] | None = None):
        """``auth=False``: push with no credentials; ``auth_config``: with these instead."""
        reference = f"{registry.host}/{repository}"
        self.engine.api.tag(BASE_IMAGE, reference, tag)
        self.tagged.append(f"{reference}:{tag}")
        auth_config = auth_config or (registry.auth_config if auth else None)
        started = time.monotonic()
        events = list(self.engine.api.push(reference, tag, stream=True, decode=True, auth_config=auth_config))
        return Push(events, time.monotonic() - started)

    def untag_all(self) -> None:
        for reference in self.tagged:
            try:
                self.engine.api.remove_image(reference)
            except docker.errors.APIError:
                pass


class Push:
    def __init__(self, events: list[dict], seconds: float) -> None:
        self.events = events
        self.seconds = seconds
        self.errors = [e["error"] for e in events if "error" in e]
        self.retries = sum(1 for e in events if str(e.get("status", "")).startswith("Retrying in"))

    @property
    def digest(self) -> str | None:
        last = self.events[-1] if self.events else {}
        return last.get("aux", {}).get("Digest")


@pytest.fixture
def pusher(engine: docker.DockerClient) -> Iterator[Pusher]:
    p = Pusher(engine)
    yield p
    p.untag_all()


def test_push_to_open_registry(registries: Registries, pusher: Pusher):
    pushed = pusher.push(registries.a)
    assert pushed.errors == []
    assert pushed.digest and pushed.digest.startswith("sha256:")
    assert registries.a.manifest_digest("team/app", "t1") == pushed.digest
    assert registries.a.tags("team/app") == ["t1"]


def test_push_to_registry_with_auth(registries: Registries, pusher: Pusher):
    anonymous = pusher.push(registries.b, auth=False)
    assert anonymous.errors == ["no basic auth credentials"], anonymous.events
    wrong = pusher.push(registries.b, auth_config={"username": B_USER, "password": "not-it"})
    assert wrong.errors and wrong.errors[0].startswith("unauthorized"), wrong.events
    assert registries.b.manifest_digest("team/app", "t1") is None

    pushed = pusher.push(registries.b)
    assert pushed.errors == []
    assert registries.b.manifest_digest("team/app", "t1") == pushed.digest


def test_engine_retries_blob_upload_500(registries: Registries, faulty, pusher: Pusher):
    proxy = faulty(registries.c, kind="blob-upload", status=500, times=2)
    pushed = pusher.push(proxy)
    assert pushed.errors == [], pushed.events
    assert proxy.injected == 2
    assert pushed.retries > 0  # "Retrying in 5 seconds", a countdown per second
    assert registries.c.manifest_digest("team/app", "t1") == pushed.digest


def test_engine_gives_up_on_blob_upload_429(registries: Registries, faulty, pusher: Pusher):
    proxy = faulty(registries.c, kind="blob-upload", status=429, times=2)
    pushed = pusher.push(proxy)
    assert pushed.errors and "toomanyrequests" in pushed.errors[0], pushed.events
    assert proxy.injected == 1  # no second attempt: TOOMANYREQUESTS is "do not retry"
    assert pushed.retries == 0
    assert registries.c.manifest_digest("team/app", "t1") is None


@pytest.mark.parametrize("status, message", [(500, "500 Internal Server Error"), (429, "toomanyrequests")])
def test_engine_does_not_retry_manifest_put(registries: Registries, faulty, pusher: Pusher, status, message):
    proxy = faulty(registries.c, kind="manifest-put", status=status, times=2)
    pushed = pusher.push(proxy)
    assert pushed.errors and message in pushed.errors[0], pushed.events
    assert proxy.injected == 1 and proxy.requests["manifest-put"] == 1
    assert proxy.requests["blob-upload"] > 0  # the blobs went up; only the manifest is missing
    assert registries.c.manifest_digest("team/app", "t1") is None


def test_push_timings(registries: Registries, pusher: Pusher, capsys):
    """Not a benchmark (scripts/bench-push is), a figure in the log: the base image pushed
    to the three registries in turn. Each push is to a registry that has none of its blobs
    (a second repository on the same registry would get them by cross-repository mount)."""
    each = []
    for registry in registries:
        pushed = pusher.push(registry, "timing/app")
        assert pushed.errors == []
        each.append(pushed.seconds)
    with capsys.disabled():
        print(f"\npush {BASE_IMAGE}: one registry {each[0]:.2f}s; "
              f"three in turn {sum(each):.2f}s ({', '.join(f'{s:.2f}' for s in each)})")
