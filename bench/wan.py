"""Simulated wide-area links for bench/run: a network namespace per remote site behind a veth
pair, bandwidth capped with tc's token bucket (tbf) on both ends, latency added by a delaying
TCP relay (bench/relay.py) listening on 127.0.0.1 in the root namespace.

Everything made here is named ``apb-…`` and recorded, so ``Sites.close()`` (called from a
finally block and atexit) removes it, and ``sweep()`` removes what a killed earlier run left:
namespaces apb-*, the processes still running inside them (ours: started by this harness),
veths apb-*, and relays whose pids this harness wrote to its pid directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "apb-"
HERE = Path(__file__).resolve().parent
PID_DIR = Path.home() / ".cache" / "autopack-bench" / "pids"


def sh(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def _kill_pid(pid: int, sig: int = signal.SIGTERM) -> None:
    try:
        os.killpg(pid, sig)  # every child we start leads its own process group
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def sweep() -> list[str]:
    """Remove what an earlier, killed run of this harness left. Returns what was removed."""
    removed = []
    PID_DIR.mkdir(parents=True, exist_ok=True)
    for pidfile in PID_DIR.glob("*.pid"):
        try:
            pid = int(pidfile.read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            cmdline = ""
            pid = 0
        if pid and "bench/" in cmdline and str(HERE) in cmdline or (pid and "docker-registry" in cmdline and "apb" in cmdline):
            _kill_pid(pid, signal.SIGKILL)
            removed.append(f"process {pid}")
        pidfile.unlink(missing_ok=True)
    for ns in sh("ip", "netns", "list", check=False).stdout.split("\n"):
        name = ns.split(" ")[0].strip()
        if not name.startswith(PREFIX):
            continue
        for pid in sh("ip", "netns", "pids", name, check=False).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        sh("ip", "netns", "del", name, check=False)
        removed.append(f"netns {name}")
    for line in sh("ip", "-o", "link", "show", check=False).stdout.splitlines():
        parts = line.split(":")
        if len(parts) > 1:
            name = parts[1].strip().split("@")[0]
            if name.startswith(PREFIX):
                sh("ip", "link", "del", name, check=False)
                removed.append(f"link {name}")
    return removed


def record_pid(proc: subprocess.Popen) -> None:
    PID_DIR.mkdir(parents=True, exist_ok=True)
    (PID_DIR / f"{proc.pid}.pid").write_text(f"{proc.pid}\n")


def stop_proc(proc: subprocess.Popen | None, timeout: float = 10) -> None:
    if proc is None:
        return
    if proc.poll() is None:
        _kill_pid(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_pid(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)
    (PID_DIR / f"{proc.pid}.pid").unlink(missing_ok=True)


@dataclass
class Site:
    """One remote site: namespace ``apb-NAME``, veth ``apb-NAME-h`` (root side, 10.231.N.1)
    ``apb-NAME-n`` (inside, 10.231.N.2), tbf at ``mbit`` on both ends, relays with
    ``rtt_ms`` / 2 of delay each way."""

    name: str
    index: int
    mbit: int
    rtt_ms: float
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def ns(self) -> str:
        return f"{PREFIX}{self.name}"

    @property
    def host_if(self) -> str:
        return f"{PREFIX}{self.name}-h"[:15]

    @property
    def ns_if(self) -> str:
        return f"{PREFIX}{self.name}-n"[:15]

    @property
    def host_ip(self) -> str:
        return f"10.231.{self.index}.1"

    @property
    def ip(self) -> str:
        return f"10.231.{self.index}.2"

    def create(self) -> None:
        sh("ip", "netns", "add", self.ns)
        sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
        sh("ip", "link", "set", self.ns_if, "netns", self.ns)
        sh("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
        sh("ip", "link", "set", self.host_if, "up")
        self.exec_sh("ip", "addr", "add", f"{self.ip}/30", "dev", self.ns_if)
        self.exec_sh("ip", "link", "set", self.ns_if, "up")
        self.exec_sh("ip", "link", "set", "lo", "up")
        # The token bucket on each end's egress: uploads (root -> site) and downloads.
        # burst: ~20 ms at the rate, at least 64 KiB so one GSO segment always fits.
        burst = max(64 * 1024, self.mbit * 1_000_000 // 8 // 50)
        tbf = ["root", "tbf", "rate", f"{self.mbit}mbit", "burst", str(burst), "latency", "200ms"]
        sh("tc", "qdisc", "add", "dev", self.host_if, *tbf)
        self.exec_sh("tc", "qdisc", "add", "dev", self.ns_if, *tbf)

    def exec_sh(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", self.ns, *argv)

    def spawn(self, argv: list[str], log: Path, inside: bool = True, env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start a long-running process (inside the namespace unless ``inside`` is false), in
        its own process group, output to ``log``."""
        full = ["ip", "netns", "exec", self.ns, *argv] if inside else argv
        with open(log, "ab") as out:
            proc = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        record_pid(proc)
        self.procs.append(proc)
        return proc

    def relay(self, target_port: int, log: Path) -> tuple[subprocess.Popen, int]:
        """A relay on 127.0.0.1:<free port> to this site's ``target_port``; returns it and its port."""
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "relay.py"), "127.0.0.1", "0", self.ip, str(target_port), str(self.rtt_ms / 2), "--stdin-guard"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(log, "ab"), start_new_session=True, text=True,
        )
        record_pid(proc)
        self.procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the relay prints PORT n once it listens, or exits
        if not line.startswith("PORT "):
            stop_proc(proc)
            raise RuntimeError(f"relay to {self.ip}:{target_port} did not start (log {log})")
        return proc, int(line.split()[1])

    def stop(self, proc: subprocess.Popen) -> None:
        stop_proc(proc)
        if proc in self.procs:
            self.procs.remove(proc)

    def close(self) -> None:
        for proc in reversed(self.procs):
            stop_proc(proc)
        self.procs.clear()
        if sh("ip", "netns", "list", check=False).stdout.find(self.ns) >= 0:
            for pid in sh("ip", "netns", "pids", self.ns, check=False).stdout.split():
                _kill_pid(int(pid), signal.SIGKILL)
            sh("ip", "netns", "del", self.ns, check=False)
        sh("ip", "link", "del", self.host_if, check=False)


def wait_port(host: str, port: int, ns: str | None = None, timeout: float = 20) -> None:
    """Until something accepts on host:port (inside ``ns`` if given); bounded."""
    deadline = time.monotonic() + timeout
    probe = f"import socket; socket.create_connection(('{host}', {port}), 1).close()"
    while time.monotonic() < deadline:
        argv = [sys.executable, "-c", probe]
        if ns:
            argv = ["ip", "netns", "exec", ns, *argv]
        if subprocess.run(argv, capture_output=True, timeout=10).returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {host}:{port}{' in ' + ns if ns else ''} after {timeout}s")
