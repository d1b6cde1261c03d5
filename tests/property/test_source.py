"""Properties of source resolution and the safety checks (autopack.source.resolve, .safety).

``resolve`` decides what the user typed: for any text and any combination of options it
returns a ``SourceSpec`` or refuses with a ``UsageError``/``SourceError`` — nothing else
escapes. Inputs are chosen so that the server probe (an ``http(s)://`` URL without ``.git``
and without ``--vcs``) never runs; the module's network guard fails any example that would
connect anyway. A spec it accepts passes ``safety.check`` and is a fixed point: resolving it
again (its location with its kind as ``--vcs`` and its options) gives the same spec.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from hypothesis import assume, example, given
from hypothesis import strategies as st

from autopack import source
from autopack.errors import SourceError, UsageError
from autopack.source import KINDS, SCHEMES, gitlab, safety
from autopack.source.base import SourceSpec

_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:(?!//)")  # the shape resolve takes as git without a scheme


def probes_the_server(location: str, vcs: str | None) -> bool:
    """Whether resolve would ask a server what ``location`` is (the one case with network I/O)."""
    if vcs or location.startswith(gitlab.PREFIX) or _SCP_LIKE.match(location) or "://" not in location:
        return False
    try:
        parts = urlsplit(location)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and not parts.path.rstrip("/").endswith(".git")


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
WORD = st.text("abcXYZ019._-+/@:~%", min_size=1, max_size=12)
TRAILING = st.builds(lambda w, c: w + c, WORD, st.sampled_from(["\n", "\r", "\t", " ", "\x00", "\u0663", "\uff11"]))  # "$" and "\d" corners
NAMEISH = st.one_of(WORD, TEXT, TRAILING, st.sampled_from(["main", "v1.0.0", "refs/heads/x", "feature/x-1", "-x", "..", "a..b", "x.lock", "x/", "HEAD", "42", "head"]))
SCHEME = st.one_of(st.sampled_from(sorted(SCHEMES)), st.sampled_from(["ftp", "GIT", "Svn+SSH", "git+file", "ext", "fd", "x"]), st.from_regex(r"\A[a-z][a-z0-9+.-]{0,8}\Z"))
HOST = st.one_of(st.sampled_from(["example.com", "git.example.com:2222", "user:pw@host", "[::1]:80", "[::1", "-oProxyCommand=x", "127.0.0.1", ""]), WORD)
PATH = st.one_of(st.sampled_from(["/group/project.git", "/repo/trunk", "/repo/trunk@42", "/r@1@2", "/x@HEAD", "/-x", "", "/a b"]), WORD.map(lambda w: "/" + w), TEXT)


def url(scheme: str, host: str, path: str) -> str:
    return f"{scheme}://{host}{path}"


LOCATION = st.one_of(
    TEXT,
    st.builds(url, SCHEME, HOST, PATH),
    st.builds(lambda host, path: f"https://{host}{path}.git", HOST, PATH),
    st.builds(lambda user, host, path: f"{user}@{host}:{path}", WORD, WORD, st.one_of(WORD, TEXT)),
    st.builds(lambda body: gitlab.PREFIX + body, st.one_of(WORD, TEXT, st.sampled_from(["group/project", "g/s/p@v1", "g/p.git@-x", "../x", "a/./b"]))),
    st.builds(lambda rest: "~" + rest, st.one_of(WORD, TEXT)),
    st.sampled_from([".", "..", "/", "/nonexistent/x", "file:///nonexistent/x", "ext::sh -c x", "-x", "//[x", "a" * 300, "/" + "a" * 300]),
)
OPTIONAL = st.none() | NAMEISH
OPTIONS = st.fixed_dictionaries(
    {
        "vcs": st.none() | st.sampled_from([*KINDS, "cvs", ""]),
        "ref": OPTIONAL,
        "revision": st.none() | st.sampled_from(["1", "42", "HEAD", "head", "-r5", "x", "٣"]) | NAMEISH,
        "branch": OPTIONAL,
        "svn_tag": OPTIONAL,
        "subdir": st.none() | st.one_of(NAMEISH, st.sampled_from(["a/b", ".", "../x", "/etc", "a/../../b"])),
        "shallow": st.booleans(),
        "gitlab_url": st.none() | st.sampled_from(["https://gitlab.example.com", "http://[::1", "https://gitlab.example.com/", "-x", "ext::x"]) | TEXT,
    }
)
ENVIRON = st.fixed_dictionaries({}, optional={"GITLAB_URL": st.sampled_from(["https://gitlab.example.com", "http://[x"]), "CI_SERVER_URL": TEXT})


def resolve(location: str, environ: dict[str, str], options: dict) -> SourceSpec:
    events: list = []
    return source.resolve(location, environ=environ, emit=events.append, **options)


@given(LOCATION, OPTIONS, ENVIRON)
@example("https://[::1/x.git", {}, {})  # urlsplit: "Invalid IPv6 URL"
@example("//[x", {"vcs": "svn"}, {})
@example("~nosuchuser-autopack/x", {}, {})  # expanduser: no such user
@example("a" * 300, {}, {})  # a name too long for the file system
@example("gitlab:g/p", {"gitlab_url": "http://[::1"}, {})
@example("svn://h/r@1@2", {}, {})
def test_resolve_refuses_only_with_usage_or_source_errors(location: str, options: dict, environ: dict[str, str]) -> None:
    assume(not probes_the_server(location, options.get("vcs")))
    try:
        spec = resolve(location, environ, options)
    except (UsageError, SourceError) as e:
        assert e.message and e.hint
        return
    # What it accepts is safe to hand to a backend, and says what it is.
    safety.check(spec)
    assert spec.kind in KINDS
    if spec.kind == "local":
        assert not (spec.ref or spec.revision or spec.branch or spec.svn_tag)
    if spec.kind == "git":
        assert spec.revision is None and spec.svn_tag is None
    if spec.kind == "svn":
        assert spec.ref is None
    # A fixed point: the spec, given back as the user's input, resolves to itself.
    again = resolve(spec.location, {}, {"vcs": spec.kind, "ref": spec.ref, "revision": spec.revision, "branch": spec.branch, "svn_tag": spec.svn_tag, "subdir": spec.subdir, "shallow": spec.shallow})
    assert again == spec


BENIGN_LOCATION = st.sampled_from(["https://git.example.com/g/p.git", "svn://svn.example.com/repo/trunk", "git@host:g/p.git", "/srv/orders", "file:///srv/svn/repo"])
FIELD_VALUES = st.dictionaries(st.sampled_from(["ref", "revision", "branch", "svn_tag", "subdir"]), NAMEISH, max_size=2)


@given(
    st.one_of(st.tuples(LOCATION, st.just({})), st.tuples(BENIGN_LOCATION, FIELD_VALUES)),
    st.sampled_from(KINDS),
)
@example(("A://[", {}), "local")  # urlsplit raised ValueError out of safety.check
@example(("ext::sh -c x://y", {}), "git")
@example(("svn://h/r", {"revision": "42\n"}), "svn")  # "$" let a trailing newline through
@example(("https://h/p.git", {"ref": "main\n"}), "git")
@example(("svn://h/r", {"revision": "\u0663"}), "svn")  # ARABIC-INDIC DIGIT THREE matched "\\d"
def test_safety_check_refuses_with_usage_errors_only_and_passes_only_safe_values(case: tuple[str, dict], kind: str) -> None:
    location, options = case
    spec = SourceSpec(location, kind, **options)
    try:
        safety.check(spec)
    except UsageError as e:
        assert e.exit_code == 2 and e.hint
        return
    # Nothing that passes can turn into an option or a transport of git, ssh or svn.
    # git's transport.c takes "<scheme chars>::" as a remote helper ("ext::sh -c …"),
    # wherever a "://" comes later; an option is anything that starts with '-'.
    assert not location.startswith("-")
    assert not re.match(r"[A-Za-z][A-Za-z0-9+.-]*::", location)
    assert not any(ord(c) < 32 for c in location)
    for value in (spec.ref, spec.branch, spec.svn_tag):
        assert value is None or (not value.startswith("-") and ".." not in value and re.fullmatch(r"[A-Za-z0-9._/+-]+", value))
    assert spec.revision is None or re.fullmatch(r"HEAD|[0-9]+", spec.revision, re.IGNORECASE)
    assert spec.subdir is None or not (spec.subdir.startswith(("-", "/")) or ".." in spec.subdir.split("/"))
