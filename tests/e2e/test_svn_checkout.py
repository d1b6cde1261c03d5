"""``autopack checkout`` of svn sources through the installed command, against the real
svnserve of tests/source/svn_fixtures.py, with each svn backend. No Docker or Maven needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import autopack
from tests.source.svn_fixtures import SvnServer, pom_version, svn_server  # noqa: F401  (fixture)


@pytest.fixture(params=["pysvn", "cli"])
def env(request: pytest.FixtureRequest, tmp_path: Path, svn_server: SvnServer) -> dict[str, str]:  # noqa: F811
    return {
        "AUTOPACK_SVN_BACKEND": request.param,
        "AUTOPACK_CACHE_DIR": str(tmp_path / "cache"),
        "AUTOPACK_SVN_USER": svn_server.username,
        "AUTOPACK_SVN_PASSWORD": svn_server.password,
    }


def test_second_checkout_takes_the_switch_path(tmp_path: Path, env: dict[str, str], svn_server: SvnServer) -> None:  # noqa: F811
    first = autopack("checkout", f"{svn_server.svn_url}/trunk@2", tmp_path / "one", "--plain", env=env)
    assert first.returncode == 0, first.stderr
    assert f"svn checkout of {svn_server.svn_url}/trunk@2 into the cache" in first.stdout
    assert pom_version(tmp_path / "one") == "1.0.0"

    second = autopack(
        "checkout", svn_server.svn_url, tmp_path / "two", "--branch", "release-1", "--plain",
        "--result-file", tmp_path / "result.json", env=env,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert f"switching cached working copy to {svn_server.svn_url}/branches/release-1@6" in second.stdout
    assert pom_version(tmp_path / "two") == "1.2.0-SNAPSHOT"
    source = json.loads((tmp_path / "result.json").read_text())["source"]
    assert source["kind"] == "svn" and source["url"] == f"{svn_server.svn_url}/branches/release-1"
    assert (source["revision"], source["shortRevision"], source["branch"]) == ("6", "r6", "release-1")


def test_wrong_password_exits_3_and_never_shows_it(tmp_path: Path, env: dict[str, str], svn_server: SvnServer) -> None:  # noqa: F811
    wrong = "Not-The-Pa55word"
    run = autopack("checkout", f"{svn_server.svn_url}/trunk", tmp_path / "d", "--plain", env={**env, "AUTOPACK_SVN_PASSWORD": wrong})
    assert run.returncode == 3
    assert "refused the login of 'builder' (from AUTOPACK_SVN_USER/AUTOPACK_SVN_PASSWORD)" in run.stderr
    assert wrong not in run.stdout + run.stderr


def test_password_file(tmp_path: Path, env: dict[str, str], svn_server: SvnServer) -> None:  # noqa: F811
    secret = tmp_path / "svnpass"
    secret.write_text(svn_server.password + "\n")
    env = {k: v for k, v in env.items() if k != "AUTOPACK_SVN_PASSWORD"}
    run = autopack("checkout", f"{svn_server.svn_url}/trunk", tmp_path / "d", "--svn-tag", "v1.1.0", "--svn-password-file", secret, "--plain", env=env)
    assert run.returncode == 0, run.stderr
    assert pom_version(tmp_path / "d") == "1.1.0"
    assert svn_server.password not in run.stdout + run.stderr
