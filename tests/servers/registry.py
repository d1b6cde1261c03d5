"""A real image registry on loopback: Debian's ``docker-registry`` (CNCF distribution 2.8)
serving from a tmp dir, optionally behind htpasswd basic auth, for the push tests.

``with Registry(tmp_path / "a") as a: a.host`` → ``"127.0.0.1:PORT"``, which the engine
treats as an insecure (plain HTTP) registry, as it does all of 127.0.0.0/8.

The helpers read the registry with ``requests``, never the docker SDK: a test that checks a
push made through the engine must not look through the same client that made it.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

BINARY = os.environ.get("AUTOPACK_TEST_REGISTRY", "/usr/bin/docker-registry")
REALM = "autopack-test"
# What `docker push` may have stored under a tag: both single-platform manifest kinds and
# both index kinds. Without an Accept header the registry answers with a schema1 conversion
# or a 404, whose digest is not the one the engine reports.
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
    )
)
_GUARD = Path(__file__).with_name("_orphan_guard.py")


class RegistryError(Exception):
    """The registry did not start, or a helper got an answer it cannot use."""


def free_port() -> int:
    # The port is free now; another process may take it before the registry binds it, so
    # start() retries on "address already in use".
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """One ``docker-registry serve`` on 127.0.0.1:<free port>, storing under ``root``.

    ``user``/``password`` turn on htpasswd auth (bcrypt, realm ``autopack-test``): ``GET /v2/``
    then answers 401 with ``WWW-Authenticate: Basic realm="autopack-test"``.
    ``relative_urls`` makes upload ``Location`` headers relative instead of absolute.
    """

    def __init__(
        self,
        root: Path,
        *,
        user: str | None = None,
        password: str | None = None,
        relative_urls: bool = False,
        name: str = "registry",
        start_timeout: float = 20.0,
    ) -> None:
        if (user is None) != (password is None):
            raise ValueError("give both user and password, or neither")
        self.root = Path(root)
        self.user = user
        self.password = password
        self.relative_urls = relative_urls
        self.name = name
        self.start_timeout = start_timeout
        self.port: int | None = None
        self.log_path = self.root / "registry.log"
        self._proc: subprocess.Popen[bytes] | None = None

    # --- addresses ------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, the registry part of an image reference."""
        if self.port is None:
            raise RegistryError(f"{self.name} is not started")
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def auth(self) -> tuple[str, str] | None:
        return (self.user, self.password) if self.user is not None and self.password is not None else None

    @property
    def auth_config(self) -> dict[str, str] | None:
        """What the docker SDK's ``push(..., auth_config=...)`` takes."""
        return {"username": self.user, "password": self.password} if self.auth else None

    def ref(self, repository: str, tag: str) -> str:
        return f"{self.host}/{repository}:{tag}"

    # --- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Registry:
        if self._proc is not None:
            return self
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "storage").mkdir(exist_ok=True)
        if self.auth:
            self._write_htpasswd()
        for attempt in range(5):
            self.port = free_port()
            self._launch()
            try:
                self._wait_ready()
                return self
            except _PortTaken:
                self.stop()
                continue
        raise RegistryError(f"{self.name}: no free port after 5 attempts; see {self.log_path}")

    def stop(self) -> None:
        """Terminate the registry and wait for it (the guard exits once it has reaped the
        registry; if it hangs, its whole process group is killed). Idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        atexit.unregister(self.stop)
        if proc.stdin:
            proc.stdin.close()  # the guard sees EOF and terminates the registry
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _launch(self) -> None:
        config = self.root / "config.yml"
        config.write_text(json.dumps(self._config(), indent=2))  # JSON is YAML
        with open(self.log_path, "ab") as log:
            log.write(f"--- {self.name} on {self.host} ---\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                [sys.executable, str(_GUARD), BINARY, "serve", str(config)],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # our own group: a terminal's Ctrl-C reaches us, not it
            )
        atexit.register(self.stop)

    def _config(self) -> dict[str, object]:
        config: dict[str, object] = {
            "version": "0.1",
            "log": {"level": "info", "formatter": "text", "fields": {"service": self.name}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.root / "storage")},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {
                "addr": self.host,
                "secret": secrets.token_hex(16),  # else a random one per start, and a warning
                "relativeurls": self.relative_urls,
                "headers": {"X-Content-Type-Options": ["nosniff"]},
            },
        }
        if self.auth:
            config["auth"] = {"htpasswd": {"realm": REALM, "path": str(self.root / "htpasswd")}}
        return config

    def _write_htpasswd(self) -> None:
        # -i: the password on stdin, not in argv where `ps` shows it.
        line = subprocess.run(
            ["htpasswd", "-Bin", str(self.user)],
            input=str(self.password),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        (self.root / "htpasswd").write_text(line + "\n")

    def _wait_ready(self) -> None:
        expected = 401 if self.auth else 200
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                tail = self.log_tail()
                if "address already in use" in tail:
                    raise _PortTaken()
                raise RegistryError(f"{self.name} exited with code {self._proc.returncode}:\n{tail}")
            try:
                status = requests.get(f"{self.url}/v2/", timeout=2).status_code
            except requests.ConnectionError:
                status = None
            if status == expected:
                return
            if status is not None:
                raise RegistryError(f"{self.name}: GET /v2/ answered {status}, expected {expected}")
            time.sleep(0.05)
        self.stop()
        raise RegistryError(f"{self.name} did not answer within {self.start_timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # --- reading what was pushed ----------------------------------------------------------

    def manifest_digest(self, repository: str, tag: str) -> str | None:
        """The ``Docker-Content-Digest`` the registry has for ``repository:tag``; None if absent."""
        response = requests.head(
            f"{self.url}/v2/{repository}/manifests/{tag}",
            headers={"Accept": MANIFEST_TYPES},
            auth=self.auth,
            timeout=10,
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise RegistryError(f"HEAD {repository}:{tag} on {self.name}: HTTP {response.status_code}")
        return response.headers["Docker-Content-Digest"]

    def tags(self, repository: str) -> list[str]:
        """The repository's tags, sorted; [] for an unknown repository."""
        response = requests.get(f"{self.url}/v2/{repository}/tags/list", auth=self.auth, timeout=10)
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            raise RegistryError(f"tags of {repository} on {self.name}: HTTP {response.status_code}")
        return sorted(response.json().get("tags") or [])

    def repositories(self) -> list[str]:
        response = requests.get(f"{self.url}/v2/_catalog", auth=self.auth, timeout=10)
        if response.status_code != 200:
            raise RegistryError(f"catalog of {self.name}: HTTP {response.status_code}")
        return sorted(response.json().get("repositories") or [])

    def __repr__(self) -> str:
        where = self.host if self.port else "not started"
        return f"Registry({self.name!r}, {where}, auth={'on' if self.auth else 'off'})"


class _PortTaken(Exception):
    pass


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
