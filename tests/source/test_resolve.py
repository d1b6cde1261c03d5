"""source.resolve: which backend a source needs, decided once, before anything runs."""

from __future__ import annotations

import subprocess

import pytest

from autopack import source
from autopack.errors import UsageError


def resolve(location, environ=None, **options):
    events = []
    spec = source.resolve(location, environ=environ or {}, emit=events.append, **options)
    return spec, events


@pytest.mark.parametrize(
    ("location", "kind", "url"),
    [
        ("ssh://git@gitlab.example.com/group/project.git", "git", "ssh://git@gitlab.example.com/group/project.git"),
        ("git@gitlab.example.com:group/sub/project.git", "git", "git@gitlab.example.com:group/sub/project.git"),
        ("git://example.com/project.git", "git", "git://example.com/project.git"),
        ("git+https://example.com/group/project", "git", "https://example.com/group/project"),
        ("https://gitlab.example.com/group/sub/project.git", "git", "https://gitlab.example.com/group/sub/project.git"),
        ("svn://svn.example.com/repo/trunk", "svn", "svn://svn.example.com/repo/trunk"),
        ("svn+ssh://svn.example.com/repo/trunk", "svn", "svn+ssh://svn.example.com/repo/trunk"),
        ("svn+https://svn.example.com/repo/trunk", "svn", "https://svn.example.com/repo/trunk"),
    ],
)
def test_the_scheme_decides_the_kind(location, kind, url):
    spec, _ = resolve(location)
    assert (spec.kind, spec.location) == (kind, url)


def test_vcs_forces_the_kind_of_an_http_url_without_asking():
    spec, events = resolve("https://svn.example.com/repo/trunk", vcs="svn")
    assert spec.kind == "svn" and events == []


def test_gitlab_shorthand_expands_against_the_server_url_and_takes_its_ref():
    spec, _ = resolve("gitlab:group/subgroup/project@v1.0.0", environ={"CI_SERVER_URL": "https://gitlab.example.com"})
    assert (spec.kind, spec.location, spec.ref) == ("git", "https://gitlab.example.com/group/subgroup/project.git", "v1.0.0")
    spec, _ = resolve("gitlab:group/project", gitlab_url="https://git.corp", environ={"GITLAB_URL": "https://ignored"})
    assert spec.location == "https://git.corp/group/project.git" and spec.ref is None


def test_gitlab_shorthand_without_a_server_is_a_usage_error():
    with pytest.raises(UsageError) as error:
        resolve("gitlab:group/project")
    assert "--gitlab-url" in error.value.one_line() and "CI_SERVER_URL" in error.value.one_line()


def test_svn_peg_revision_is_taken_from_the_url():
    spec, _ = resolve("svn://svn.example.com/repo/trunk@42")
    assert (spec.location, spec.revision) == ("svn://svn.example.com/repo/trunk", "42")
    spec, _ = resolve("svn://svn.example.com/repo/trunk@42", revision="42")
    assert spec.revision == "42"
    with pytest.raises(UsageError, match="revision 42 but --revision says 7"):
        resolve("svn://svn.example.com/repo/trunk@42", revision="7")


def test_git_branch_option_becomes_a_full_ref():
    spec, _ = resolve("ssh://git@example.com/p.git", branch="release/1.x")
    assert spec.ref == "refs/heads/release/1.x" and spec.branch is None


@pytest.mark.parametrize(
    ("location", "options", "message"),
    [
        ("svn://example.com/repo", {"ref": "main"}, "--ref does not apply to a svn source"),
        ("ssh://git@example.com/p.git", {"revision": "3"}, "does not apply to a git source"),
        ("https://example.com/p", {"vcs": "cvs"}, "--vcs 'cvs' is not a known kind"),
        ("ftp://example.com/p", {}, "unsupported source"),
    ],
)
def test_options_that_do_not_fit_the_source_are_refused(location, options, message):
    with pytest.raises(UsageError, match=message):
        resolve(location, **options)


def test_local_directory_takes_no_ref(tmp_path):
    spec, _ = resolve(str(tmp_path))
    assert spec.kind == "local"
    with pytest.raises(UsageError, match="local directory"):
        resolve(str(tmp_path), revision="3")


def test_file_urls_are_told_apart_on_disk(tmp_path):
    svn_root = tmp_path / "svnrepo"
    subprocess.run(["svnadmin", "create", str(svn_root)], check=True)
    bare = tmp_path / "project.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    plain = tmp_path / "plain"
    plain.mkdir()
    # file:// URLs point inside an svn repository, at paths that are not directories on disk
    assert resolve(f"file://{svn_root}/trunk/service")[0].kind == "svn"
    assert resolve(f"file://{bare}")[0].kind == "git"
    assert resolve(f"file://{plain}")[0].kind == "local"


def test_an_http_url_that_is_neither_fails_with_a_hint(tmp_path):
    # Port 9 on loopback: nothing listens, so neither probe gets an answer.
    with pytest.raises(UsageError) as error:
        resolve("http://127.0.0.1:9/group/project")
    assert "is a git or an svn repository" in error.value.message and "--vcs git or --vcs svn" in error.value.hint


def test_an_http_url_without_git_suffix_is_asked_of_the_server(git_remote):
    url = git_remote.url.removesuffix(".git")
    environ = {"AUTOPACK_GIT_USER": git_remote.username, "AUTOPACK_GIT_PASSWORD": git_remote.password}
    spec, events = resolve(url, environ=environ)
    assert spec.kind == "git"
    assert [e.text for e in events] == [f"{url} answers as a git server"]
    assert any(r.path.endswith("/info/refs") and r.auth == "ok" for r in git_remote.server.requests)
