"""The svn test repository served over HTTPS by a real Apache httpd with mod_dav_svn, on
loopback, with a self-signed certificate (so svn's own verification fails, as against a
company CA the machine does not know) and basic auth.

Import the fixture into a test module: ``from tests.source.svn_https import svn_https``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.source.svn_fixtures import _free_port, build_repository

APACHE = Path("/usr/sbin/apache2")
MODULES = Path("/usr/lib/apache2/modules")
NEEDED = ["mpm_event", "authn_core", "authn_file", "authz_core", "authz_user", "auth_basic", "dav", "dav_svn", "ssl"]


@dataclass(frozen=True)
class SvnHttpsServer:
    url: str  # https://127.0.0.1:PORT/svn/repo (the repository root)
    username: str
    password: str
    fingerprint: str  # SHA-1 of the certificate, as svn prints it (aa:bb:…)
    log: Path  # Apache's access log: who asked for what, with which user


def _certificate(directory: Path) -> tuple[Path, Path, str]:
    key, cert = directory / "server.key", directory / "server.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    digest = hashlib.sha1(der).hexdigest()
    return key, cert, ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _config(base: Path, port: int, repo: Path, key: Path, cert: Path, htpasswd: Path) -> str:
    loads = "\n".join(f"LoadModule {m}_module {MODULES}/mod_{m}.so" for m in NEEDED)
    # As root Apache must hand its workers to another user; the repository is made theirs.
    user = "User www-data\nGroup www-data\n" if os.geteuid() == 0 else ""
    return f"""{loads}
{user}ServerRoot {base}
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile {base}/httpd.pid
DefaultRuntimeDir {base}
Mutex file:{base} default
ErrorLog {base}/error.log
LogFormat "%u %m %U %>s" plain
CustomLog {base}/access.log plain
SSLEngine on
SSLCertificateFile {cert}
SSLCertificateKeyFile {key}
<Location /svn/{repo.name}>
  DAV svn
  SVNPath {repo}
  AuthType Basic
  AuthName "autopack-test"
  AuthUserFile {htpasswd}
  Require valid-user
</Location>
"""


def _wait_until_serving(port: int, proc: subprocess.Popen, error_log: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"apache2 exited with {proc.returncode}: {error_log.read_text() if error_log.exists() else ''}")
        try:
            ssl.get_server_certificate(("127.0.0.1", port), timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("apache2 did not start serving")


@pytest.fixture(scope="session")
def svn_https() -> Iterator[SvnHttpsServer]:
    if not (APACHE.exists() and all((MODULES / f"mod_{m}.so").exists() for m in NEEDED)):
        pytest.fail("apache2 with mod_dav_svn and mod_ssl is missing: run scripts/setup (apt-get install apache2 libapache2-mod-svn)")
    # Apache's workers run as www-data when we are root: they must be able to reach the
    # repository, which pytest's own (0700) temporary directories would not let them.
    base = Path(tempfile.mkdtemp(prefix="autopack-svn-https-"))
    base.chmod(0o755)
    username, password = "builder", "Https-Svn-s3cret"
    repo, _ = build_repository(base, username, password)
    key, cert, fingerprint = _certificate(base)
    htpasswd = base / "htpasswd"
    subprocess.run(["htpasswd", "-b", "-c", "-B", str(htpasswd), username, password], check=True, capture_output=True)
    if os.geteuid() == 0:
        for path in [repo, *repo.rglob("*")]:
            shutil.chown(path, "www-data", "www-data")
        htpasswd.chmod(0o644)
    port = _free_port()
    conf = base / "httpd.conf"
    conf.write_text(_config(base, port, repo, key, cert, htpasswd))
    proc = subprocess.Popen([str(APACHE), "-f", str(conf), "-DFOREGROUND"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_until_serving(port, proc, base / "error.log")
        yield SvnHttpsServer(f"https://127.0.0.1:{port}/svn/{repo.name}", username, password, fingerprint, base / "access.log")
    finally:
        proc.terminate()  # SIGTERM: Apache stops its workers and exits
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(base, ignore_errors=True)
