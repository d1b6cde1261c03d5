"""``svn:externals``: what a repository says to fetch from elsewhere. Never followed unless
asked (``--svn-externals``); checkouts and switches always run with ``--ignore-externals``.

When asked, every definition is read (``svn propget svn:externals -R``) and held to the
rules of a source URL before anything is fetched for it:

* the URL passes ``safety.check`` as a command-line URL would (no option, no
  ``transport::``, no malformed URL);
* it is on the source's own server — the same scheme, host and port as the URL the run was
  given (for ``file://``: inside the same repository), so that a repository can neither send
  the run's svn login to another host nor copy files from elsewhere on this machine;
* its revision is a number or ``HEAD``; its local path is relative, stays inside the
  directory holding the property and takes nothing that is already there.

A definition that breaks a rule stops the run (exit 2), naming the directory, the line and
the rule. Each accepted external is exported (plain files, ``--ignore-externals``) into the
run's own tree, never into the cache; the externals it defines itself are read from the
server and held to the same rules, up to ``MAX_DEPTH`` levels and ``MAX_COUNT`` in all.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote, unquote, urlsplit

from autopack import secrets
from autopack.errors import SourceError, UsageError
from autopack.events import Emit, LogLine
from autopack.source import safety
from autopack.source.base import SourceSpec
from autopack.source.svn_client import Client, Facts

MAX_DEPTH = 8
MAX_COUNT = 100
_REVISION = re.compile(r"HEAD|[0-9]+", re.IGNORECASE)
_DEFAULT_PORTS = {"svn": 3690, "svn+ssh": 22, "http": 80, "https": 443, "file": None}
HINT = "fix the svn:externals property, or leave out --svn-externals (externals are then not fetched)"


@dataclass(frozen=True)
class External:
    owner: str  # the directory holding the property, relative to the checkout ("." for its root)
    line: str  # the definition as written
    url: str  # absolute
    revision: str  # operative revision: a number or HEAD
    peg: str  # peg revision: a number or HEAD
    path: str  # where it goes, relative to ``owner``


def parse(text: str, owner: str, owner_url: str, repos_root: str) -> list[External]:
    """The definitions of one ``svn:externals`` value, set on ``owner`` (at ``owner_url``, in
    the repository at ``repos_root``), with relative URLs made absolute. Raises ``UsageError``
    for a line that is not a definition svn would take."""
    found = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue

        def refuse(why: str, line: str = line) -> UsageError:
            return UsageError(f"svn:externals of '{owner}': {why}: '{_printable(line)}'", HINT)

        try:
            tokens = shlex.split(line)
        except ValueError:
            raise refuse("unbalanced quotes") from None
        revision = None
        for i, token in enumerate(tokens):
            if token == "-r" and i + 1 < len(tokens):
                revision, tokens = tokens[i + 1], tokens[:i] + tokens[i + 2 :]
                break
            if token.startswith("-r") and len(token) > 2:
                revision, tokens = token[2:], tokens[:i] + tokens[i + 1 :]
                break
        if len(tokens) != 2:
            raise refuse("not 'URL PATH' (or the old 'PATH URL')")
        if _url_like(tokens[0]):
            reference, path = tokens
        elif "://" in tokens[1]:
            path, reference = tokens  # svn before 1.5: PATH [-r N] URL
        else:
            raise refuse("no URL")
        reference, peg = _split_peg(reference)
        for value in (revision, peg):
            if value is not None and not _REVISION.fullmatch(value):
                raise refuse(f"revision '{value}' is not a number or HEAD")
        url = _absolute(reference, owner_url, repos_root, refuse)
        operative = (revision or peg or "HEAD").upper()
        found.append(External(owner, line, url, operative, (peg or revision or "HEAD").upper(), path))
    return found


def check(external: External, source_url: str, source_root: str) -> None:
    """Raise ``UsageError`` unless ``external`` keeps the source rules (the module's docstring)."""

    try:
        safety.check(SourceSpec(external.url, "svn", revision=external.revision))
    except UsageError as e:  # its message shows the URL without what may be a password
        raise UsageError(f"svn:externals of '{external.owner}': {e.message}", HINT) from None

    def refuse(why: str) -> UsageError:
        return UsageError(f"svn:externals of '{external.owner}' names {_printable(secrets.strip_url_credentials(external.url))}: {why}", HINT)

    if _server(external.url) != _server(source_url):
        raise refuse(f"it is not on the source's server ({_origin(source_url)}): an external must have the same scheme, host and port")
    if _server(source_url)[0] == "file" and not _inside(urlsplit(external.url).path, urlsplit(source_root).path):
        raise refuse(f"a file:// external must be inside the source's repository ({source_root})")
    path = PurePosixPath(external.path)
    if not external.path or path.is_absolute() or ".." in path.parts or external.path.startswith("-") or path == PurePosixPath(".") or any(ord(c) < 32 for c in external.path):
        raise UsageError(f"svn:externals of '{external.owner}': the path '{_printable(external.path)}' leaves its directory", HINT)


def follow(client: Client, tree: Path, facts: Facts, definitions: dict[str, str], emit: Emit) -> int:
    """Fetch the externals ``definitions`` (directory relative to ``tree`` → property) name,
    into ``tree``; ``facts`` are the checkout's. Returns how many were fetched."""
    queue = [(0, owner, f"{facts.url}/{quote(owner)}" if owner != "." else facts.url, facts.repos_root, text) for owner, text in sorted(definitions.items())]
    count = 0
    while queue:
        depth, owner, owner_url, repos_root, text = queue.pop(0)
        externals = parse(text, owner, owner_url, repos_root)
        for external in externals:
            check(external, facts.url, facts.repos_root)
        for external in externals:
            count += 1
            if count > MAX_COUNT:
                raise UsageError(f"more than {MAX_COUNT} svn:externals", HINT)
            target = _target(tree, external)
            info = client.info(external.url, external.peg)
            revision = str(info.revision) if external.revision == external.peg else external.revision
            peg = str(info.revision)
            emit(LogLine("source", f"svn:externals of '{owner}': {_relative(target, tree)} from {external.url}@{revision}", "info"))
            target.parent.mkdir(parents=True, exist_ok=True)
            client.export(external.url, peg, revision, target)
            if info.kind != "dir":
                continue
            nested = client.externals(external.url, revision, peg)
            if nested and depth + 1 >= MAX_DEPTH:
                raise UsageError(f"svn:externals nest deeper than {MAX_DEPTH} levels (at {external.url})", HINT)
            for url, value in sorted(nested.items()):
                base = next((b for b in (info.url, external.url) if url == b or url.startswith(b + "/")), None)
                if base is None:
                    raise SourceError(f"svn named {url} as a directory of the external {external.url}", "report this: autopack cannot place its externals")
                inner = unquote(url[len(base) :]).strip("/")
                queue.append((depth + 1, _relative(target / inner, tree), url, info.repos_root, value))
    return count


def read(client: Client, wc: Path) -> dict[str, str]:
    """The ``svn:externals`` properties of the working copy ``wc``: directory relative to
    ``wc`` ("." for itself) → value."""
    found = {}
    for path, value in client.externals(str(wc)).items():
        rel = Path(path).relative_to(wc) if Path(path).is_absolute() else Path(path)
        if value.strip():
            found[rel.as_posix()] = value
    return found


def _target(tree: Path, external: External) -> Path:
    owner = tree / external.owner
    target = owner / external.path
    existing = target.parent
    while not existing.exists():
        existing = existing.parent
    root = tree.resolve()
    if existing.resolve() != root and root not in existing.resolve().parents:
        raise UsageError(f"svn:externals of '{external.owner}': the path '{external.path}' leads outside the checkout (through a link)", HINT)
    if target.exists() or target.is_symlink():
        raise SourceError(f"svn:externals of '{external.owner}': '{external.path}' is already in the checkout", HINT)
    return target


def _url_like(token: str) -> bool:
    return "://" in token or token.startswith(("^/", "//", "/", "../"))


def _split_peg(reference: str) -> tuple[str, str | None]:
    """``URL@PEG`` → (URL, PEG); a peg is in the path, never in the host (``user@host``);
    a trailing ``@`` (``URL@``) is how svn writes a path that has an ``@`` of its own."""
    _, sep, rest = reference.partition("://")
    path = rest[rest.find("/") :] if sep and "/" in rest else ("" if sep else reference)
    if "@" not in path:
        return reference, None
    head, _, peg = reference.rpartition("@")
    return head, peg or None


def _absolute(reference: str, owner_url: str, repos_root: str, refuse) -> str:
    owner = urlsplit(owner_url)
    if "://" in reference:
        url = reference
    elif reference.startswith("^/"):
        url = repos_root.rstrip("/") + "/" + reference[2:]
    elif reference.startswith("//"):
        url = f"{owner.scheme}:{reference}"
    elif reference.startswith("/"):
        url = f"{owner.scheme}://{owner.netloc}{reference}"
    elif reference.startswith("../"):
        url = owner_url.rstrip("/") + "/" + reference
    else:
        raise refuse("no URL")
    scheme, _, rest = url.partition("://")
    netloc, _, path = rest.partition("/")
    normal = posixpath.normpath("/" + path) if path else ""  # "a/../b" → "/b"; never above the host
    return f"{scheme}://{netloc}{'' if normal == '/' else normal}"


def _server(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower() or None, parts.port or _DEFAULT_PORTS.get(scheme)


def _origin(url: str) -> str:
    scheme, host, port = _server(url)
    return f"{scheme}://{host or ''}" + (f":{port}" if port else "")


def _inside(path: str, root: str) -> bool:
    path, root = posixpath.normpath(unquote(path)), posixpath.normpath(unquote(root))
    return path == root or path.startswith(root.rstrip("/") + "/")


def _relative(path: Path, tree: Path) -> str:
    return path.relative_to(tree).as_posix() or "."


def _printable(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m[0])[1:-1], text)
