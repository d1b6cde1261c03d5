"""`autopack build --push` where credentials must stay with their host: two destinations on
one registry (two repositories of the htpasswd registry), and a registry with
distribution's token auth (``auth: token``) whose token service on loopback is the only
place the password is good for — and the only place autopack sends it. Digests are read
with the test servers' own HTTP client, never autopack's."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator

import pytest

from tests.conftest import autopack, copy_fixture
from tests.servers.fixtures import B_PASSWORD, B_USER, registries  # noqa: F401  (fixtures)
from tests.servers.token_auth import TokenRegistry, TokenService

pytestmark = pytest.mark.e2e
T_USER, T_PASSWORD = "tokenuser", "t0ken-Service-Pass"


def login_env(host: str, user: str, password: str) -> dict[str, str]:
    key = re.sub(r"[^A-Z0-9]", "_", host.upper())
    return {f"AUTOPACK_REGISTRY_USER_{key}": user, f"AUTOPACK_REGISTRY_PASSWORD_{key}": password}


@pytest.fixture
def token_registry(tmp_path) -> Iterator[TokenRegistry]:
    with TokenService(T_USER, T_PASSWORD) as tokens, TokenRegistry(tmp_path / "token-registry", tokens) as registry:
        yield registry


def test_two_destinations_on_one_registry_get_one_digest(tmp_path, image_name, registries):  # noqa: F811
    a, b, c = registries
    project = copy_fixture("hello-service", tmp_path)
    result_file = tmp_path / "result.json"
    run = autopack(
        "build", project, "--image", image_name, "--skip-tests", "-t", "{version}",
        "--push", f"{b.host}/team/one", "--push", f"{b.host}/team/two", "--result-file", result_file,
        env=login_env(b.host, B_USER, B_PASSWORD),
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    destinations = json.loads(result_file.read_text())["destinations"]
    assert [(d["repository"], d["status"]) for d in destinations] == [("team/one", "ok"), ("team/two", "ok")]
    [digest] = {d["digest"] for d in destinations}
    assert b.manifest_digest("team/one", "1.0.0") == b.manifest_digest("team/two", "1.0.0") == digest
    assert B_PASSWORD not in run.stdout + run.stderr + result_file.read_text()


def test_push_to_a_token_auth_registry_sends_the_password_only_to_its_token_service(tmp_path, image_name, registries, token_registry):  # noqa: F811
    """The engine seeds the open registry ``a``; autopack's own client checks push rights on
    the token registry before Maven, copies the image there and verifies it: every one of
    those calls gets a Bearer token from the realm with the login."""
    a, b, c = registries
    tokens = token_registry.tokens
    project = copy_fixture("hello-service", tmp_path)
    result_file = tmp_path / "result.json"
    run = autopack(
        "build", project, "--image", image_name, "--skip-tests", "-t", "{version}",
        "--push", f"{a.host}/team/hello", "--push", f"{token_registry.host}/team/hello", "--result-file", result_file,
        env=login_env(token_registry.host, T_USER, T_PASSWORD),
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr + token_registry.log_tail()
    destinations = {d["registry"]: d for d in json.loads(result_file.read_text())["destinations"]}
    assert {h: d["status"] for h, d in destinations.items()} == {a.host: "ok", token_registry.host: "ok"}
    digest = destinations[a.host]["digest"]
    assert destinations[token_registry.host]["digest"] == digest
    assert token_registry.manifest_digest("team/hello", "1.0.0") == a.manifest_digest("team/hello", "1.0.0") == digest
    basic = "Basic " + base64.b64encode(f"{T_USER}:{T_PASSWORD}".encode()).decode()
    asked = [s for s in tokens.seen if s.path.startswith("/token")]
    assert asked and {s.authorization for s in asked} == {basic}, "every token request carried the login"
    assert any("push" in s.path for s in asked)
    assert T_PASSWORD not in run.stdout + run.stderr + result_file.read_text()
