"""Credentials stay with their host: autopack's registry client against loopback servers
that record every header they get. The "registry" hands out an upload ``Location`` on a
second server, redirects a blob read there, or names a token service; the second server (a
different host:port is another host) must never see an Authorization header, the token
service must be the only place the password goes, and a challenge from anywhere but the
registry is never answered."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from autopack.errors import PushError
from autopack.push.credentials import RegistryAuth
from autopack.push.registry import RegistryClient
from tests.servers.recording import Answer, Recording, Seen

USER, PASSWORD = "ada", "pa55-Scope-9"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
TOKEN = "tok-for-team-app"
REPOSITORY = "team/app"
DATA = b"layer bytes " * 1000
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()
LOGIN = RegistryAuth(USER, PASSWORD, "test")


@pytest.fixture
def servers() -> Iterator[list[Recording]]:
    started: list[Recording] = []
    yield started
    for server in started:
        server.stop()


def serve(started: list[Recording], respond, name: str) -> Recording:
    server = Recording(respond, name).start()
    started.append(server)
    return server


def storage_answer(seen: Seen) -> Answer:
    """The other host: takes uploads, serves the blob, and asks for nothing."""
    if seen.method == "PUT":
        return 201, {"Docker-Content-Digest": DIGEST}, b""
    return 200, {"Content-Type": "application/octet-stream"}, DATA


def fake_registry(storage: Recording, *, accept: str, challenge: str):
    """A registry that wants ``accept`` as Authorization, challenges with ``challenge``, puts
    uploads on ``storage`` and redirects blob reads there (as registries on S3 do)."""

    def respond(seen: Seen) -> Answer:
        if seen.authorization != accept:
            return 401, {"WWW-Authenticate": challenge, "Content-Type": "application/json"}, b'{"errors":[{"code":"UNAUTHORIZED"}]}'
        if seen.path == "/v2/":
            return 200, {}, b"{}"
        if seen.method == "POST" and seen.path == f"/v2/{REPOSITORY}/blobs/uploads/":
            return 202, {"Location": f"{storage.url}/upload/one?state=x", "Docker-Upload-UUID": "one"}, b""
        if seen.path == f"/v2/{REPOSITORY}/blobs/{DIGEST}":
            return 307, {"Location": f"{storage.url}/blobs/{DIGEST}"}, b""
        return 404, {}, b""

    return respond


def blob_file(tmp_path: Path) -> Path:
    path = tmp_path / "blob"
    path.write_bytes(DATA)
    return path


def test_basic_login_is_not_sent_to_an_upload_location_on_another_host(servers, tmp_path):
    storage = serve(servers, storage_answer, "storage")
    registry = serve(servers, fake_registry(storage, accept=BASIC, challenge='Basic realm="r"'), "registry")
    client = RegistryClient(registry.host, LOGIN, retries=0, timeout=5)
    client.upload_blob(REPOSITORY, DIGEST, blob_file(tmp_path), lambda sent: None)
    assert [s.method for s in storage.seen] == ["PUT"] and storage.seen[0].body == DATA
    assert storage.authorizations() == [], "the registry's login went to another host"
    assert BASIC in registry.authorizations()


def test_a_blob_redirected_to_another_host_is_fetched_without_the_login(servers, tmp_path):
    storage = serve(servers, storage_answer, "storage")
    registry = serve(servers, fake_registry(storage, accept=BASIC, challenge='Basic realm="r"'), "registry")
    client = RegistryClient(registry.host, LOGIN, retries=0, timeout=5)
    client.download_blob(REPOSITORY, DIGEST, tmp_path / "got")
    assert (tmp_path / "got").read_bytes() == DATA
    assert [s.method for s in storage.seen] == ["GET"]
    assert storage.authorizations() == []


def test_bearer_token_the_password_goes_only_to_the_token_service(servers, tmp_path):
    def token_answer(seen: Seen) -> Answer:
        if seen.authorization != BASIC:
            return 401, {"WWW-Authenticate": 'Basic realm="token"'}, b""
        return 200, {"Content-Type": "application/json"}, json.dumps({"token": TOKEN}).encode()

    tokens = serve(servers, token_answer, "token-service")
    storage = serve(servers, storage_answer, "storage")
    challenge = f'Bearer realm="{tokens.url}/token",service="registry.test",scope="repository:{REPOSITORY}:pull,push"'
    registry = serve(servers, fake_registry(storage, accept=f"Bearer {TOKEN}", challenge=challenge), "registry")
    client = RegistryClient(registry.host, LOGIN, retries=0, timeout=5)
    client.check_push(REPOSITORY)
    client.upload_blob(REPOSITORY, DIGEST, blob_file(tmp_path), lambda sent: None)
    client.download_blob(REPOSITORY, DIGEST, tmp_path / "got")
    assert set(tokens.authorizations()) == {BASIC}
    assert tokens.seen[0].path.startswith("/token?") and "service=registry.test" in tokens.seen[0].path
    assert set(registry.authorizations()) == {f"Bearer {TOKEN}"}, "the registry got the password"
    assert storage.authorizations() == [], "the token went to another host"
    for server in (registry, storage):
        assert not any(PASSWORD in json.dumps(s.headers) or PASSWORD.encode() in s.body for s in server.seen)


def test_a_token_realm_over_plain_http_off_loopback_gets_no_login(servers):
    storage = serve(servers, storage_answer, "storage")
    registry = serve(servers, fake_registry(storage, accept="never", challenge='Bearer realm="http://token.example.invalid/token",service="s"'), "registry")
    client = RegistryClient(registry.host, LOGIN, retries=0, timeout=5)
    with pytest.raises(PushError, match="not https") as raised:
        client.check_login()
    assert "http://token.example.invalid" in raised.value.message


def test_a_challenge_from_another_host_is_not_answered(servers, tmp_path):
    """Storage that a blob read was redirected to asks for a login with its own realm: the
    client must not send the registry's login there."""

    def hostile_storage(seen: Seen) -> Answer:
        return 401, {"WWW-Authenticate": f'Bearer realm="http://{seen.headers["host"]}/token",service="steal"'}, b""

    storage = serve(servers, hostile_storage, "storage")
    registry = serve(servers, fake_registry(storage, accept=BASIC, challenge='Basic realm="r"'), "registry")
    client = RegistryClient(registry.host, LOGIN, retries=0, timeout=5)
    client.check_login()  # logged in: the blob GET is sent with the login and redirected
    with pytest.raises(PushError):
        client.download_blob(REPOSITORY, DIGEST, tmp_path / "got")
    assert storage.seen and storage.authorizations() == []
    assert not any(s.path.startswith("/token") for s in storage.seen)


@pytest.mark.parametrize(
    ("url", "own"),
    [
        ("https://registry.example/v2/", True),
        ("https://REGISTRY.example:443/v2/x", True),
        ("http://registry.example/v2/", False),  # https → http: never in clear text
        ("https://registry.example:5000/v2/", False),
        ("https://storage.example/v2/", False),
        ("https://registry.example.evil/v2/", False),
    ],
)
def test_only_the_registrys_own_scheme_host_and_port_count_as_the_registry(url, own):
    client = RegistryClient("registry.example", LOGIN, retries=0, timeout=5)
    client._base = "https://registry.example"  # what _base_url found: no probe of a name that does not resolve
    assert client._is_own(url) is own
