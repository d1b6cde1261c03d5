"""autopack's registry client against a real registry (Debian's docker-registry) behind the
fault proxy: what each fault looks like on the wire, and how the client takes it — resets,
bodies cut short and stalls retried (a blob read resumed with Range from the byte it broke
off at), Retry-After honoured in both of its forms, hard failures never retried, and no
``requests`` exception ever escaping as anything but ``PushError``."""

from __future__ import annotations

import email.utils
import hashlib
import os
import time
from collections.abc import Iterator

import pytest
import requests

from autopack.errors import PushError
from autopack.push import registry as registry_api
from autopack.push import replicate
from autopack.push.credentials import RegistryAuth
from autopack.push.registry import RegistryClient
from tests.servers.fault_proxy import FaultProxy
from tests.servers.registry import Registry

REPOSITORY = "team/app"


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, bytes, str]]:
    """One registry holding one 3 MB blob: (registry, its bytes, its digest)."""
    registry = Registry(tmp_path_factory.mktemp("registry") / "r", user="ada", password="pa55").start()
    data = os.urandom(3_000_000)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    opened = requests.post(f"{registry.url}/v2/{REPOSITORY}/blobs/uploads/", auth=registry.auth, timeout=10)
    location = requests.compat.urljoin(registry.url + "/", opened.headers["Location"])
    assert requests.put(location, params={"digest": digest}, data=data, auth=registry.auth, timeout=30).status_code == 201
    try:
        yield registry, data, digest
    finally:
        registry.stop()


LOGIN = RegistryAuth("ada", "pa55", "test")


@pytest.fixture
def proxy() -> Iterator[list[FaultProxy]]:
    started: list[FaultProxy] = []
    yield started
    for p in started:
        p.stop()


def faulty(started: list[FaultProxy], registry: Registry, **how) -> FaultProxy:
    p = FaultProxy(registry, **how).start()
    started.append(p)
    return p


# --- the proxy's faults, as any HTTP client sees them ---------------------------------------


@pytest.mark.parametrize("mode", ["reset", "truncate", "stall", "slow"])
def test_proxy_breaks_a_read_as_its_mode_says_then_passes_reads_through(stored, proxy, mode):
    registry, data, digest = stored
    p = faulty(proxy, registry, kind="blob-get", mode=mode, times=1, stall=30, piece=1024, pause=0.3, pieces=5)
    url = f"{p.url}/v2/{REPOSITORY}/blobs/{digest}"
    started = time.monotonic()
    if mode == "slow":
        answer = requests.get(url, auth=registry.auth, timeout=1)  # never silent for 1 s, though it takes longer
        assert answer.content == data and time.monotonic() - started >= 1.4
    else:
        with pytest.raises(requests.RequestException) as raised:
            requests.get(url, auth=registry.auth, timeout=1)  # the body is read in full before it returns
        expected = {"reset": "Connection reset by peer", "truncate": "IncompleteRead(1500000 bytes read, 1500000 more expected)", "stall": "Read timed out"}[mode]
        assert expected in str(raised.value)
        assert time.monotonic() - started < 5, "a stall the client gave up on held it for the whole stall"
    assert p.injected == 1 and p.faults == [("GET", f"/v2/{REPOSITORY}/blobs/{digest}", mode)]
    assert requests.get(url, auth=registry.auth, timeout=5).content == data  # times=1: then faithful
    assert requests.head(url, auth=registry.auth, timeout=5).status_code == 200 and p.injected == 1  # nothing to break: not counted


@pytest.mark.parametrize("mode", ["reset", "truncate", "stall", "slow"])
def test_proxy_breaks_an_upload_as_its_mode_says(stored, proxy, mode):
    registry, _, _ = stored
    data = os.urandom(2_000_000)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    p = faulty(proxy, registry, kind="blob-upload", mode=mode, times=1, stall=30, piece=64 * 1024, pause=0.2, pieces=5)
    opened = requests.post(f"{p.url}/v2/{REPOSITORY}/blobs/uploads/", auth=registry.auth, timeout=5)
    assert opened.status_code == 202 and p.injected == 0  # a POST without a body has nothing to break
    location = requests.compat.urljoin(p.url + "/", opened.headers["Location"])
    started = time.monotonic()
    if mode == "slow":
        assert requests.put(location, params={"digest": digest}, data=data, auth=registry.auth, timeout=5).status_code == 201
        assert time.monotonic() - started >= 0.9
    else:
        with pytest.raises(requests.RequestException) as raised:
            requests.put(location, params={"digest": digest}, data=data, auth=registry.auth, timeout=1)
        expected = {"reset": "Connection reset by peer", "truncate": "Remote end closed connection without response", "stall": "timed out"}[mode]
        assert expected in str(raised.value)
        assert time.monotonic() - started < 5
    stored_there = requests.head(f"{registry.url}/v2/{REPOSITORY}/blobs/{digest}", auth=registry.auth, timeout=5).status_code
    assert stored_there == (200 if mode == "slow" else 404), "the registry took a broken upload"
    assert p.injected == 1 and p.faults[0][2] == mode


def test_proxy_is_busy_for_a_while_with_retry_after_as_a_date(stored, proxy):
    registry, _, _ = stored
    p = faulty(proxy, registry, status=503, seconds=1.0, retry_after=5, retry_after_date=True)
    first = requests.get(f"{p.url}/v2/", timeout=5)
    assert first.status_code == 503 and first.json()["errors"][0]["code"] == "UNAVAILABLE"
    when = email.utils.parsedate_to_datetime(first.headers["Retry-After"]).timestamp()
    assert 3 <= when - time.time() <= 6
    time.sleep(1.1)
    assert requests.get(f"{p.url}/v2/", timeout=5).status_code == 401  # the registry's own answer again
    assert p.injected == 1


# --- the client -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["truncate", "stall"])
def test_a_broken_blob_read_resumes_from_where_it_stopped(stored, proxy, tmp_path, mode):
    registry, data, digest = stored
    p = faulty(proxy, registry, kind="blob-get", mode=mode, times=1, stall=30)
    client = RegistryClient(p.host, LOGIN, retries=3, timeout=1)
    started = time.monotonic()
    tries = client.download_blob(REPOSITORY, digest, tmp_path / "blob")
    assert (tmp_path / "blob").read_bytes() == data
    assert tries == 2 and client.most_tries == 2
    assert p.faults == [("GET", f"/v2/{REPOSITORY}/blobs/{digest}", mode)]
    deadline = time.monotonic() + 3  # the proxy logs an exchange when its handler is done
    while 206 not in (answered := [status for method, _, status in p.log if method == "GET"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 206 in answered and 200 not in answered[answered.index(206):], p.log  # the second read asked for the rest only
    assert time.monotonic() - started < 10, "the stall was waited out, not cut by the read timeout"


def test_retry_after_is_honoured_as_an_http_date(stored, proxy):
    registry, _, _ = stored
    p = faulty(proxy, registry, kind="ping", status=429, retry_after=3, retry_after_date=True, times=1)
    heard: list[str] = []
    client = RegistryClient(p.host, LOGIN, retries=3, timeout=2, on_retry=heard.append)
    started = time.monotonic()
    client.check_login()
    waited = time.monotonic() - started
    assert 1.9 <= waited <= 5, f"waited {waited:.1f} s for a Retry-After 3 s away (an HTTP-date, so 2–3 s)"
    assert len(heard) == 1 and "HTTP 429" in heard[0] and "try 2 of 4" in heard[0]


def test_hard_failures_are_never_retried(stored, proxy):
    registry, _, _ = stored
    p = faulty(proxy, registry, kind="blob-get", mode="reset", times=0)  # counting only
    client = RegistryClient(p.host, LOGIN, retries=3, timeout=2)
    with pytest.raises(PushError) as missing:
        client.raw_manifest(REPOSITORY, "sha256:" + "0" * 64)
    assert "HTTP 404 MANIFEST_UNKNOWN" in missing.value.message
    assert p.requests["manifest-get"] == 2  # the anonymous try, then with the login: no retry
    wrong = RegistryClient(p.host, RegistryAuth("ada", "not-it", "test"), retries=3, timeout=2)
    with pytest.raises(PushError) as refused:
        wrong.check_push(REPOSITORY)
    assert "refused the login" in refused.value.message
    assert wrong.retried == 0 and client.retried == 0


# --- the pieces that need no server -------------------------------------------------------


def test_retry_after_forms():
    assert registry_api.retry_after("7") == 7.0
    assert registry_api.retry_after(None) is None and registry_api.retry_after("soon") is None
    assert registry_api.retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # already past
    ahead = registry_api.retry_after(email.utils.formatdate(time.time() + 100, usegmt=True))
    assert ahead is not None and 98 <= ahead <= 100


def test_the_budget_counts_and_times():
    """--push-retries 3: at least 3 retries, and as long as the next try starts within 45 s
    of the first failure; 0: none."""
    import tenacity

    class State:
        def __init__(self, attempt: int, sleep: float) -> None:
            self.attempt_number, self.upcoming_sleep = attempt, sleep

    none = registry_api.Budget(0)
    assert none(State(1, 0.5)) is True
    budget = registry_api.Budget(3)
    assert budget.seconds == 45
    assert budget(State(1, 0.5)) is False and budget(State(3, 60.0)) is False  # the count first
    assert budget(State(4, 0.5)) is False  # then the time: 45 s are far off
    budget.first_failure = time.monotonic() - 40
    assert budget(State(9, 4.0)) is False and budget(State(9, 6.0)) is True
    assert budget.label(2) == "2 of 4" and budget.label(7) == "7 (retrying for up to 45 s)"
    assert isinstance(registry_api.retrying(3)[0], tenacity.Retrying)


@pytest.mark.parametrize("manifest, complaint", [
    (b"{not json", "is not one autopack can read"),
    (b"[1, 2]", "is not one autopack can read"),
    (b'{"mediaType": "application/vnd.oci.image.manifest.v1+json", "config": {"digest": "sha256:' + b"a" * 64 + b'"}}', "is not one autopack can read"),
    (b'{"mediaType": "application/vnd.oci.image.manifest.v1+json", "config": {"digest": "md5:x"}, "layers": []}', "other than a sha256 digest"),
    (b'{"mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}', "cannot copy a application/vnd.oci.image.index.v1+json"),
])
def test_a_manifest_of_the_wrong_shape_is_a_push_error(manifest, complaint):
    media_type = "application/vnd.oci.image.index.v1+json" if b"index" in manifest else "application/json"
    with pytest.raises(PushError) as raised:
        replicate._blobs(manifest, media_type, "r.example/team/app@sha256:abc")
    assert complaint in raised.value.message
