"""The svn backend against a real svnserve on loopback (tests/source/svn_fixtures.py), once with
pysvn and once with the svn command line: the same tests, the same results."""

from __future__ import annotations

import os
import re
import tempfile
import threading
from datetime import datetime
from pathlib import Path

import pytest

from autopack import cache, secrets
from autopack.errors import SourceError, UsageError
from autopack.events import Event, LogLine, Progress
from autopack.source import svn, svn_cli
from autopack.source.base import Login, SourceSpec
from tests.source.svn_fixtures import SvnServer, pom_version, svn_server  # noqa: F401  (fixture)

BACKENDS = ["pysvn", "cli"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(svn.BACKEND_ENV, request.param)
    return request.param


@pytest.fixture
def run_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, svn_server: SvnServer) -> Path:  # noqa: F811
    """A cache of the test's own, the server's login in the environment, and a temp dir of
    the test's own (so that per-run svn config directories can be seen to be removed)."""
    monkeypatch.setenv("AUTOPACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(svn.USER_ENV, svn_server.username)
    monkeypatch.setenv(svn.PASSWORD_ENV, svn_server.password)
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    return temp


class Run:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.events: list[Event] = []
        self.count = 0

    def __call__(self, location: str, **spec: object):
        self.count += 1
        dest = self.base / f"dest{self.count}"
        dest.mkdir()
        return svn.checkout(SourceSpec(location, kind="svn", **spec), dest, self.events.append)

    def info_lines(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, LogLine) and e.level == "info"]


@pytest.fixture
def run(tmp_path: Path, run_env: Path, backend: str) -> Run:
    return Run(tmp_path)


def test_trunk_at_head(run: Run, svn_server: SvnServer) -> None:  # noqa: F811
    checkout = run(f"{svn_server.svn_url}/trunk")
    assert pom_version(checkout.path) == "1.1.0"
    assert (checkout.path / ".svn").is_dir()  # a real working copy
    assert checkout.kind == "svn"
    assert checkout.url == f"{svn_server.svn_url}/trunk"
    assert (checkout.revision, checkout.short_revision, checkout.last_changed_revision) == ("6", "r6", "3")
    assert (checkout.ref, checkout.branch, checkout.repository_path) == ("trunk", "trunk", "/trunk")
    assert checkout.author == "ada"
    assert datetime.fromisoformat(checkout.committed_at).tzinfo is not None
    assert checkout.cache == "checkout"
    assert run.info_lines() == [f"svn checkout of {svn_server.svn_url}/trunk@6 into the cache"]
    progress = [e for e in run.events if isinstance(e, Progress)]
    assert progress and progress[-1].message == "svn: 5 files added/updated"
    assert all(not str(e.facts["path"]).startswith("/") for e in progress)  # relative: no cache paths shown


@pytest.mark.parametrize(("how", "revision"), [("option", "3"), ("peg", "2"), ("both", "3")])
def test_trunk_at_a_revision(run: Run, svn_server: SvnServer, how: str, revision: str) -> None:  # noqa: F811
    url = f"{svn_server.svn_url}/trunk"
    if how == "option":
        checkout = run(url, revision=revision)
    elif how == "peg":
        checkout = run(f"{url}@{revision}")
    else:
        checkout = run(f"{url}@{revision}", revision=revision)
    assert checkout.revision == revision
    assert checkout.url == url  # without the @REV
    assert pom_version(checkout.path) == svn_server.versions[int(revision)]


def test_peg_and_revision_that_disagree_are_a_usage_error(run: Run, svn_server: SvnServer) -> None:  # noqa: F811
    with pytest.raises(UsageError, match="disagree"):
        run(f"{svn_server.svn_url}/trunk@2", revision="3")


def test_branch(run: Run, svn_server: SvnServer) -> None:  # noqa: F811
    checkout = run(f"{svn_server.svn_url}/trunk", branch="release-1")
    assert pom_version(checkout.path) == "1.2.0-SNAPSHOT"
    assert checkout.url == f"{svn_server.svn_url}/branches/release-1"
    assert (checkout.ref, checkout.branch, checkout.repository_path) == ("branches/release-1", "release-1", "/branches/release-1")
    assert (checkout.revision, checkout.last_changed_revision) == ("6", "5")


def test_tag(run: Run, svn_server: SvnServer) -> None:  # noqa: F811
    checkout = run(f"{svn_server.svn_url}/branches/release-1", svn_tag="v1.1.0")
    assert pom_version(checkout.path) == "1.1.0"
    assert (checkout.ref, checkout.branch, checkout.repository_path) == ("tags/v1.1.0", "v1.1.0", "/tags/v1.1.0")
    assert (checkout.revision, checkout.last_changed_revision, checkout.author) == ("6", "6", "ada")


def test_file_url_needs_no_login(run: Run, svn_server: SvnServer, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.delenv(svn.USER_ENV)
    monkeypatch.delenv(svn.PASSWORD_ENV)
    checkout = run(f"{svn_server.file_url}/trunk", revision="2")
    assert pom_version(checkout.path) == "1.0.0"
    assert (checkout.revision, checkout.repository_path) == ("2", "/trunk")


def test_subdir(run: Run, svn_server: SvnServer) -> None:  # noqa: F811
    checkout = run(f"{svn_server.svn_url}/trunk", subdir="src/main")
    assert checkout.path.name == "main" and (checkout.path / "java").is_dir()
    with pytest.raises(SourceError, match="no directory 'nowhere'"):
        run(f"{svn_server.svn_url}/trunk", subdir="nowhere")


def test_second_checkout_switches_and_leaves_nothing_behind(run: Run, svn_server: SvnServer) -> None:  # noqa: F811
    first = run(f"{svn_server.svn_url}/trunk@2")
    assert pom_version(first.path) == "1.0.0"
    wc = _cached_working_copy(svn_server)
    (wc / "planted.txt").write_text("left by a build")
    (wc / "target").mkdir()
    (wc / "target" / "old.jar").write_text("stale")
    (wc / "pom.xml").write_text((wc / "pom.xml").read_text() + "<!-- local change -->\n")

    second = run(f"{svn_server.svn_url}/trunk", branch="release-1")

    assert second.cache == "switch"
    assert run.info_lines()[-1] == f"switching cached working copy to {svn_server.svn_url}/branches/release-1@6"
    assert pom_version(second.path) == "1.2.0-SNAPSHOT"
    for tree in (second.path, wc):
        assert not (tree / "planted.txt").exists()
        assert not (tree / "target").exists()
        assert "local change" not in (tree / "pom.xml").read_text()
    assert pom_version(first.path) == "1.0.0"  # the first run's tree is its own


def test_an_untouched_cached_working_copy_is_switched_without_cleaning(run: Run, svn_server: SvnServer, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    run(f"{svn_server.svn_url}/trunk@2")
    cleaned: list[Path] = []
    client_class = svn._backend()
    original = client_class.clean
    monkeypatch.setattr(client_class, "clean", lambda self, path: (cleaned.append(path), original(self, path))[1])
    second = run(f"{svn_server.svn_url}/trunk")
    assert second.cache == "switch" and pom_version(second.path) == "1.1.0"
    assert cleaned == []  # the status walk found nothing to undo
    wc = _cached_working_copy(svn_server)
    client = client_class(None, run.events.append)
    try:
        assert client.is_clean(wc)  # and the switch left it so
        assert client.is_clean(second.path)  # the run's tree is a working copy as clean
    finally:
        client.close()
    (wc / "planted.txt").write_text("a hand in the cache")
    third = run(f"{svn_server.svn_url}/trunk@3")
    assert cleaned == [wc] and not (third.path / "planted.txt").exists()


def test_an_entry_without_its_completion_marker_is_discarded(run: Run, svn_server: SvnServer) -> None:  # noqa: F811
    run(f"{svn_server.svn_url}/trunk")
    wc = _cached_working_copy(svn_server)
    (wc.parent / ".autopack-complete").unlink()  # as a run killed half-way leaves it
    (wc / "half-done.txt").write_text("x")
    again = run(f"{svn_server.svn_url}/trunk@2")
    assert again.cache == "checkout"
    assert run.info_lines()[-1].startswith("svn checkout of")
    assert not (wc / "half-done.txt").exists() and not (again.path / "half-done.txt").exists()
    assert pom_version(again.path) == "1.0.0"


def test_a_broken_cached_working_copy_is_checked_out_afresh(run: Run, svn_server: SvnServer) -> None:  # noqa: F811
    run(f"{svn_server.svn_url}/trunk@2")
    wc = _cached_working_copy(svn_server)
    (wc / ".svn" / "wc.db").unlink()  # marked complete, yet no longer a working copy
    again = run(f"{svn_server.svn_url}/trunk")
    assert again.cache == "checkout"
    assert any(isinstance(e, LogLine) and e.level == "warning" and "checking out afresh" in e.text for e in run.events)
    assert run.info_lines()[-1] == f"svn checkout of {svn_server.svn_url}/trunk@6 into the cache"
    assert pom_version(again.path) == "1.1.0"


def test_concurrent_checkouts_of_one_repository(run: Run, svn_server: SvnServer) -> None:  # noqa: F811
    results: dict[str, object] = {}

    def one(name: str, location: str) -> None:
        try:
            results[name] = run(location)
        except BaseException as e:  # noqa: BLE001 - reported below
            results[name] = e

    threads = [
        threading.Thread(target=one, args=("a", f"{svn_server.svn_url}/trunk@2")),
        threading.Thread(target=one, args=("b", f"{svn_server.svn_url}/branches/release-1")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert pom_version(results["a"].path) == "1.0.0", results
    assert pom_version(results["b"].path) == "1.2.0-SNAPSHOT", results
    assert sorted([results["a"].cache, results["b"].cache]) == ["checkout", "switch"]


def test_wrong_password_fails_and_is_never_kept(run: Run, svn_server: SvnServer, run_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    wrong = "Wrong-Pa55word-xyz"
    monkeypatch.setenv(svn.PASSWORD_ENV, wrong)
    with pytest.raises(SourceError) as caught:
        run(f"{svn_server.svn_url}/trunk", revision="3")
    text = caught.value.one_line()
    assert f"{svn_server.svn_url}/trunk@3" in text
    assert "AUTOPACK_SVN_USER/AUTOPACK_SVN_PASSWORD" in text and "--svn-password-file" in text
    assert caught.value.exit_code == 3
    assert "\n" not in text
    for secret in (wrong, svn_server.password):
        assert secret not in text and secret not in repr(run.events)
        assert not _files_holding(Path(os.environ["AUTOPACK_CACHE_DIR"]), secret)
        assert not _files_holding(Path.home() / ".subversion", secret)
    assert list(run_env.iterdir()) == []  # the per-run config directory is gone


def test_a_good_login_is_not_kept_either(run: Run, svn_server: SvnServer, run_env: Path) -> None:  # noqa: F811
    checkout = run(f"{svn_server.svn_url}/trunk")
    assert svn_server.password not in repr(checkout) and svn_server.password not in repr(run.events)
    assert not _files_holding(Path(os.environ["AUTOPACK_CACHE_DIR"]), svn_server.password)
    assert not _files_holding(Path.home() / ".subversion", svn_server.password)
    assert list(run_env.iterdir()) == []


def test_login_given_in_the_spec_wins(run: Run, svn_server: SvnServer, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv(svn.PASSWORD_ENV, "not-the-password")
    login = Login(svn_server.username, svn_server.password, "--svn-password-file /run/secret")
    assert run(f"{svn_server.svn_url}/trunk", login=login).revision == "6"
    with pytest.raises(SourceError, match="from --svn-password-file /run/secret"):
        run(f"{svn_server.svn_url}/trunk", login=Login(svn_server.username, "bad-password", "--svn-password-file /run/secret"))


def test_no_login_for_a_server_that_wants_one(run: Run, svn_server: SvnServer, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.delenv(svn.USER_ENV)
    monkeypatch.delenv(svn.PASSWORD_ENV)
    with pytest.raises(SourceError) as caught:
        run(f"{svn_server.svn_url}/trunk")
    assert re.search("refused anonymous access to svn://.* — set AUTOPACK_SVN_USER and AUTOPACK_SVN_PASSWORD", caught.value.one_line())


def test_no_such_revision(run: Run, svn_server: SvnServer) -> None:  # noqa: F811
    with pytest.raises(SourceError, match=re.escape(f"No such revision 99 in the repository of {svn_server.svn_url}/trunk@99")):
        run(f"{svn_server.svn_url}/trunk", revision="99")


def test_no_such_path(run: Run, svn_server: SvnServer) -> None:  # noqa: F811
    with pytest.raises(SourceError, match=re.escape(f"{svn_server.svn_url}/branches/nope@HEAD does not exist")):
        run(f"{svn_server.svn_url}/trunk", branch="nope")
    with pytest.raises(SourceError, match=re.escape(f"{svn_server.svn_url}/branches/release-1@3 does not exist")):
        run(f"{svn_server.svn_url}/branches/release-1@3")  # made in r4


def test_unreachable_server(run: Run) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SourceError, match=f"cannot reach the svn server for svn://127.0.0.1:{port}/repo/trunk@HEAD"):
        run(f"svn://127.0.0.1:{port}/repo/trunk")


def test_an_unknown_backend_is_a_usage_error(run_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, svn_server: SvnServer) -> None:  # noqa: F811
    monkeypatch.setenv(svn.BACKEND_ENV, "bogus")
    with pytest.raises(UsageError, match="AUTOPACK_SVN_BACKEND=bogus"):
        svn.checkout(SourceSpec(f"{svn_server.svn_url}/trunk", kind="svn"), tmp_path, lambda e: None)


# --- the command line backend: argv ------------------------------------------------------


def test_cli_command_line_holds_no_secret() -> None:
    login = Login("builder", "pa55-word", "test")
    assert svn_cli.command("/tmp/cfg", login, "info", "--xml", "svn://h/r@3") == [
        "svn", "--non-interactive", "--no-auth-cache", "--config-dir", "/tmp/cfg",
        "--username", "builder", "--password-from-stdin", "info", "--xml", "svn://h/r@3",
    ]  # fmt: skip
    assert svn_cli.command("/tmp/cfg", None, "info", trust_failures=True)[5].startswith("--trust-server-cert-failures=")


def test_cli_children_never_see_the_password_in_argv(tmp_path: Path, run_env: Path, svn_server: SvnServer, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """Sample /proc/*/cmdline of svn children in a tight loop while checkouts run."""
    monkeypatch.setenv(svn.BACKEND_ENV, "cli")
    seen: list[list[str]] = []
    done = threading.Event()

    def sample() -> None:
        me = str(os.getpid())
        while not done.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                    parent = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
                except OSError:
                    continue
                if parent == me and argv[0] == b"svn":
                    seen.append([a.decode() for a in argv if a])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    run = Run(tmp_path)
    try:
        for i in range(30):
            run(f"{svn_server.svn_url}/trunk@{2 + i % 2}")
            if len(seen) >= 3:
                break
    finally:
        done.set()
        sampler.join()
    assert seen, "no svn child was seen"
    for argv in seen:
        assert svn_server.password not in " ".join(argv)
        assert "--password-from-stdin" in argv and "--no-auth-cache" in argv
        config_dir = Path(argv[argv.index("--config-dir") + 1])
        assert not config_dir.exists()  # removed after the run


def test_resolve_strips_the_layout_before_a_branch_or_tag() -> None:
    spec = SourceSpec("svn://h/repo/branches/old/", kind="svn", svn_tag="v1")
    assert svn.resolve(spec) == ("svn://h/repo/tags/v1", "HEAD")
    assert svn.resolve(SourceSpec("svn://h/repo/tags/x@12", kind="svn", branch="b")) == ("svn://h/repo/branches/b", "12")
    assert svn.resolve(SourceSpec("svn://h/repo/project", kind="svn", revision="head")) == ("svn://h/repo/project", "HEAD")
    assert svn.resolve(SourceSpec("svn://u:pw123456@h/repo/trunk", kind="svn")) == ("svn://h/repo/trunk", "HEAD")
    with pytest.raises(UsageError):
        svn.resolve(SourceSpec("svn://h/repo", kind="svn", branch="a", svn_tag="b"))
    with pytest.raises(UsageError):
        svn.resolve(SourceSpec("svn://h/repo@yesterday", kind="svn"))


def test_layout_names() -> None:
    assert svn.layout_names("/trunk") == ("trunk", "trunk")
    assert svn.layout_names("/team/branches/feature-x/service") == ("branches/feature-x", "feature-x")
    assert svn.layout_names("/tags/v2") == ("tags/v2", "v2")
    assert svn.layout_names("/project") == (None, None)


def test_login_from_env_registers_the_password() -> None:
    login = svn.login_from_env({svn.USER_ENV: "u", svn.PASSWORD_ENV: "env-secret-42"})
    assert login == Login("u", "env-secret-42", "AUTOPACK_SVN_USER/AUTOPACK_SVN_PASSWORD")
    assert "env-secret-42" not in secrets.redact("x env-secret-42 y")
    assert svn.login_from_env({svn.USER_ENV: "u"}) is None


def _cached_working_copy(server: SvnServer) -> Path:
    return cache.root() / cache.key_for("svn", server.svn_url) / "wc"


def _files_holding(root: Path, secret: str) -> list[Path]:
    if not root.exists():
        return []
    found = [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    return found + [p for p in root.rglob("*") if secret in str(p)]
