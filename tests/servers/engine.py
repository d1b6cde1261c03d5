"""A second Docker engine on a loopback TCP port, for the remote-engine tests: its own
data and exec roots under a temporary directory, the same daemon flags as scripts/engine
(vfs, no iptables, no bridge), and the base image loaded from the first engine (nothing can
be pulled). ``with SecondEngine(tmp) as url: …`` → ``tcp://127.0.0.1:PORT``."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import docker

from tests.servers.registry import free_port


class SecondEngine:
    def __init__(self, root: Path, base_image: str) -> None:
        self.root = root
        self.base_image = base_image
        self.url = ""
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> str:
        dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
        self.url = f"tcp://127.0.0.1:{free_port()}"
        args = [dockerd, "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"), "--pidfile", str(self.root / "dockerd.pid"),
                "-H", self.url, "--storage-driver=vfs", "--iptables=false", "--bridge=none"]
        if "--ip6tables" in subprocess.run([dockerd, "--help"], capture_output=True, text=True).stdout:
            args.append("--ip6tables=false")
        self.root.mkdir(parents=True, exist_ok=True)
        log = open(self.root / "dockerd.log", "wb")
        self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            client = self._wait()
            client.images.load(b"".join(docker.from_env().images.get(self.base_image).save(named=self.base_image)))  # under that tag
        except BaseException:
            self.__exit__()
            raise
        return self.url

    def _wait(self) -> docker.DockerClient:
        assert self._proc is not None
        deadline = time.monotonic() + 60
        while True:
            try:
                client = docker.DockerClient(base_url=self.url, timeout=10)  # asks the daemon its API version
                client.ping()
                return client
            except docker.errors.DockerException:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the second dockerd did not answer; see {self.root / 'dockerd.log'}") from None
                time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        # dockerd mounts its data root over itself; one killed mid-way leaves the mount behind.
        for mount in reversed(_mounts_under(self.root)):
            subprocess.run(["umount", "-l", mount], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root.resolve())
    with open("/proc/mounts", encoding="utf-8") as mounts:
        points = [line.split()[1] for line in mounts]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]
