"""The git backend against a real smart-HTTP server on loopback (tests/servers/git_http.py):
every kind of ref, the cached mirror and its fetch path, --shallow, credentials that never
leak (argv, files, messages, events), hooks that never run, concurrency and stale caches."""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from autopack import cache, secrets
from autopack.errors import SourceError
from autopack.events import LogLine, Progress
from autopack.source import git as git_backend
from autopack.source import git_auth
from autopack.source.base import Checkout, Login, SourceSpec
from tests.servers.git_fixtures import GitRemote, pom_version, run_git

_ENV_LOGINS = ("AUTOPACK_GIT_USER", "AUTOPACK_GIT_PASSWORD", "AUTOPACK_GIT_TOKEN", "GITLAB_TOKEN", "CI_JOB_TOKEN", "GITLAB_URL", "CI_SERVER_URL")


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in _ENV_LOGINS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AUTOPACK_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


class Events(list):
    """An ``Emit`` that keeps every event."""

    def __call__(self, event: object) -> None:
        self.append(event)

    def lines(self) -> list[str]:
        return [e.text for e in self if isinstance(e, LogLine)]


def login(remote: GitRemote, password: str | None = None) -> Login:
    return Login(remote.username, password or remote.password, "the test")


def check_out(remote: GitRemote, dest: Path, ref: str | None = None, *, location: str | None = None, events: Events | None = None, **spec) -> Checkout:
    dest.mkdir(parents=True, exist_ok=True)
    spec.setdefault("login", None if location else login(remote))
    return git_backend.checkout(SourceSpec(location or remote.url, "git", ref=ref, **spec), dest, events if events is not None else Events())


def mirror_of(url: str) -> Path:
    return cache.root() / cache.key_for("git", url)


def all_bytes(*roots: Path) -> bytes:
    return b"".join(p.read_bytes() for root in roots for p in root.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.mark.parametrize(
    ("ref", "commit", "branch"),
    [
        (None, "c2", "main"),
        ("main", "c2", "main"),
        ("v1.0.0", "c1", "v1.0.0"),
        ("feature/x", "c3", "feature/x"),
        ("refs/heads/feature/x", "c3", "feature/x"),
        ("refs/tags/v1.0.0", "c1", "v1.0.0"),
        ("refs/merge-requests/1/head", "c4", "merge-requests/1"),
        ("<full c3>", "c3", None),
        ("<short c4>", "c4", None),  # on no branch: only the mirror's MR ref keeps it
    ],
)
def test_every_kind_of_ref(git_remote: GitRemote, tmp_path: Path, ref: str | None, commit: str, branch: str | None) -> None:
    sha = git_remote.shas[commit]
    ref = {"<full c3>": sha, "<short c4>": sha[:7]}.get(ref, ref)
    events = Events()
    result = check_out(git_remote, tmp_path / "dest", ref, events=events)

    assert pom_version(result.path) == git_remote.versions[commit]
    assert result.path == tmp_path / "dest"
    assert (result.kind, result.url, result.cache) == ("git", git_remote.url, "clone")
    assert (result.revision, result.short_revision, result.branch) == (sha, sha[:8], branch)
    assert result.ref == (ref or "main")
    assert result.author == "Ada Tester"
    assert datetime.fromisoformat(result.committed_at).tzinfo is not None
    assert run_git(result.path, "rev-parse", "HEAD") == sha
    assert run_git(result.path, "config", "remote.origin.url") == git_remote.url
    assert run_git(result.path, "status", "--porcelain") == ""
    assert f"cloning mirror of {git_remote.url}" in events.lines()
    assert f"checked out {sha[:8]} ({branch or 'detached'})" in events.lines()[-1]


def test_progress_is_reported(git_remote: GitRemote, tmp_path: Path) -> None:
    events = Events()
    check_out(git_remote, tmp_path / "dest", events=events)
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress and all(e.stage == "source" for e in progress)
    received = [e for e in progress if e.facts["phase"] == "receiving objects"]
    assert received and received[-1].facts["current"] == received[-1].facts["total"] > 0
    assert any(e.facts["phase"] == "resolving deltas" for e in progress)


def test_subdir(git_remote: GitRemote, tmp_path: Path) -> None:
    result = check_out(git_remote, tmp_path / "dest", "main", subdir="services/hello")
    assert result.path == (tmp_path / "dest" / "services" / "hello").resolve()
    assert pom_version(result.path) == "2.0.0-sub"
    with pytest.raises(SourceError, match="no folder 'services/hello'"):
        check_out(git_remote, tmp_path / "old", "v1.0.0", subdir="services/hello")


def test_second_checkout_fetches_into_the_mirror(fresh_remote: GitRemote, tmp_path: Path) -> None:
    server = fresh_remote.server
    first = check_out(fresh_remote, tmp_path / "one", "feature/x")
    assert first.cache == "clone"
    seen = len(server.requests)

    events = Events()
    second = check_out(fresh_remote, tmp_path / "two", "feature/x", events=events)
    assert second.cache == "fetch" and second.revision == first.revision
    assert f"fetching into cached mirror of {fresh_remote.url}" in events.lines()
    assert not any(line.startswith("cloning") for line in events.lines())
    mine = [r for r in server.requests[seen:] if fresh_remote.url.endswith(r.path.rsplit("/git-upload-pack", 1)[0])]
    assert mine and not [r for r in mine if r.command == "fetch"]  # nothing new: refs listed, nothing downloaded

    # A new commit on the remote: the third checkout downloads only what is new.
    work = tmp_path / "work"
    run_git(tmp_path, "clone", "-q", str(fresh_remote.bare), str(work))
    (work / "NEW").write_text("new\n")
    run_git(work, "add", "NEW")
    run_git(work, "commit", "-q", "-m", "new on main")
    run_git(work, "push", "-q", "origin", "main")
    seen = len(server.requests)
    third = check_out(fresh_remote, tmp_path / "three", "main")
    assert third.cache == "fetch" and third.revision == run_git(work, "rev-parse", "HEAD")
    assert (third.path / "NEW").is_file()
    fetches = [r for r in server.requests[seen:] if r.command == "fetch"]
    assert fetches and all(r.haves > 0 for r in fetches)  # an incremental fetch, not a clone


def test_default_branch_follows_the_remote(fresh_remote: GitRemote, tmp_path: Path) -> None:
    assert check_out(fresh_remote, tmp_path / "one").branch == "main"
    run_git(fresh_remote.bare, "symbolic-ref", "HEAD", "refs/heads/feature/x")
    second = check_out(fresh_remote, tmp_path / "two")
    assert (second.cache, second.branch, second.ref) == ("fetch", "feature/x", "feature/x")
    assert pom_version(second.path) == "1.2.0-SNAPSHOT"


@pytest.mark.parametrize(
    ("ref", "commit", "branch"),
    [(None, "c2", "main"), ("feature/x", "c3", "feature/x"), ("v1.0.0", "c1", "v1.0.0"), ("refs/merge-requests/1/head", "c4", "merge-requests/1"), ("<full c3>", "c3", None)],
)
def test_shallow_without_a_mirror_fetches_only_the_ref(git_remote: GitRemote, tmp_path: Path, ref: str | None, commit: str, branch: str | None) -> None:
    sha = git_remote.shas[commit]
    ref = sha if ref == "<full c3>" else ref
    events = Events()
    result = check_out(git_remote, tmp_path / "dest", ref, shallow=True, events=events)
    assert (result.cache, result.revision, result.branch) == ("shallow", sha, branch)
    assert pom_version(result.path) == git_remote.versions[commit]
    assert run_git(result.path, "rev-list", "--count", "HEAD") == "1"
    assert run_git(result.path, "config", "remote.origin.url") == git_remote.url
    assert any(line.startswith("shallow fetch of") for line in events.lines())
    assert not mirror_of(git_remote.url).exists()


def test_shallow_uses_an_existing_mirror(git_remote: GitRemote, tmp_path: Path) -> None:
    check_out(git_remote, tmp_path / "one")
    result = check_out(git_remote, tmp_path / "two", "v1.0.0", shallow=True)
    assert result.cache == "fetch" and result.revision == git_remote.shas["c1"]


def test_shallow_short_sha_takes_the_mirror(git_remote: GitRemote, tmp_path: Path) -> None:
    result = check_out(git_remote, tmp_path / "dest", git_remote.shas["c3"][:8], shallow=True)
    assert result.cache == "clone" and result.revision == git_remote.shas["c3"]


@pytest.mark.parametrize("shallow", [False, True])
def test_unknown_ref(git_remote: GitRemote, tmp_path: Path, shallow: bool) -> None:
    with pytest.raises(SourceError) as caught:
        check_out(git_remote, tmp_path / "dest", "no-such-branch", shallow=shallow)
    assert caught.value.exit_code == 3
    assert "'no-such-branch'" in caught.value.message and git_remote.url in caught.value.message
    assert "branch or tag" in caught.value.hint


def test_unknown_commit(git_remote: GitRemote, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="'0000000000"):
        check_out(git_remote, tmp_path / "dest", "0" * 40, shallow=True)
    with pytest.raises(SourceError, match="'deadbeef'"):
        check_out(git_remote, tmp_path / "dest2", "deadbeef")


@pytest.mark.parametrize("shallow", [False, True])
def test_wrong_password_fails_and_leaks_nowhere(git_remote: GitRemote, tmp_path: Path, own_cache: Path, shallow: bool) -> None:
    wrong = "wr0ng-Passw0rd-41"
    events = Events()
    with pytest.raises(SourceError) as caught:
        check_out(git_remote, tmp_path / "dest", "main", login=Login("ada", wrong, "AUTOPACK_GIT_TOKEN"), events=events, shallow=shallow)
    error = caught.value
    assert error.exit_code == 3
    assert git_remote.url in error.message and "AUTOPACK_GIT_TOKEN" in error.message
    assert "AUTOPACK_GIT_TOKEN" in error.hint and "CI_JOB_TOKEN" in error.hint
    token = base64.b64encode(f"ada:{wrong}".encode()).decode()
    for text in (str(error), error.one_line(), repr(error.__cause__), *map(repr, events)):
        assert wrong not in text and token not in text
    dumped = all_bytes(own_cache, tmp_path / "dest")
    assert wrong.encode() not in dumped and token.encode() not in dumped
    assert not mirror_of(git_remote.url).exists()  # a failed clone leaves no entry behind
    assert git_remote.server.requests[-1].auth == "wrong"


def test_no_credentials_for_a_protected_server(git_remote: GitRemote, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="asks for credentials and none were given") as caught:
        check_out(git_remote, tmp_path / "dest", login=None, location=git_remote.url)
    assert "AUTOPACK_GIT_TOKEN" in caught.value.hint


def test_right_password_stays_out_of_files(git_remote: GitRemote, tmp_path: Path, own_cache: Path) -> None:
    result = check_out(git_remote, tmp_path / "dest", "main")
    check_out(git_remote, tmp_path / "again", "main")  # the fetch path too
    secret = git_remote.password.encode()
    assert secret not in all_bytes(own_cache, tmp_path / "dest", tmp_path / "again")
    assert secret not in (result.path / ".git" / "config").read_bytes()
    assert git_remote.password not in repr(result)


def test_credentials_from_the_environment(git_remote: GitRemote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOPACK_GIT_USER", git_remote.username)
    monkeypatch.setenv("AUTOPACK_GIT_TOKEN", git_remote.password)
    assert check_out(git_remote, tmp_path / "dest", "v1.0.0", login=None).revision == git_remote.shas["c1"]
    monkeypatch.setenv("AUTOPACK_GIT_TOKEN", "not-the-token")
    with pytest.raises(SourceError, match="AUTOPACK_GIT_TOKEN"):
        check_out(git_remote, tmp_path / "dest2", "v1.0.0", login=None, shallow=True)


def test_url_with_embedded_credentials(git_remote: GitRemote, tmp_path: Path, own_cache: Path) -> None:
    password = git_remote.password
    location = git_remote.url.replace("http://", f"http://{git_remote.username}:{password}@")
    events = Events()
    result = check_out(git_remote, tmp_path / "dest", "feature/x", location=location, events=events)
    assert result.revision == git_remote.shas["c3"] and result.url == git_remote.url
    assert password not in repr(result) and password not in repr(list(events))
    assert run_git(result.path, "config", "remote.origin.url") == git_remote.url
    assert password.encode() not in all_bytes(own_cache, tmp_path / "dest")
    assert secrets.redact(f"x {password} y") == f"x {secrets.MASK} y"
    assert git_remote.server.requests[-1].auth == "ok"


def test_cache_directory_names_hold_no_credentials(git_remote: GitRemote, tmp_path: Path, own_cache: Path) -> None:
    location = git_remote.url.replace("http://", f"http://{git_remote.username}:{git_remote.password}@")
    check_out(git_remote, tmp_path / "dest", location=location)
    names = [str(p.relative_to(own_cache)) for p in own_cache.rglob("*")]
    assert names and not [n for n in names if git_remote.password in n or "@" in n]
    assert mirror_of(git_remote.url).is_dir()


def test_password_never_in_a_childs_argv(git_remote: GitRemote, tmp_path: Path) -> None:
    server, password = git_remote.server, git_remote.password
    token = base64.b64encode(f"{git_remote.username}:{password}".encode()).decode()
    seen: list[str] = []
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(check_out(git_remote, tmp_path / "dest", "main"))
            outcome.append(check_out(git_remote, tmp_path / "again", "v1.0.0"))
            outcome.append(check_out(git_remote, tmp_path / "thin", "feature/x", shallow=True))
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            outcome.append(e)

    server.delay = 0.15  # every request waits: the git children live long enough to be seen
    try:
        worker = threading.Thread(target=run)
        worker.start()
        me = os.getpid()
        while worker.is_alive():
            for proc in Path("/proc").iterdir():
                if proc.name.isdigit() and int(proc.name) != me:
                    try:
                        argv = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    except OSError:
                        continue
                    if "git" in argv:
                        seen.append(argv)
            time.sleep(0.002)
        worker.join()
    finally:
        server.delay = 0.0
    assert all(isinstance(o, Checkout) for o in outcome), outcome
    assert any("remote-http" in argv or "fetch" in argv or "clone" in argv for argv in seen), "sampling saw no git child"
    assert not [argv for argv in seen if password in argv or token in argv]


def test_concurrent_checkouts_of_one_url(git_remote: GitRemote, tmp_path: Path) -> None:
    results: dict[int, object] = {}

    def run(n: int) -> None:
        try:
            results[n] = check_out(git_remote, tmp_path / f"dest{n}", "feature/x")
        except Exception as e:  # noqa: BLE001
            results[n] = e

    threads = [threading.Thread(target=run, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(r, Checkout) for r in results.values()), results
    assert {r.revision for r in results.values()} == {git_remote.shas["c3"]}
    assert sorted(r.cache for r in results.values()) == ["clone", "fetch", "fetch"]
    assert all(pom_version(r.path) == "1.2.0-SNAPSHOT" for r in results.values())


def test_incomplete_mirror_is_discarded(git_remote: GitRemote, tmp_path: Path) -> None:
    stale = mirror_of(git_remote.url)
    stale.mkdir(parents=True)
    (stale / "HEAD").write_text("junk from a killed run\n")
    events = Events()
    result = check_out(git_remote, tmp_path / "dest", "main", events=events)
    assert result.cache == "clone" and result.revision == git_remote.shas["c2"]
    assert "junk" not in (stale / "HEAD").read_text()


def test_stale_lock_files_from_a_killed_fetch(git_remote: GitRemote, tmp_path: Path) -> None:
    check_out(git_remote, tmp_path / "one")
    mirror = mirror_of(git_remote.url)
    (mirror / "packed-refs.lock").write_text("")
    (mirror / "refs" / "heads" / "main.lock").write_text("")
    result = check_out(git_remote, tmp_path / "two", "main")
    assert result.cache == "fetch" and result.revision == git_remote.shas["c2"]
    assert not list(mirror.rglob("*.lock"))


def test_damaged_complete_mirror_is_cloned_again(git_remote: GitRemote, tmp_path: Path) -> None:
    check_out(git_remote, tmp_path / "one")
    (mirror_of(git_remote.url) / "HEAD").write_text("not a ref\n")
    events = Events()
    result = check_out(git_remote, tmp_path / "two", "v1.0.0", events=events)
    assert result.cache == "clone" and result.revision == git_remote.shas["c1"]
    assert any("damaged" in line for line in events.lines())


def test_hooks_in_the_mirror_never_run(fresh_remote: GitRemote, tmp_path: Path) -> None:
    check_out(fresh_remote, tmp_path / "one")
    mirror = mirror_of(fresh_remote.url)
    ran = tmp_path / "hook-ran"
    evil = tmp_path / "evil-hooks"
    evil.mkdir()
    for hooks in (mirror / "hooks", evil):
        for name in ("reference-transaction", "post-checkout", "pre-auto-gc", "post-merge"):
            hook = hooks / name
            hook.write_text(f"#!/bin/sh\necho {name} >> {ran}\n")
            hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    monitor = tmp_path / "fsmonitor"
    monitor.write_text(f"#!/bin/sh\necho fsmonitor >> {ran}\n")
    monitor.chmod(0o755)
    run_git(mirror, "config", "core.fsmonitor", str(monitor))
    # a new commit upstream, so a fetch would really update refs (reference-transaction)
    work = tmp_path / "work"
    run_git(tmp_path, "clone", "-q", str(fresh_remote.bare), str(work))
    (work / "NEW").write_text("new\n")
    run_git(work, "add", "NEW")
    run_git(work, "commit", "-q", "-m", "new")
    run_git(work, "push", "-q", "origin", "main")
    probe = tmp_path / "probe.git"
    shutil.copytree(mirror, probe, symlinks=True)

    events = Events()
    result = check_out(fresh_remote, tmp_path / "two", "main", events=events)
    assert result.cache == "clone" and (result.path / "NEW").is_file()  # planted hooks: the entry is not trusted
    assert any("changed outside autopack" in line for line in events.lines())
    assert not ran.exists(), ran.read_text()
    assert not [p for p in (mirror / "hooks").iterdir()]

    run_git(mirror, "config", "core.hooksPath", str(evil))
    assert check_out(fresh_remote, tmp_path / "three", "main").cache == "clone"
    assert not ran.exists(), ran.read_text()
    assert check_out(fresh_remote, tmp_path / "four", "main").cache == "fetch"  # sealed again: trusted

    # The hooks themselves work: plain git, without autopack's settings, runs them.
    run_git(probe, "update-ref", "refs/heads/probe", "HEAD")
    assert "reference-transaction" in ran.read_text()


def _other_repository(remote: GitRemote, tmp_path: Path) -> tuple[Path, str]:
    """A copy of ``remote``'s repository with one more commit on main (pom 6.6.6-evil),
    served beside it: (its bare directory, its commit)."""
    bare = remote.bare.with_name(f"other-{tmp_path.name[-12:]}.git")
    shutil.copytree(remote.bare, bare)
    work = tmp_path / "other-work"
    run_git(tmp_path, "clone", "-q", str(bare), str(work))
    pom = work / "pom.xml"
    pom.write_text(re.sub(r"(<artifactId>hello-service</artifactId>\s*<version>)[^<]+", r"\g<1>6.6.6-evil", pom.read_text(), count=1))
    run_git(work, "commit", "-q", "-am", "someone else's")
    run_git(work, "push", "-q", "origin", "main")
    return bare, run_git(work, "rev-parse", "HEAD")


@pytest.mark.parametrize("transport", ["http", "file"])
def test_a_tampered_mirror_neither_runs_a_command_nor_stands_in_for_another_repository(fresh_remote: GitRemote, tmp_path: Path, transport: str) -> None:
    """Whoever can write the cache rewrites a mirror: origin at another repository (and, for
    file://, an upload-pack command that git would run for it), a post-checkout hook and an
    fsmonitor command that write a marker, a credential helper, an include. The next run
    takes none of it: the asked-for repository at its own revision, no marker."""
    other, other_sha = _other_repository(fresh_remote, tmp_path)
    location = fresh_remote.url if transport == "http" else fresh_remote.bare.as_uri()
    check_out(fresh_remote, tmp_path / "one", location=location, login=login(fresh_remote) if transport == "http" else None)
    mirror = mirror_of(location)
    marker = tmp_path / "marker"
    command = tmp_path / "command"
    command.write_text(f"#!/bin/sh\necho \"$0 $*\" >> {marker}\n")
    command.chmod(0o755)
    (mirror / "hooks" / "post-checkout").write_text(f"#!/bin/sh\necho post-checkout >> {marker}\n")
    (mirror / "hooks" / "post-checkout").chmod(0o755)
    (tmp_path / "included").write_text(f"[core]\n\tsshCommand = {command}\n")
    other_location = fresh_remote.server.url(str(other.relative_to(fresh_remote.server.root))) if transport == "http" else other.as_uri()
    for key, value in [
        ("remote.origin.url", other_location),
        ("remote.origin.uploadpack", f"{command} upload-pack; git-upload-pack"),
        ("core.fsmonitor", str(command)),
        ("credential.helper", f"!{command}"),
        ("include.path", str(tmp_path / "included")),
    ]:
        run_git(mirror, "config", key, value)

    events = Events()
    result = check_out(fresh_remote, tmp_path / "two", "main", location=location, login=login(fresh_remote) if transport == "http" else None, events=events)

    assert (result.revision, pom_version(result.path)) == (fresh_remote.shas["c2"], fresh_remote.versions["c2"])
    assert result.revision != other_sha
    assert result.cache == "clone"
    assert any(f"the cached mirror of {location} was changed outside autopack" in line for line in events.lines())
    assert not marker.exists(), marker.read_text()
    assert run_git(mirror, "config", "remote.origin.url") == location
    assert run_git(mirror, "config", "--list", "--local").splitlines() == ["core.repositoryformatversion=0", "core.bare=true", f"remote.origin.url={location}", "remote.origin.fetch=+refs/*:refs/*", "remote.origin.mirror=true"]
    assert list((mirror / "hooks").iterdir()) == []
    assert run_git(other, "rev-parse", "main") == other_sha  # the other repository was there to be taken


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda m, t: (m / "objects" / "info" / "alternates").write_text(str(t / "elsewhere" / "objects") + "\n"), "objects/info/alternates"),
        (lambda m, t: (m / "commondir").write_text(str(t / "elsewhere") + "\n"), "'commondir'"),
        (lambda m, t: (m / "info" / "grafts").write_text("0" * 40 + "\n"), "info/grafts"),
        (lambda m, t: (m / "shallow").write_text("0" * 40 + "\n"), "'shallow'"),
        (lambda m, t: (shutil.rmtree(m / "refs"), (m / "refs").symlink_to(t / "elsewhere" / "refs")), "symbolic link"),
    ],
    ids=["alternates", "commondir", "grafts", "shallow", "symlinked-refs"],
)
def test_a_mirror_that_borrows_from_elsewhere_is_cloned_again(git_remote: GitRemote, tmp_path: Path, tamper, reason: str) -> None:
    check_out(git_remote, tmp_path / "one")
    elsewhere = tmp_path / "elsewhere"
    run_git(tmp_path, "init", "-q", "--bare", str(elsewhere))
    tamper(mirror_of(git_remote.url), tmp_path)
    events = Events()
    result = check_out(git_remote, tmp_path / "two", "v1.0.0", events=events)
    assert (result.cache, result.revision) == ("clone", git_remote.shas["c1"])
    assert any("changed outside autopack" in line and reason in line for line in events.lines()), events.lines()
    assert check_out(git_remote, tmp_path / "three", "main").cache == "fetch"


def test_git_environment() -> None:
    env = git_auth.environment(Login("ada", "pa55-word", "x"), environ={"GIT_CONFIG_COUNT": "2"})
    assert (env["GIT_TERMINAL_PROMPT"], env["GIT_ASKPASS"], env["GIT_ALLOW_PROTOCOL"]) == ("0", "", "https:http:ssh:git:file")
    assert env["GIT_SSH_COMMAND"] == "ssh -o BatchMode=yes"
    pairs = {env[f"GIT_CONFIG_KEY_{n}"]: env[f"GIT_CONFIG_VALUE_{n}"] for n in range(2, int(env["GIT_CONFIG_COUNT"]))}
    assert "GIT_CONFIG_KEY_0" not in env and "GIT_CONFIG_KEY_1" not in env  # the user's own stay theirs
    assert pairs["core.hooksPath"] == "/dev/null" and pairs["core.fsmonitor"] == "false"
    assert pairs["http.extraHeader"] == "Authorization: Basic " + base64.b64encode(b"ada:pa55-word").decode()
    assert "pa55-word" not in "".join(env.values())
    assert "GIT_SSH_COMMAND" not in git_auth.environment(environ={"GIT_SSH_COMMAND": "ssh -i key"})
    assert "http.extraHeader" not in git_auth.environment().values()


@pytest.mark.parametrize(
    ("location", "url", "user"),
    [
        ("https://ada:p%40ss-word@git.example.com/g/p.git", "https://git.example.com/g/p.git", "ada"),
        ("https://git.example.com:8443/g/p.git", "https://git.example.com:8443/g/p.git", None),
        ("ssh://git@git.example.com/g/p.git", "ssh://git@git.example.com/g/p.git", None),
        ("ssh://git:pw-secret@git.example.com/g/p.git", "ssh://git@git.example.com/g/p.git", None),
        ("git@git.example.com:g/p.git", "git@git.example.com:g/p.git", None),
        ("file:///srv/git/p.git", "file:///srv/git/p.git", None),
    ],
)
def test_remote_takes_credentials_out_of_the_url(location: str, url: str, user: str | None) -> None:
    got_url, got_login = git_auth.remote(SourceSpec(location, "git"), environ={})
    assert got_url == url
    assert (got_login.username if got_login else None) == user
    if got_login:
        assert (got_login.password, got_login.origin) == ("p@ss-word", "the URL")
        assert secrets.redact("p@ss-word") == secrets.MASK


def test_remote_login_precedence() -> None:
    env = {"AUTOPACK_GIT_TOKEN": "env-token-1", "GITLAB_URL": "https://gitlab.example.com"}
    explicit = Login("me", "given-secret", "--password-stdin")
    assert git_auth.remote(SourceSpec("https://gitlab.example.com/g/p.git", "git", login=explicit), environ=env)[1] == explicit
    assert git_auth.remote(SourceSpec("https://gitlab.example.com/g/p.git", "git"), environ=env)[1].origin == "AUTOPACK_GIT_TOKEN"
    assert git_auth.remote(SourceSpec("https://gitlab.example.com/g/p.git", "git"), environ={"CI_JOB_TOKEN": "job-token-1", "CI_SERVER_URL": "https://gitlab.example.com"})[1].username == "gitlab-ci-token"
    assert git_auth.remote(SourceSpec("https://other.example.com/g/p.git", "git"), environ={"GITLAB_TOKEN": "gl-token-1", "GITLAB_URL": "https://gitlab.example.com"})[1] is None
    assert git_auth.remote(SourceSpec("ssh://git@gitlab.example.com/g/p.git", "git"), environ=env)[1] is None


def test_error_messages_name_the_url_not_the_secret(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as caught:
        check_out(None, tmp_path / "dest", location="http://ada:top-secret-9@127.0.0.1:9/nothing.git", login=None)  # type: ignore[arg-type]
    assert "top-secret-9" not in caught.value.one_line()
    assert "http://127.0.0.1:9/nothing.git" in caught.value.message
    assert re.search(r"unable to access|Failed to connect|Connection refused", caught.value.message)


def test_a_fetch_killed_midway_leaves_a_usable_mirror(fresh_remote: GitRemote, tmp_path: Path, own_cache: Path) -> None:
    check_out(fresh_remote, tmp_path / "one")
    work = tmp_path / "work"
    run_git(tmp_path, "clone", "-q", str(fresh_remote.bare), str(work))
    (work / "NEW").write_text("new\n")
    run_git(work, "add", "NEW")
    run_git(work, "commit", "-q", "-m", "new")
    run_git(work, "push", "-q", "origin", "main")
    (tmp_path / "killed").mkdir()
    script = (
        "import sys; from pathlib import Path; from autopack.source import git; from autopack.source.base import SourceSpec;"
        "git.checkout(SourceSpec(sys.argv[1], 'git', ref='main'), Path(sys.argv[2]), lambda e: None)"
    )
    env = {**os.environ, "AUTOPACK_GIT_USER": fresh_remote.username, "AUTOPACK_GIT_PASSWORD": fresh_remote.password}
    fresh_remote.server.delay = 0.3
    try:
        child = subprocess.Popen([sys.executable, "-c", script, fresh_remote.url, str(tmp_path / "killed")], env=env, start_new_session=True)
        deadline, fetching = time.monotonic() + 20, False
        while time.monotonic() < deadline and child.poll() is None and not fetching:
            fetching = any("fetch" in argv for argv in _session_argvs(child.pid))
            time.sleep(0.01)
        time.sleep(0.4)  # inside the fetch, between its requests
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    finally:
        fresh_remote.server.delay = 0.0
    assert fetching and child.returncode == -signal.SIGKILL
    result = check_out(fresh_remote, tmp_path / "two", "main")
    assert result.cache == "fetch" and (result.path / "NEW").is_file()
    assert result.revision == run_git(work, "rev-parse", "HEAD")


def _session_argvs(session: int) -> list[str]:
    """The command lines of the processes of one session (a child started with start_new_session)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            stat_fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat_fields[3]) == session:
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except (OSError, IndexError, ValueError):
            continue
    return found


# --- every git child through autopack.process -------------------------------------------


def _git_children() -> list[tuple[int, int, str]]:
    """(pid, process group, argv) of every living descendant of this process that runs git
    as a client (the test server's http-backend and upload-pack are left out)."""
    parents, rows = {}, {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            argv = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            parents[int(proc.name)] = int(fields[1])
            rows[int(proc.name)] = (int(fields[2]), argv)
    me, found = os.getpid(), []
    for pid, (group, argv) in rows.items():
        chain, ancestor = [pid], parents.get(pid)
        while ancestor and ancestor != me and ancestor in parents:
            chain.append(ancestor)
            ancestor = parents[ancestor]
        server_side = any("http-backend" in rows[p][1] for p in chain)  # the test server's git, and what it starts
        if ancestor == me and Path(argv.split(" ", 1)[0]).name.startswith("git") and not server_side:
            found.append((pid, group, argv))
    return found


@pytest.fixture
def stalling(git_remote: GitRemote, tmp_path_factory: pytest.TempPathFactory):
    from tests.servers.git_fixtures import PROJECT
    from tests.servers.git_http import GitHttpServer

    root = tmp_path_factory.mktemp("git-stall")
    shutil.copytree(git_remote.bare, root / PROJECT)
    with GitHttpServer(root, stall_fetches=True) as server:
        yield server, server.url(PROJECT)


def test_a_clone_runs_in_its_own_process_group_and_process_stop_all_ends_it(stalling, tmp_path: Path) -> None:
    """The clone's git and its git-remote-http are in a process group of their own, in
    process's running set: ``process.stop_all()`` (what an interrupted run calls) ends them
    at once, and the half-made mirror is never trusted."""
    from autopack import process

    server, url = stalling
    outcome: list[object] = []

    def clone() -> None:
        try:
            outcome.append(check_out(None, tmp_path / "dest", location=url, login=Login(server.username, server.password, "the test")))  # type: ignore[arg-type]
        except BaseException as e:  # noqa: BLE001 - asserted below
            outcome.append(e)

    worker = threading.Thread(target=clone, daemon=True)
    worker.start()
    try:
        assert server.stalled.wait(timeout=30), outcome
        children = _git_children()
        assert any("clone" in argv for _, _, argv in children) and any("remote-http" in argv for _, _, argv in children), children
        assert {group for _, group, _ in children}.isdisjoint({os.getpgrp()}), "git runs in autopack's own process group"
        with process._running_lock:
            tracked = [p for p in process._running if p.args[0] == "git"]
        assert tracked, "the git child is not in process's running set"
        started = time.monotonic()
        process.stop_all()
        worker.join(timeout=10)
        assert not worker.is_alive() and time.monotonic() - started < 5
    finally:
        server.release()
        worker.join(timeout=30)
    assert isinstance(outcome[0], SourceError), outcome
    assert _git_children() == []
    assert not mirror_of(url).exists()
    server.stall_fetches = False
    assert check_out(None, tmp_path / "again", location=url, login=Login(server.username, server.password, "the test")).cache == "clone"  # type: ignore[arg-type]


def test_git_progress_redraws_are_lines_of_their_own(tmp_path: Path) -> None:
    from autopack import process

    lines: list[str] = []
    process.run(["printf", "Receiving objects:  50%% (1/2)\\rReceiving objects: 100%% (2/2), done.\\r\\nResolving deltas: 100%% (1/1), done.\\n"], on_line=lines.append, split_cr=True)
    assert lines == ["Receiving objects:  50% (1/2)", "Receiving objects: 100% (2/2), done.", "Resolving deltas: 100% (1/1), done."]


def test_git_over_ssh_runs_its_ssh_command_inside_git_s_process_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ssh client git starts (GIT_SSH_COMMAND; here a stand-in that hangs as an
    unanswering server would) is in the group of a git child autopack tracks: a tree kill
    ends it too."""
    from autopack import process

    pid_file = tmp_path / "ssh.pid"
    ssh = tmp_path / "fake-ssh"
    ssh.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 60\n")
    ssh.chmod(0o755)
    monkeypatch.setenv("GIT_SSH_COMMAND", str(ssh))
    outcome: list[object] = []

    def clone() -> None:
        try:
            outcome.append(check_out(None, tmp_path / "dest", location="ssh://git@127.0.0.1/group/project.git", login=None))  # type: ignore[arg-type]
        except BaseException as e:  # noqa: BLE001 - asserted below
            outcome.append(e)

    worker = threading.Thread(target=clone, daemon=True)
    worker.start()
    deadline = time.monotonic() + 20
    while not (pid_file.is_file() and pid_file.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.02)
    pid = int(pid_file.read_text())
    group = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])
    with process._running_lock:
        groups = {p.pid for p in process._running}  # each child leads its own group
    assert group in groups and group != os.getpgrp()
    process.stop_all()
    worker.join(timeout=10)
    assert not worker.is_alive() and isinstance(outcome[0], SourceError), outcome
    assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
