"""A real OpenSSH server on a loopback port, for the ssh:// engine tests: a throwaway host key
and client key under a temporary directory, root allowed in by that key only, and the
variables of ``env`` set in every session (``SetEnv``), so that the ``docker system
dial-stdio`` a client runs there reaches the engine ``DOCKER_HOST`` names.

The client side never reads or writes the real ``~/.ssh``: ``bin/ssh`` is a wrapper that runs
``/usr/bin/ssh -F <its own config>`` (the key, no known-hosts file, no prompts), and
``client_env`` puts it first on ``PATH`` for the child (the docker CLI and the docker SDK both
run ``ssh`` from ``PATH``).

``with Sshd(tmp, env={"DOCKER_HOST": url}) as sshd: sshd.url`` → ``ssh://root@127.0.0.1:PORT``.
"""

from __future__ import annotations

import atexit
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.servers.registry import free_port

SSHD = os.environ.get("AUTOPACK_TEST_SSHD", "/usr/sbin/sshd")  # sshd insists on an absolute path
SSH = "/usr/bin/ssh"
_GUARD = Path(__file__).with_name("_orphan_guard.py")


class SshdError(Exception):
    """sshd did not start, or did not let the test's key in."""


class Sshd:
    def __init__(self, root: Path, env: dict[str, str] | None = None, *, user: str = "root", start_timeout: float = 20.0) -> None:
        self.root = Path(root)
        self.env = dict(env or {})
        self.user = user
        self.start_timeout = start_timeout
        self.port: int | None = None
        self.log_path = self.root / "sshd.log"
        self.bin = self.root / "bin"  # the ssh wrapper
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """What DOCKER_HOST / --docker-host take."""
        if self.port is None:
            raise SshdError("sshd is not started")
        return f"ssh://{self.user}@127.0.0.1:{self.port}"

    @property
    def client_env(self) -> dict[str, str]:
        """The environment additions for a child that should reach this server: the wrapper
        first on PATH."""
        return {"PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', os.defpath)}"}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # --- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> Sshd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Sshd:
        if self._proc is not None:
            return self
        if not os.access(SSHD, os.X_OK):
            raise SshdError(f"{SSHD} is missing (apt-get install openssh-server; scripts/setup does)")
        self._write_keys_and_client()
        # Debian's sshd wants its privilege-separation directory; the init script would make it.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        for _ in range(5):
            self.port = free_port()
            self._launch()
            try:
                self._wait_ready()
            except _PortTaken:
                self.stop()
                continue
            except BaseException:
                self.stop()
                raise
            return self
        raise SshdError(f"sshd: no free port after 5 attempts; see {self.log_path}")

    def stop(self) -> None:
        """Stop the listener and every process below it: each connection's sshd runs in a
        session of its own and would outlive the listener, so the tree is taken before the
        listener goes. Bounded waits; idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        atexit.unregister(self.stop)
        pids = _descendants(proc.pid)  # while the tree still hangs together
        if proc.stdin:
            proc.stdin.close()  # the guard sees EOF and terminates the listener
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in pids:
                if _alive(pid):
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
            deadline = time.monotonic() + 5
            while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not any(_alive(pid) for pid in pids):
                break
        try:
            proc.wait(timeout=10)  # the guard exits once the listener has
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def sessions(self) -> list[str]:
        """The processes of connections still open: each connection's sshd and what its
        session runs (``docker system dial-stdio``), not the listener."""
        if self._proc is None:
            return []
        listeners = set(_children().get(self._proc.pid, []))
        return [_cmdline(pid) for pid in _descendants(self._proc.pid) if pid not in listeners and _alive(pid)]

    # --- helpers --------------------------------------------------------------------------

    def ssh(self, *command: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on the server through the wrapper, as a client of the tests would."""
        assert self.port is not None
        return subprocess.run(
            [str(self.bin / "ssh"), "-p", str(self.port), "-l", self.user, "--", "127.0.0.1", *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def _write_keys_and_client(self) -> None:
        keys = self.root / "keys"
        keys.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        os.chmod(keys, 0o700)
        for name in ("host_ed25519", "client_ed25519"):
            if not (keys / name).exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"autopack-test-{name}", "-f", str(keys / name)], check=True, capture_output=True, timeout=30)
        (keys / "authorized_keys").write_text((keys / "client_ed25519.pub").read_text())
        self.bin.mkdir(exist_ok=True)
        config = self.root / "ssh_config"
        config.write_text(
            "\n".join(
                [
                    "Host *",
                    f"  IdentityFile {keys / 'client_ed25519'}",
                    "  IdentitiesOnly yes",
                    "  IdentityAgent none",
                    "  StrictHostKeyChecking no",
                    "  UserKnownHostsFile /dev/null",
                    "  GlobalKnownHostsFile /dev/null",
                    "  BatchMode yes",
                    "  ConnectTimeout 10",
                    "  LogLevel ERROR",  # not "Permanently added … to the list of known hosts" on every connection
                    "",
                ]
            )
        )
        wrapper = self.bin / "ssh"
        wrapper.write_text(f'#!/bin/sh\nexec {SSH} -F {shlex.quote(str(config))} "$@"\n')
        wrapper.chmod(0o755)

    def _sshd_config(self) -> str:
        keys = self.root / "keys"
        lines = [
            f"ListenAddress 127.0.0.1:{self.port}",
            f"HostKey {keys / 'host_ed25519'}",
            f"PidFile {self.root / 'sshd.pid'}",
            f"AuthorizedKeysFile {keys / 'authorized_keys'}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            # The key lives under /tmp, whose sticky, world-writable mode StrictModes refuses.
            "StrictModes no",
            "PermitUserEnvironment no",
            "AllowTcpForwarding no",
            "X11Forwarding no",
            "PrintMotd no",
            "LogLevel VERBOSE",
        ]
        if self.env:
            lines.append("SetEnv " + " ".join(f"{k}={v}" for k, v in self.env.items()))
        return "\n".join(lines) + "\n"

    def _launch(self) -> None:
        config = self.root / "sshd_config"
        config.write_text(self._sshd_config())
        check = subprocess.run([SSHD, "-t", "-f", str(config)], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise SshdError(f"sshd refuses its config {config}: {check.stderr.strip()}")
        with open(self.log_path, "ab") as log:
            log.write(f"--- sshd on 127.0.0.1:{self.port} ---\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                [sys.executable, str(_GUARD), SSHD, "-D", "-e", "-f", str(config)],
                stdin=subprocess.PIPE,  # the guard stops sshd when this closes, however the tests end
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        atexit.register(self.stop)

    def _wait_ready(self) -> None:
        """The banner on the port, then one session that sees ``env``: the key is accepted and
        SetEnv took effect."""
        assert self._proc is not None and self.port is not None
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self._proc.poll() is not None:
                if "Address already in use" in self.log():
                    raise _PortTaken()
                raise SshdError(f"sshd exited with code {self._proc.returncode}:\n{self.log()[-2000:]}")
            if _banner(self.port):
                break
            if time.monotonic() > deadline:
                raise SshdError(f"sshd did not answer on 127.0.0.1:{self.port} within {self.start_timeout}s:\n{self.log()[-2000:]}")
            time.sleep(0.05)
        expected = list(self.env.values())
        probe = "; ".join(f'printf "%s\\n" "${k}"' for k in self.env) or "true"
        done = self.ssh(probe, timeout=max(5.0, deadline - time.monotonic()))
        seen = done.stdout.splitlines()[len(done.stdout.splitlines()) - len(expected) :]
        if done.returncode != 0 or seen != expected:
            raise SshdError(f"a session on 127.0.0.1:{self.port} failed or did not see {self.env}: exit {done.returncode}, {done.stdout!r} {done.stderr!r}\n{self.log()[-2000:]}")


class _PortTaken(Exception):
    pass


def _banner(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            return s.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        tree.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return tree


def _descendants(pid: int) -> list[int]:
    """``pid``'s whole tree below it, deepest first (the listener under the guard, each
    connection's sshd, the session's shell and command)."""
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found[::-1]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
