"""svn over HTTPS (Apache + mod_dav_svn, tests/source/svn_https.py) with a certificate svn does
not trust: it fails closed unless its fingerprint is configured — with each backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from autopack.errors import SourceError
from autopack.source import svn
from autopack.source.svn_client import TRUST_FINGERPRINT_ENV
from tests.conftest import autopack
from tests.source.svn_fixtures import pom_version
from tests.source.svn_https import SvnHttpsServer, svn_https  # noqa: F401  (fixture)
from tests.source.test_svn import Run, backend  # noqa: F401  (fixture)


@pytest.fixture
def https_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str, svn_https: SvnHttpsServer) -> Run:  # noqa: F811
    monkeypatch.setenv("AUTOPACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(svn.USER_ENV, svn_https.username)
    monkeypatch.setenv(svn.PASSWORD_ENV, svn_https.password)
    monkeypatch.delenv(TRUST_FINGERPRINT_ENV, raising=False)
    return Run(tmp_path)


def requests_for(server: SvnHttpsServer, path: str) -> list[str]:
    return [line for line in server.log.read_text().splitlines() if path in line] if server.log.exists() else []


def test_an_untrusted_certificate_fails_closed_and_names_its_fingerprint(https_run: Run, svn_https: SvnHttpsServer, tmp_path: Path) -> None:  # noqa: F811
    with pytest.raises(SourceError) as caught:
        https_run(f"{svn_https.url}/trunk")

    error = caught.value
    assert error.exit_code == 3
    assert "certificate" in error.message and "not trusted" in error.message and svn_https.url in error.message
    assert TRUST_FINGERPRINT_ENV in error.hint and svn_https.fingerprint in error.hint
    assert svn_https.password not in error.message + error.hint
    assert not any((tmp_path / "cache").rglob("*.svn")), "nothing was checked out"


def test_a_wrong_fingerprint_still_fails_closed(https_run: Run, svn_https: SvnHttpsServer, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv(TRUST_FINGERPRINT_ENV, "00:" * 19 + "00")

    with pytest.raises(SourceError, match="not trusted"):
        https_run(f"{svn_https.url}/trunk")


def test_the_configured_fingerprint_is_trusted_for_this_run_only(https_run: Run, svn_https: SvnHttpsServer, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv(TRUST_FINGERPRINT_ENV, svn_https.fingerprint.upper())  # any case, with colons

    checkout = https_run(f"{svn_https.url}/trunk", revision="3")

    assert pom_version(checkout.path) == "1.1.0"
    assert (checkout.kind, checkout.revision, checkout.url) == ("svn", "3", f"{svn_https.url}/trunk")
    assert any(line.startswith(f"{svn_https.username} ") for line in requests_for(svn_https, "/svn/repo")), "the login was never used"
    # Trust was never stored: without the fingerprint the next run fails closed again.
    monkeypatch.delenv(TRUST_FINGERPRINT_ENV)
    with pytest.raises(SourceError, match="not trusted"):
        https_run(f"{svn_https.url}/trunk")


def test_on_the_command_line_probe_then_svn_refuse_and_the_fingerprint_lets_it_through(svn_https: SvnHttpsServer, tmp_path: Path) -> None:  # noqa: F811
    env = {"AUTOPACK_CACHE_DIR": str(tmp_path / "cache"), svn.USER_ENV: svn_https.username, svn.PASSWORD_ENV: svn_https.password}
    served_before = len(requests_for(svn_https, "/svn/repo"))

    # A bare https:// URL is probed (git or svn?): the probe will not talk to an untrusted server.
    probed = autopack("checkout", f"{svn_https.url}/trunk", tmp_path / "wc", env=env)
    assert probed.returncode == 3
    last = probed.stderr.splitlines()[-1]
    assert last.startswith(f"autopack: error: the certificate of {svn_https.url}/trunk is not trusted")
    assert "--vcs svn" in last and TRUST_FINGERPRINT_ENV in last and svn_https.fingerprint in last
    assert len(requests_for(svn_https, "/svn/repo")) == served_before, "a request got past the TLS handshake"

    # Said to be svn, svn itself refuses the certificate.
    refused = autopack("checkout", f"svn+{svn_https.url}/trunk", tmp_path / "wc", env=env)
    assert refused.returncode == 3
    assert refused.stderr.splitlines()[-1].startswith("autopack: error: the svn server's certificate")

    # With its fingerprint configured, the same command checks out.
    trusted = autopack("checkout", f"svn+{svn_https.url}/trunk", tmp_path / "wc", env={**env, TRUST_FINGERPRINT_ENV: svn_https.fingerprint})
    assert trusted.returncode == 0, trusted.stderr
    assert pom_version(tmp_path / "wc") == "1.1.0"
    everything = probed.stdout + probed.stderr + refused.stdout + refused.stderr + trusted.stdout + trusted.stderr
    assert svn_https.password not in everything
