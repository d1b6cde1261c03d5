"""svn:externals against a real svnserve (tests/source/svn_fixtures.py ``externals_repository``),
with each backend: not followed unless asked; when asked, each one held to the source rules
before anything is fetched for it; never kept in the cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autopack import cache
from autopack.errors import SourceError, UsageError
from autopack.events import Event, LogLine
from autopack.source import svn, svn_externals
from autopack.source.base import SourceSpec
from autopack.source.svn_client import Facts
from tests.source.svn_fixtures import ExternalsRepository, SvnServer, externals_repository, pom_version, svn_server  # noqa: F401  (fixtures)
from tests.source.svn_fixtures import svn as svn_cmd


@pytest.fixture(params=["pysvn", "cli"])
def run(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, svn_server: SvnServer):  # noqa: F811
    monkeypatch.setenv(svn.BACKEND_ENV, request.param)
    monkeypatch.setenv("AUTOPACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(svn.USER_ENV, svn_server.username)
    monkeypatch.setenv(svn.PASSWORD_ENV, svn_server.password)
    events: list[Event] = []
    count = [0]

    def check_out(location: str, **spec: object):
        count[0] += 1
        dest = tmp_path / f"dest{count[0]}"
        dest.mkdir()
        return svn.checkout(SourceSpec(location, kind="svn", **spec), dest, events.append)

    check_out.events = events  # type: ignore[attr-defined]
    return check_out


def info_lines(run) -> list[str]:
    return [e.text for e in run.events if isinstance(e, LogLine) and e.level == "info"]


def cached_wc(url: str) -> Path:
    return cache.root() / cache.key_for("svn", url) / "wc"


def test_externals_are_not_followed_unless_asked(run, externals_repository: ExternalsRepository) -> None:  # noqa: F811
    checkout = run(f"{externals_repository.svn_url}/trunk")
    assert pom_version(checkout.path) == "1.0.0"
    assert not (checkout.path / "libs").exists()
    assert not (cached_wc(externals_repository.svn_url) / "libs").exists()
    assert "svn:externals of '.' not followed (--svn-externals follows those on the source's own server)" in info_lines(run)


def test_externals_on_the_sources_server_are_followed_when_asked(run, externals_repository: ExternalsRepository) -> None:  # noqa: F811
    checkout = run(f"{externals_repository.svn_url}/trunk", svn_externals=True)
    libs = checkout.path / "libs"
    assert (libs / "head" / "LIB.txt").read_text() == "lib r3\n"
    assert (libs / "r2" / "LIB.txt").read_text() == "lib r2\n"
    assert (libs / "peg" / "LIB.txt").read_text() == "lib r2\n"
    assert (libs / "old" / "LIB.txt").read_text() == "lib r3\n"
    assert (libs / "head" / "vendor" / "VENDOR.txt").read_text() == "vendor\n"  # the external's own external
    assert not (libs / "r2" / "vendor").exists()  # lib had no externals at r2
    assert not (libs / "head" / ".svn").exists()  # exported: plain files
    lines = info_lines(run)
    assert f"svn:externals of '.': libs/head from {externals_repository.svn_url}/lib@{_head(externals_repository)}" in lines
    assert f"svn:externals of '.': libs/r2 from {externals_repository.svn_url}/lib@2" in lines
    assert f"svn:externals of 'libs/head': libs/head/vendor from {externals_repository.svn_url}/vendor@{_head(externals_repository)}" in lines
    assert (checkout.revision, checkout.url) == (str(_head(externals_repository)), f"{externals_repository.svn_url}/trunk")  # the facts are trunk's
    # The cache holds the repository's own content only; the next run without the option gets none.
    assert not (cached_wc(externals_repository.svn_url) / "libs").exists()
    again = run(f"{externals_repository.svn_url}/trunk")
    assert again.cache == "switch" and not (again.path / "libs").exists()


def test_a_file_url_source_follows_no_external_of_another_scheme(run, externals_repository: ExternalsRepository) -> None:  # noqa: F811
    with pytest.raises(UsageError) as caught:  # trunk's old-form line names svn://127.0.0.1:…/ext-repo/lib
        run(f"{externals_repository.file_url}/trunk", svn_externals=True)
    assert "is not on the source's server (file://)" in caught.value.message and "/ext-repo/lib" in caught.value.message
    assert not list(Path(cache.root()).parent.glob("dest*/libs"))  # all lines are checked before any is fetched


def test_a_file_url_external_must_stay_inside_the_sources_repository() -> None:
    root = "file:///srv/svn/repo"
    inside = svn_externals.parse("^/lib lib\n", ".", f"{root}/trunk", root)[0]
    svn_externals.check(inside, f"{root}/trunk", root)
    for text in ("file:///srv/svn/other/lib lib", "^/../other/lib lib", "file:///etc etc"):
        outside = svn_externals.parse(text, ".", f"{root}/trunk", root)[0]
        with pytest.raises(UsageError, match="must be inside the source's repository"):
            svn_externals.check(outside, f"{root}/trunk", root)


@pytest.mark.parametrize(
    ("branch", "message"),
    [
        ("file", "is not on the source's server (svn://127.0.0.1:"),
        ("host", "is not on the source's server"),
        ("scheme", "is not on the source's server"),
        ("escape", "the path '../../outside' leaves its directory"),
        ("at", "unencoded '@'"),
        ("date", "revision '{2020-01-01}' is not a number or HEAD"),
        ("option", "the path '-x' leaves its directory"),
    ],
)
def test_an_external_that_breaks_the_source_rules_stops_the_run_before_anything_is_fetched(run, externals_repository: ExternalsRepository, branch: str, message: str, tmp_path: Path) -> None:  # noqa: F811
    with pytest.raises(UsageError) as caught:
        run(f"{externals_repository.svn_url}/branches/{branch}", svn_externals=True)
    assert caught.value.exit_code == 2
    assert caught.value.message.startswith("svn:externals of '.'") and message in caught.value.message
    assert "--svn-externals" in caught.value.hint
    dest = tmp_path / "dest1"
    assert not [p for p in dest.rglob("*") if p.name in ("from-disk", "elsewhere", "other-scheme", "outside", "at", "dated", "-x", "libs")]
    assert not (tmp_path / "outside").exists()
    # Without the option the same branch checks out (the external is just not followed).
    assert pom_version(run(f"{externals_repository.svn_url}/branches/{branch}").path) == "1.0.0"


def test_externals_that_would_overwrite_the_checkout_are_refused(run, externals_repository: ExternalsRepository, tmp_path: Path) -> None:  # noqa: F811
    checkout = run(f"{externals_repository.svn_url}/trunk")
    facts = Facts(f"{externals_repository.svn_url}/trunk", externals_repository.svn_url, 5, "dir", 5, "ada", None)
    client = svn._backend()(None, lambda e: None)
    try:
        for line in ("^/lib pom.xml", "^/lib src/main"):
            with pytest.raises(SourceError, match="is already in the checkout"):
                svn_externals.follow(client, checkout.path, facts, {".": line + "\n"}, lambda e: None)
    finally:
        client.close()
    assert pom_version(checkout.path) == "1.0.0"


def _head(repository: ExternalsRepository) -> int:
    return int(svn_cmd("info", "--show-item", "revision", repository.file_url).strip())


@pytest.mark.parametrize(
    ("text", "owner_url", "expected"),
    [
        ("^/lib libs/lib", "svn://h/r/trunk", [("svn://h/r/lib", "HEAD", "HEAD", "libs/lib")]),
        ("-r 7 ^/lib@9 x", "svn://h/r/trunk", [("svn://h/r/lib", "7", "9", "x")]),
        ("-r7 ../lib x", "svn://h/r/trunk/sub", [("svn://h/r/trunk/lib", "7", "7", "x")]),
        ("../../lib@3 x", "svn://h/r/trunk/sub", [("svn://h/r/lib", "3", "3", "x")]),
        ("/other/lib x", "svn://h:3691/r/trunk", [("svn://h:3691/other/lib", "HEAD", "HEAD", "x")]),
        ("//h2/r/lib x", "https://h/r/trunk", [("https://h2/r/lib", "HEAD", "HEAD", "x")]),
        ("x -r 4 svn://h/r/lib", "svn://h/r/trunk", [("svn://h/r/lib", "4", "4", "x")]),  # the pre-1.5 form
        ("# a comment\n\n'svn://h/r/a%20b' 'with space'", "svn://h/r/trunk", [("svn://h/r/a%20b", "HEAD", "HEAD", "with space")]),
        ("^/../other/lib x", "svn://h/r/trunk", [("svn://h/other/lib", "HEAD", "HEAD", "x")]),
    ],
)
def test_parse_reads_every_form_svn_takes(text: str, owner_url: str, expected: list[tuple[str, str, str, str]]) -> None:
    found = svn_externals.parse(text, ".", owner_url, "svn://h/r" if "h:3691" not in owner_url else "svn://h:3691/r")
    assert [(e.url, e.revision, e.peg, e.path) for e in found] == expected


@pytest.mark.parametrize("text", ["just-one-token", "a b c", "'unbalanced x", "lib ^/x"])
def test_parse_refuses_what_is_not_a_definition(text: str) -> None:
    with pytest.raises(UsageError, match="svn:externals of 'sub'"):
        svn_externals.parse(text, "sub", "svn://h/r/trunk/sub", "svn://h/r")


def test_the_setting_comes_from_the_option_or_the_environment_never_from_a_repositorys_file(tmp_path: Path) -> None:
    from autopack import settings

    assert settings.resolve({"source": str(tmp_path)}, environ={}).svn_externals is False
    assert settings.resolve({"source": str(tmp_path), "svn_externals": True}, environ={}).svn_externals is True
    assert settings.resolve({"source": str(tmp_path)}, environ={"AUTOPACK_SVN_EXTERNALS": "1"}).svn_externals is True
    (tmp_path / "autopack.toml").write_text("svn_externals = true\n")
    with pytest.raises(UsageError, match="unknown setting 'svn_externals'"):
        settings.resolve({"source": str(tmp_path)}, environ={})


def test_resolve_carries_the_option_for_svn_sources_only() -> None:
    from autopack import source

    assert source.resolve("svn://svn.example.com/repo/trunk", svn_externals=True, environ={}, emit=lambda e: None).svn_externals is True
    assert source.resolve("ssh://git@example.com/p.git", svn_externals=True, environ={}, emit=lambda e: None).svn_externals is False


def test_a_cached_working_copy_made_with_externals_is_not_reused(run, externals_repository: ExternalsRepository, svn_server: SvnServer) -> None:  # noqa: F811
    """A cache entry left by an autopack that let svn follow externals (or by anyone) is
    checked out afresh, so its external directories never reach a run."""
    run(f"{externals_repository.svn_url}/trunk")
    wc = cached_wc(externals_repository.svn_url)
    entry = wc.parent
    for child in list(entry.iterdir()):
        if child.name != ".autopack-complete":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    svn_cmd("checkout", "--username", svn_server.username, "--password", svn_server.password, f"{externals_repository.svn_url}/trunk", str(wc))  # externals followed
    assert (wc / "libs" / "head" / "LIB.txt").is_file()
    again = run(f"{externals_repository.svn_url}/trunk")
    assert again.cache == "checkout" and not (again.path / "libs").exists()
    assert not (wc / "libs").exists()
    assert run(f"{externals_repository.svn_url}/trunk").cache == "switch"
