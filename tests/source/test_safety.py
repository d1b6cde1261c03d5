"""Hostile inputs are refused before any git, ssh or svn child runs; plain ones pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from autopack import source
from autopack.errors import UsageError
from autopack.source import git as git_backend
from autopack.source import safety
from autopack.source.base import SourceSpec


@pytest.mark.parametrize(
    "spec",
    [
        SourceSpec("https://git.example.com/g/p.git", "git", ref="--upload-pack=touch /tmp/x"),
        SourceSpec("https://git.example.com/g/p.git", "git", ref="-x"),
        SourceSpec("https://git.example.com/g/p.git", "git", ref="main;touch x"),
        SourceSpec("https://git.example.com/g/p.git", "git", ref="../../etc"),
        SourceSpec("https://git.example.com/g/p.git", "git", ref="main.lock"),
        SourceSpec("https://git.example.com/g/p.git", "git", ref="feature/"),
        SourceSpec("https://git.example.com/g/p.git", "git", ref="a b"),
        SourceSpec("ext::sh -c touch% /tmp/pwned", "git"),
        SourceSpec("fd::17", "git"),
        SourceSpec("--foo", "git"),
        SourceSpec("-oProxyCommand=x:repo", "git"),
        SourceSpec("ssh://-oProxyCommand=touch%20x/x", "git"),
        SourceSpec("ssh://git@-oProxyCommand=x/repo", "git"),
        SourceSpec("git@host:-repo", "git"),
        SourceSpec("https://git.example.com/g/p.git\nx", "git"),
        SourceSpec("https://git.example.com/g/p.git", "git", subdir="../.."),
        SourceSpec("https://git.example.com/g/p.git", "git", subdir="/etc"),
        SourceSpec("https://git.example.com/g/p.git", "git", subdir="a/../../b"),
        SourceSpec("https://git.example.com/g/p.git", "git", subdir="-x"),
        SourceSpec("svn://svn.example.com/repo", "svn", revision="-r5"),
        SourceSpec("svn://svn.example.com/repo", "svn", branch="--config-dir=/tmp"),
        SourceSpec("svn://svn.example.com/repo", "svn", svn_tag="-x"),
    ],
    ids=repr,
)
def test_hostile_inputs_are_refused(spec: SourceSpec) -> None:
    with pytest.raises(UsageError) as caught:
        safety.check(spec)
    assert caught.value.exit_code == 2 and caught.value.hint


@pytest.mark.parametrize(
    "spec",
    [
        SourceSpec("https://gitlab.example.com/group/sub/project.git", "git", ref="main"),
        SourceSpec("https://ada:pw@gitlab.example.com/group/project.git", "git", ref="refs/merge-requests/1/head"),
        SourceSpec("http://127.0.0.1:8080/group/project.git", "git", ref="v1.0.0", subdir="services/hello"),
        SourceSpec("ssh://git@gitlab.example.com:2222/group/project.git", "git", ref="feature/x-1.2_b+c"),
        SourceSpec("git@gitlab.example.com:group/project.git", "git", ref="0123abcd"),
        SourceSpec("file:///srv/git/project.git", "git", subdir="a/b"),
        SourceSpec("/srv/projects/orders", "local"),
        SourceSpec("./orders", "local", subdir="."),
        SourceSpec("svn://svn.example.com/repo", "svn", revision="HEAD", branch="release-1"),
        SourceSpec("svn+ssh://svn.example.com/repo", "svn", revision="42", svn_tag="v1.1.0"),
    ],
    ids=repr,
)
def test_benign_inputs_pass(spec: SourceSpec) -> None:
    safety.check(spec)


def test_the_git_backend_checks_before_running_anything(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for spec in (
        SourceSpec(f"ext::sh -c touch% {marker}", "git"),
        SourceSpec("https://git.example.com/g/p.git", "git", ref=f"--upload-pack=touch {marker}"),
    ):
        with pytest.raises(UsageError):
            git_backend.checkout(spec, tmp_path, lambda event: None)
    assert not marker.exists() and not any(tmp_path.iterdir())


# --- malformed URLs: exit 2 with the way to write them, never an internal error ----------

MALFORMED = [
    ("https://user:p@ss@host.example.com/repo.git", "unencoded '@'", "%40 for @"),
    ("https://user:pa:ss@host.example.com/r.git", "unencoded ':'", "%3A for :"),
    ("svn://builder:s@cret@svn.example.com/repo/trunk", "unencoded '@'", "--svn-password-file"),
    ("https://user:pa/ss@host.example.com/r.git", "not a port number", "%2F for /"),
    ("https://user:pa#ss@host.example.com/r.git", "not a port number", "%23 for #"),
    ("https://host.example.com:99999/r.git", "not a port number", "1 to 65535"),
    ("https://[::1/repo", "its host is not valid", "in brackets"),
    ("svn://[bad]/x", "its host is not valid", "in brackets"),
    ("https://user:p]w@host.example.com/r.git", "'['", "%5B / %5D"),
    ("https://host.example.com/my repo.git", "a space", "%20"),
    ("https://host.example.com/repo.git\t", "a control character", "on one line"),
    ("svn://svn.example.com/re\x1bpo/trunk", "a control character", "on one line"),
    ("https:///group/project.git", "names no host", "scheme://host/path"),
]


@pytest.mark.parametrize(("location", "why", "hint"), MALFORMED, ids=[m[0].encode("unicode_escape").decode() for m in MALFORMED])
def test_a_malformed_url_is_a_usage_error_saying_how_to_write_it(location: str, why: str, hint: str) -> None:
    for attempt in (lambda: safety.check(SourceSpec(location, "git")), lambda: source.resolve(location, environ={}, emit=lambda e: None)):
        with pytest.raises(UsageError) as caught:
            attempt()
        assert caught.value.exit_code == 2
        assert why in caught.value.message and hint in caught.value.hint
        for fragment in ("p@ss", "pa:ss", "s@cret", "pa/ss", "pa#ss", "\x1b", "\t"):
            assert fragment not in caught.value.message  # what may be a password is not repeated


@pytest.mark.parametrize(
    "location",
    [
        "https://user:p%40ss@host.example.com/repo.git",
        "https://user:pa%3Ass@host.example.com/r.git",
        "https://[::1]:8443/group/project.git",
        "https://[2001:db8::1]/group/project.git",
        "ssh://git@[::1]:2222/group/project.git",
        "https://host.example.com/my%20repo.git",
        "svn://svn.example.com/repo/trunk@42",
        "svn+ssh://ada@svn.example.com/repo/trunk",
        "file:///srv/git/my project.git",  # a file:// path is the directory's own name
    ],
)
def test_well_written_urls_pass(location: str) -> None:
    safety.check(SourceSpec(location, "git"))


def test_a_malformed_gitlab_server_url_is_no_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    from autopack.source import git_auth

    url, login = git_auth.remote(SourceSpec("https://git.example.com/g/p.git", "git"), environ={"GITLAB_URL": "https://[gitlab", "GITLAB_TOKEN": "gl-token-123"})
    assert (url, login) == ("https://git.example.com/g/p.git", None)
