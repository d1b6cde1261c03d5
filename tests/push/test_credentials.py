"""Registry logins from a Docker config, resolved through the docker SDK as the docker CLI
does: ``credHelpers``, ``credsStore``, ``auths``. The credential helper is a real program on
PATH speaking the helper protocol (``get``/``store``/``erase`` on stdin), storing in a file."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from autopack import secrets
from autopack.errors import UsageError
from autopack.push import credentials
from autopack.push.credentials import RegistryAuth

HELPER = """#!{python}
import json, os, sys
store = os.environ["AUTOPACK_TEST_HELPER_STORE"]
data = json.load(open(store)) if os.path.exists(store) else {{}}
action = sys.argv[1]
if action == "get":
    server = sys.stdin.read().strip()
    if server not in data:
        print("credentials not found in native keychain")
        sys.exit(1)
    print(json.dumps({{"ServerURL": server, **data[server]}}))
elif action == "store":
    entry = json.loads(sys.stdin.read())
    data[entry["ServerURL"]] = {{"Username": entry["Username"], "Secret": entry["Secret"]}}
    json.dump(data, open(store, "w"))
"""


@pytest.fixture
def helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``docker-credential-autopacktest`` on PATH; returns its store file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / "docker-credential-autopacktest"
    program.write_text(HELPER.format(python=sys.executable))
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    store = tmp_path / "helper-store.json"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("AUTOPACK_TEST_HELPER_STORE", str(store))
    monkeypatch.setattr(secrets, "_secrets", set())  # the registry is process-wide: an empty one per test
    monkeypatch.setattr(secrets, "_held", set())
    return store


def config(tmp_path: Path, data: dict) -> dict[str, str]:
    directory = tmp_path / "docker-config"
    directory.mkdir(exist_ok=True)
    (directory / "config.json").write_text(json.dumps(data))
    return {"DOCKER_CONFIG": str(directory), "PATH": os.environ["PATH"], "AUTOPACK_TEST_HELPER_STORE": os.environ["AUTOPACK_TEST_HELPER_STORE"]}


@pytest.mark.parametrize("key", ["credHelpers", "credsStore"])
def test_a_helper_password_is_used_as_read_every_time(tmp_path: Path, helper: Path, key: str) -> None:
    password = "hunter2-from-the-helper"
    helper.write_text(json.dumps({"registry.example.com:5000": {"Username": "ci", "Secret": password}}))
    environ = config(tmp_path, {key: {"registry.example.com:5000": "autopacktest"} if key == "credHelpers" else "autopacktest"})

    first = credentials.resolve("registry.example.com:5000", None, environ)
    second = credentials.resolve("registry.example.com:5000", None, environ)  # the password is a registered secret now

    assert first == second == RegistryAuth("ci", password, first.origin)
    assert f"{key} (autopacktest)" in first.origin and password not in first.origin
    assert secrets.redact(password) != password  # and it is redacted from every output


def test_a_store_without_the_entry_falls_back_to_auths(tmp_path: Path, helper: Path) -> None:
    import base64

    token = base64.b64encode(b"old:from-auths").decode()
    environ = config(tmp_path, {"credsStore": "autopacktest", "auths": {"https://registry.example.com": {"auth": token}}})
    assert credentials.resolve("registry.example.com", None, environ) == RegistryAuth("old", "from-auths", "Docker config auths")
    assert credentials.resolve("other.example.com", None, environ) is None


def test_store_writes_through_the_helper_and_resolve_reads_it_back(tmp_path: Path, helper: Path) -> None:
    environ = config(tmp_path, {"credsStore": "autopacktest"})
    path = credentials.store("registry.example.com", RegistryAuth("ci", "s3cret-stored"), environ)
    assert json.loads(helper.read_text()) == {"registry.example.com": {"Username": "ci", "Secret": "s3cret-stored"}}
    assert "s3cret-stored" not in path.read_text()  # the config names the helper, never the secret
    assert credentials.resolve("registry.example.com", None, environ).password == "s3cret-stored"


def test_a_helper_name_that_is_not_a_name_is_refused(tmp_path: Path, helper: Path) -> None:
    environ = config(tmp_path, {"credHelpers": {"registry.example.com": "../../bin/sh"}})
    with pytest.raises(UsageError, match="credential helper name"):
        credentials.resolve("registry.example.com", None, environ)


def test_an_unreadable_auth_entry_is_a_usage_error(tmp_path: Path, helper: Path) -> None:
    environ = config(tmp_path, {"auths": {"registry.example.com": {"auth": "not base64!"}}})
    with pytest.raises(UsageError, match="unreadable 'auth'"):
        credentials.resolve("registry.example.com", None, environ)
