"""autopack's registry client against Debian's real docker-registry with token auth
(``auth: token``) and the loopback token service of tests/servers/token_auth.py: push rights
checked, a blob uploaded and read back, and a wrong login refused. Every token request
carries the login; which requests the registry itself gets without it is shown on the wire
by tests/push/test_credential_scope.py."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator

import pytest

from autopack.errors import PushError
from autopack.push.credentials import RegistryAuth
from autopack.push.registry import RegistryClient
from tests.servers.token_auth import TokenRegistry, TokenService

USER, PASSWORD = "tokenuser", "t0ken-Client-Pass"
REPOSITORY = "team/app"


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenRegistry]:
    with TokenService(USER, PASSWORD) as tokens, TokenRegistry(tmp_path_factory.mktemp("token") / "r", tokens) as registry:
        yield registry


def test_check_push_upload_and_read_back_with_bearer_tokens(token_registry, tmp_path):
    tokens = token_registry.tokens
    before = len(tokens.seen)
    client = RegistryClient(token_registry.host, RegistryAuth(USER, PASSWORD, "test"), retries=0, timeout=10)
    client.check_push(REPOSITORY)  # opens an upload and cancels it: the cancel needs "*", which push lacks
    data = os.urandom(200_000)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (tmp_path / "blob").write_bytes(data)
    assert not client.blob_exists(REPOSITORY, digest)
    client.upload_blob(REPOSITORY, digest, tmp_path / "blob", lambda sent: None)
    assert client.blob_exists(REPOSITORY, digest)
    client.download_blob(REPOSITORY, digest, tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == data
    basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    asked = tokens.seen[before:]
    assert asked and {s.authorization for s in asked} == {basic}
    assert any("scope=repository%3Ateam%2Fapp%3Apull%2Cpush" in s.path for s in asked)


def test_a_wrong_password_is_refused_as_a_login(token_registry):
    client = RegistryClient(token_registry.host, RegistryAuth(USER, "wrong", "test"), retries=0, timeout=10)
    with pytest.raises(PushError, match="refused the login"):
        client.check_push(REPOSITORY)
