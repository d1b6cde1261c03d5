"""The source stage through the installed command: git children stopped by Ctrl-C like Maven's
(own process group, the whole tree), svn:externals left alone unless asked for, and malformed
URLs refused with exit 2 and a line saying how to write them. No Docker or Maven needed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from autopack.source import svn
from tests.conftest import AUTOPACK, autopack
from tests.servers.git_fixtures import PROJECT, GitRemote, git_remote, git_server, pom_version  # noqa: F401  (fixtures)
from tests.servers.git_http import GitHttpServer
from tests.source.svn_fixtures import ExternalsRepository, SvnServer, externals_repository, svn_server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state, ppid, pgrp, session, …)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _argv(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _alive(pid: int, started: str) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z" and fields[19] == started  # the same process, not a reused pid


def _descendants(root: int) -> dict[int, tuple[str, str, str]]:
    """Every living descendant of ``root``: pid → (argv, start time, process group)."""
    parents: dict[int, int] = {}
    info: dict[int, tuple[str, str, str]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat(int(entry.name))
        if fields is None or fields[0] == "Z":
            continue
        parents[int(entry.name)] = int(fields[1])
        info[int(entry.name)] = (_argv(int(entry.name)), fields[19], fields[2])
    found = {}
    for pid in info:
        ancestor = parents.get(pid)
        while ancestor and ancestor != root and ancestor in parents:
            ancestor = parents[ancestor]
        if ancestor == root:
            found[pid] = info[pid]
    return found


def _in_groups(groups: set[str]) -> list[str]:
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat(int(entry.name))
        if fields is not None and fields[0] != "Z" and fields[2] in groups:
            found.append(_argv(int(entry.name)))
    return found


@pytest.fixture
def stalling_server(tmp_path_factory: pytest.TempPathFactory, git_remote: GitRemote):  # noqa: F811
    """A server of its own (not under the test's tmp_path, whose processes the test looks
    for) whose fetches hang mid-pack."""
    root = tmp_path_factory.mktemp("git-stalling")
    shutil.copytree(git_remote.bare, root / PROJECT)
    with GitHttpServer(root, stall_fetches=True) as server:
        yield server


def test_ctrl_c_during_a_stalled_git_clone_stops_every_git_child_and_the_next_run_succeeds(tmp_path: Path, stalling_server: GitHttpServer, git_remote: GitRemote) -> None:  # noqa: F811
    url = stalling_server.url(PROJECT)
    env = {
        **os.environ,
        "AUTOPACK_CACHE_DIR": str(tmp_path / "cache"),
        "AUTOPACK_GIT_USER": stalling_server.username,
        "AUTOPACK_GIT_PASSWORD": stalling_server.password,
    }
    lines: list[str] = []
    proc = subprocess.Popen(
        [str(AUTOPACK), "checkout", url, str(tmp_path / "dest"), "--plain"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a terminal's user has it
    )
    reader = threading.Thread(target=lambda: lines.extend(raw.decode(errors="replace").rstrip("\n") for raw in proc.stdout), daemon=True)  # type: ignore[union-attr]
    reader.start()
    children: dict[int, tuple[str, str, str]] = {}
    try:
        deadline = time.monotonic() + 60
        while not stalling_server.stalled.wait(timeout=0.1):
            assert proc.poll() is None and time.monotonic() < deadline, "the clone never stalled:\n" + "\n".join(lines)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any("remote-http" in argv for argv, _, _ in children.values()):
            children.update(_descendants(proc.pid))
            time.sleep(0.05)
        assert any("clone" in argv for argv, _, _ in children.values()), children
        assert any("remote-http" in argv for argv, _, _ in children.values()), children  # the grandchild that talks to the server

        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        stalling_server.release()
    reader.join(timeout=5)

    assert proc.returncode == 130, "\n".join(lines)
    assert took < 5, f"autopack took {took:.1f}s to stop"
    assert lines[-1] == "autopack: error: interrupted"
    assert not [argv for pid, (argv, start, _) in children.items() if _alive(pid, start)], "a git child outlived the run"
    groups = {group for _, _, group in children.values()} - {str(os.getpgrp())}
    assert groups, "the git children ran in pytest's own process group"
    assert _in_groups(groups) == []
    assert not [pid for pid in Path("/proc").glob("[0-9]*") if url in _argv(int(pid.name))]
    assert not (tmp_path / "dest").exists()

    again = autopack("checkout", url, tmp_path / "dest", "--plain", env=env, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "cloning mirror of" in again.stdout  # the half-made clone was never marked complete
    assert pom_version(tmp_path / "dest") == git_remote.versions["c2"]


# --- malformed URLs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "hint"),
    [
        ("https://ada:p@ss@git.example.com/group/project.git", "%40 for @"),
        ("https://ada:pa:ss@git.example.com/group/project.git", "%3A for :"),
        ("https://ada:pa/ss@git.example.com/group/project.git", "%2F for /"),
        ("https://[::1/group/project.git", "in brackets"),
        ("svn://[bad]/repo/trunk", "in brackets"),
        ("https://git.example.com/my project.git", "%20"),
        ("svn+https://svn.example.com/re\x07po/trunk", "on one line"),
    ],
)
def test_a_malformed_url_exits_2_with_one_line_saying_how_to_write_it(tmp_path: Path, location: str, hint: str) -> None:
    run = autopack("checkout", location, tmp_path / "dest", "--plain", env={"AUTOPACK_CACHE_DIR": str(tmp_path / "cache")}, timeout=60)
    assert run.returncode == 2, run.stdout + run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("autopack: error:")]
    assert len(errors) == 1 and "refusing source URL" in errors[0] and hint in errors[0], run.stderr
    assert "Traceback" not in run.stdout + run.stderr and "internal error" not in run.stderr
    for fragment in ("p@ss", "pa:ss", "pa/ss", "\x07"):
        assert fragment not in run.stdout + run.stderr
    assert not (tmp_path / "dest").exists()


# --- svn:externals ---------------------------------------------------------------------------


@pytest.fixture
def svn_env(tmp_path: Path, svn_server: SvnServer) -> dict[str, str]:  # noqa: F811
    return {"AUTOPACK_CACHE_DIR": str(tmp_path / "cache"), svn.USER_ENV: svn_server.username, svn.PASSWORD_ENV: svn_server.password}


def test_svn_externals_are_left_alone_by_default(tmp_path: Path, svn_env: dict[str, str], externals_repository: ExternalsRepository) -> None:  # noqa: F811
    run = autopack("checkout", f"{externals_repository.svn_url}/branches/file", tmp_path / "dest", "--plain", env=svn_env, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "svn:externals of '.' not followed" in run.stdout
    assert not (tmp_path / "dest" / "from-disk").exists()  # a file:// external of another repository on this disk


def test_svn_externals_option_follows_those_on_the_sources_server(tmp_path: Path, svn_env: dict[str, str], externals_repository: ExternalsRepository) -> None:  # noqa: F811
    run = autopack("checkout", f"{externals_repository.svn_url}/trunk", tmp_path / "dest", "--plain", "--svn-externals", env=svn_env, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "dest" / "libs" / "head" / "LIB.txt").read_text() == "lib r3\n"
    again = autopack("checkout", f"{externals_repository.svn_url}/trunk", tmp_path / "dest2", "--plain", env={**svn_env, "AUTOPACK_SVN_EXTERNALS": "1"}, timeout=120)
    assert again.returncode == 0 and (tmp_path / "dest2" / "libs" / "r2" / "LIB.txt").read_text() == "lib r2\n", again.stdout + again.stderr


def test_svn_externals_option_refuses_one_on_another_server_with_exit_2(tmp_path: Path, svn_env: dict[str, str], externals_repository: ExternalsRepository) -> None:  # noqa: F811
    run = autopack("checkout", f"{externals_repository.svn_url}/branches/file", tmp_path / "dest", "--plain", "--svn-externals", env=svn_env, timeout=120)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "svn:externals of '.' names file://" in run.stderr and "not on the source's server" in run.stderr
    assert not (tmp_path / "dest").exists()
