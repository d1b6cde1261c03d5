"""Hostile inputs are refused before any git, ssh or svn child runs; plain ones pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from autopack.errors import UsageError
from autopack.source import safety
from autopack.source import git as git_backend
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
