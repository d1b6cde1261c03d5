"""Build-context and build-arg hygiene, checked in the plan stage before Maven runs.

Everything in the build context that the ignore file does not exclude is sent to the
builder, where any ``COPY . …`` can put it in a layer; every build argument a Dockerfile
declares is kept in the image's history. So before the build, ``check`` walks what *would be
sent* once and names what should not be: Maven settings with a password, ``.git``/``.svn``
metadata, ``.env`` files, private keys, cloud and registry credential files; and the build
arguments whose name or value looks like a secret. ``review`` turns that into one warning
per finding for the plan stage, and with ``--strict`` into a usage error.

What would be sent is decided as the chosen builder decides it:

- ``buildkit``, ``buildkitd``: BuildKit reads ``<Dockerfile>.dockerignore`` beside the
  Dockerfile, else ``.dockerignore`` in the context, and matches with moby's
  ``patternmatcher`` as ``tonistiigi/fsutil`` walks (``MatchesUsingParentResults``, and its
  rule for when an excluded directory is still entered). ``Patterns`` is a port of both.
- ``buildah``: the same patterns; ``<Dockerfile>.dockerignore``, ``<Dockerfile>.containerignore``,
  ``.containerignore``, then ``.dockerignore`` (buildah 1.28's order, checked by hand).
- ``docker-api``: the docker SDK makes the tarball itself from ``.dockerignore`` alone, with its
  own ``PatternMatcher`` — which differs from moby's (it ignores case, and checks only one
  parent directory per pattern): so for that builder the SDK's matcher decides (``SdkPatterns``).

The walk is bounded (``MAX_ENTRIES``, ``TIME_BUDGET``); a context too big for it is checked
as far as it got, and the report says so. Symlinks are sent as links: never followed.
No finding, message or error ever holds a secret's value.
"""

from __future__ import annotations

import json
import math
import os
import posixpath
import re
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import defusedxml.ElementTree as SafeET
from docker.utils import build as sdk_build

from autopack import secrets
from autopack.errors import UsageError
from autopack.events import Emit, LogLine
from autopack.image.dockerfile import Dockerfile

if TYPE_CHECKING:
    from autopack.plan import PlannedImage

STAGE = "plan"
MAX_ENTRIES = 50_000  # directory entries looked at, per context
TIME_BUDGET = 5.0  # seconds, per context
MAX_READ = 1 << 20  # bytes of one file read to look inside it


@dataclass(frozen=True)
class Finding:
    """One thing that should not reach the builder: ``where`` names it (a path relative to
    the context, or ``build arg NAME``), ``what`` says why, ``fix`` how to keep it out."""

    what: str
    where: str
    fix: str

    def line(self) -> str:
        return f"{self.where}: {self.what} — {self.fix}"


@dataclass(frozen=True)
class Report:
    findings: tuple[Finding, ...]
    ignore_file: Path | None  # the ignore file the builder would use, if any
    entries: int  # directory entries looked at
    stopped: str | None = None  # why the walk ended before the whole context was seen


def findings(dockerfile: Dockerfile, build_args: Mapping[str, str], engine: str = "buildkit") -> list[Finding]:
    """What in ``dockerfile``'s context (as ``engine`` would send it) and in ``build_args``
    looks like a credential; see ``check``."""
    return list(check(dockerfile, build_args, engine).findings)


def check(dockerfile: Dockerfile, build_args: Mapping[str, str], engine: str = "buildkit", *, max_entries: int = MAX_ENTRIES, budget: float = TIME_BUDGET) -> Report:
    ignore = ignore_file(dockerfile, engine)
    try:
        lines = ignore.read_text(encoding="utf-8", errors="replace").splitlines() if ignore else []
    except OSError:
        lines = []  # the builder could not read it either
    matcher: Matcher = SdkPatterns(lines) if engine == "docker-api" else Patterns(read_ignore_lines(lines))
    ignore_name = ignore.name if ignore else ".dockerignore"
    walker = _Walker(dockerfile.context, matcher, max_entries, time.monotonic() + budget)
    found = [*_context_findings(walker, ignore_name), *_arg_findings(build_args, dockerfile)]
    return Report(tuple(found), ignore, walker.entries, walker.stopped)


def review(images: Sequence[PlannedImage], strict: bool, engine: str, emit: Emit) -> None:
    """The plan stage's check of every planned image: one warning per finding; with
    ``strict``, a usage error naming the first and counting the rest."""
    several = len(images) > 1
    named: list[str] = []
    first: Finding | None = None
    for image in images:
        if image.dockerfile is None:
            continue
        report = check(image.dockerfile, image.build_args, engine)
        prefix = f"{image.module}: " if several else ""
        for finding in report.findings:
            emit(LogLine(STAGE, prefix + finding.line(), "warning"))
            named.append(prefix + finding.where)
            first = first or finding
        if report.stopped:
            emit(LogLine(STAGE, f"{prefix}build context check stopped {report.stopped}: the rest of {image.dockerfile.context} was not checked — a .dockerignore keeps the context small", "warning"))
    if strict and first is not None:
        more = f" (and {len(named) - 1} more)" if len(named) > 1 else ""
        raise UsageError(f"--strict: {named[0]}: {first.what}{more}", f"{first.fix}; or drop --strict")


def ignore_file(dockerfile: Dockerfile, engine: str = "buildkit") -> Path | None:
    """The ignore file ``engine`` would read for this Dockerfile and context, if any."""
    context, own = dockerfile.context, dockerfile.path.parent / dockerfile.path.name
    if engine == "docker-api":
        candidates = [context / ".dockerignore"]
    elif engine == "buildah":
        candidates = [Path(f"{own}.dockerignore"), Path(f"{own}.containerignore"), context / ".containerignore", context / ".dockerignore"]
    else:
        candidates = [Path(f"{own}.dockerignore"), context / ".dockerignore"]
    return next((c for c in candidates if c.is_file()), None)


# --- ignore-file patterns ------------------------------------------------------------------


def read_ignore_lines(lines: Sequence[str]) -> list[str]:
    """moby's ``ignorefile.ReadAll``: a UTF-8 BOM goes; a line starting with ``#`` (in the
    first column only) is a comment; each pattern is trimmed, cleaned (``filepath.Clean``)
    and loses a leading ``/``; ``!`` keeps its place in front."""
    patterns = []
    for number, line in enumerate(lines):
        if number == 0:
            line = line.removeprefix("\ufeff")
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = _clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return patterns


def _clean(path: str) -> str:
    """Go's ``filepath.Clean`` (on a slash-separated path): ``posixpath.normpath`` but for a
    leading ``//``, which Go folds to ``/``."""
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


class Matcher(Protocol):
    def match(self, path: str, parent: tuple[bool, ...] | None) -> tuple[bool, tuple[bool, ...]]:
        """Whether ``path`` (relative, slash-separated) is excluded, given what its parent
        directory's match returned (None at the top); and what to hand its children."""

    def enters(self, directory: str) -> bool:
        """Whether an excluded ``directory`` must still be walked (an exception may let
        something below it in)."""


_ESCAPED = frozenset(".+()|{}$")
_WILDCARDS = "*?[\\"


class _Pattern:
    """One pattern of moby's ``patternmatcher``, matched as its ``Pattern.match`` does."""

    def __init__(self, text: str) -> None:
        self.exclusion = text.startswith("!")
        self.text = text[1:] if self.exclusion else text
        self.kind, self.regex = self._compile(self.text)

    @staticmethod
    def _compile(pattern: str) -> tuple[str, re.Pattern[str] | None]:
        regex, kind, i, at = "^", "exact", 0, 0
        while at < len(pattern):
            ch = pattern[at]
            at += 1
            if ch == "*":
                if at < len(pattern) and pattern[at] == "*":
                    at += 1
                    if at < len(pattern) and pattern[at] == "/":
                        at += 1
                    if at >= len(pattern):
                        if kind == "exact":
                            kind = "prefix"
                        else:
                            regex += ".*"
                            kind = "regex"
                    else:
                        regex += "(.*/)?"
                        kind = "regex"
                    if i == 0:
                        kind = "suffix"
                else:
                    regex += "[^/]*"
                    kind = "regex"
            elif ch == "?":
                regex += "[^/]"
                kind = "regex"
            elif ch in _ESCAPED:
                regex += "\\" + ch
            elif ch == "\\":
                if at < len(pattern):
                    regex += "\\" + pattern[at]
                    at += 1
                    kind = "regex"
                else:
                    regex += "\\\\"
            elif ch in "[]":
                regex += ch
                kind = "regex"
            else:
                regex += ch  # as moby: "^" and the rest go into the expression as they are
            i += 1
        if kind != "regex":
            return kind, None
        try:
            return kind, re.compile(regex + r"\Z")
        except re.error:
            return "invalid", None  # Docker refuses the build; here it excludes nothing

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        if self.kind == "regex" and self.regex is not None:
            return self.regex.match(path) is not None
        return False

    def without_trailing_glob(self) -> str:
        return self.text.removesuffix("/**").removesuffix("/*")


class Patterns:
    """moby's ``PatternMatcher`` over ignore-file patterns (``read_ignore_lines``), matched
    the way BuildKit's context walk (fsutil) matches: ``MatchesUsingParentResults``."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = []
        for text in patterns:
            text = text.strip()
            if not text or text == "!":
                continue
            text = _clean(text)
            self.patterns.append(_Pattern(text))
        self.exclusions = any(p.exclusion for p in self.patterns)
        # fsutil enters an excluded directory only for an exception that could match below
        # it; an exception with a wildcard could match anywhere, so then it enters them all.
        self._prefix_only = not any(p.exclusion and any(c in p.without_trailing_glob() for c in _WILDCARDS) for p in self.patterns)

    def match(self, path: str, parent: tuple[bool, ...] | None = None) -> tuple[bool, tuple[bool, ...]]:
        matched = False
        info = []
        for index, pattern in enumerate(self.patterns):
            hit = parent[index] if parent else False
            if not hit:
                if pattern.exclusion != matched:
                    info.append(False)
                    continue
                hit = pattern.match(path)
                if not hit and not parent:  # no parent results: try each parent directory
                    directories = path.split("/")[:-1]
                    hit = any(pattern.match("/".join(directories[: n + 1])) for n in range(len(directories)))
            info.append(hit)
            if hit:
                matched = not pattern.exclusion
        return matched, tuple(info)

    def excluded(self, path: str) -> bool:
        """Whether ``path`` alone (no walk) is excluded."""
        return self.match(path)[0]

    def enters(self, directory: str) -> bool:
        if not self._prefix_only:
            return True
        if not self.exclusions:
            return False
        return any(p.exclusion and (p.without_trailing_glob() + "/").startswith(directory + "/") for p in self.patterns)


class SdkPatterns:
    """The docker SDK's own matching (``docker.utils.build.PatternMatcher``), which builds the
    classic builder's context tarball: lines stripped, blank ones and ``#`` ones dropped
    (``APIClient.build``), ``!.dockerignore`` added by the SDK itself."""

    def __init__(self, lines: Sequence[str]) -> None:
        patterns = [line.strip() for line in lines]
        self.matcher = sdk_build.PatternMatcher([p for p in patterns if p and not p.startswith("#")])

    def match(self, path: str, parent: tuple[bool, ...] | None = None) -> tuple[bool, tuple[bool, ...]]:
        return bool(self.matcher.matches(path)), ()

    def excluded(self, path: str) -> bool:
        return bool(self.matcher.matches(path))

    def enters(self, directory: str) -> bool:
        return any(p.exclusion and p.cleaned_pattern.startswith(directory) for p in self.matcher.patterns)


# --- the walk --------------------------------------------------------------------------------


class _Stop(Exception):
    pass


@dataclass(frozen=True)
class _Entry:
    path: str  # relative to the context, slash-separated
    file: Path
    size: int
    metadata: str | None = None  # a VCS metadata directory with a file that would be sent: its kind


_METADATA = {".git": "git", ".svn": "Subversion", ".hg": "Mercurial"}


class _Walker:
    """The context's sent files, walked once in name order, within the entry and time
    budget; a VCS metadata directory comes as one entry of its own (when it sends a file)."""

    def __init__(self, root: Path, matcher: Matcher, max_entries: int, deadline: float) -> None:
        self.root, self.matcher, self.max_entries, self.deadline = root, matcher, max_entries, deadline
        self.entries = 0
        self.stopped: str | None = None

    def files(self) -> Iterator[_Entry]:
        try:
            yield from self._files("", self.root, None, probe=False)
        except _Stop:
            pass

    def _files(self, top: str, directory: Path, parent: tuple[bool, ...] | None, probe: bool) -> Iterator[_Entry]:
        stack = [(top, directory, parent)]
        while stack:
            relative, path, info = stack.pop()
            try:
                with os.scandir(path) as scan:
                    entries = sorted(scan, key=lambda e: e.name)
            except OSError:
                continue
            below = []
            for entry in entries:
                self._count()
                name = f"{relative}/{entry.name}" if relative else entry.name
                excluded, child_info = self.matcher.match(name, info)
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                    is_file = not is_dir and entry.is_file(follow_symlinks=False)
                    size = entry.stat(follow_symlinks=False).st_size if is_file and not excluded else 0
                except OSError:
                    continue
                if is_dir:
                    if excluded and not self.matcher.enters(name):
                        continue
                    if entry.name in _METADATA and not probe:
                        # one sent file makes it a finding; nothing inside it is looked at further
                        if next(self._files(name, Path(entry.path), child_info, probe=True), None) is not None:
                            yield _Entry(name, Path(entry.path), 0, _METADATA[entry.name])
                        continue
                    below.append((name, Path(entry.path), child_info))
                elif is_file and not excluded:
                    yield _Entry(name, Path(entry.path), size)
            stack.extend(reversed(below))

    def _count(self) -> None:
        self.entries += 1
        if self.entries > self.max_entries:
            self.stopped = f"after {self.max_entries} entries"
            raise _Stop
        if self.entries % 256 == 0 and time.monotonic() > self.deadline:
            self.stopped = f"after {self.entries} entries (its time budget ran out)"
            raise _Stop


# --- what counts in the context ----------------------------------------------------------------


_SAMPLE_ENV = re.compile(r"^\.env\.(example|sample|template|dist|defaults?|tmpl|schema)$", re.IGNORECASE)
_KEY_NAMES = {"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk"}
_KEY_SUFFIXES = (".pem", ".key", ".ppk", ".p8", ".asc")
_PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|PuTTY-User-Key-File-\d")
_PLACEHOLDER = re.compile(r"^\s*(?:\$\{[^}]*\}\s*)+$")
_NAMED_FILES = {  # present and not empty: a credential, whatever it holds
    ".git-credentials": "a git credential store (plain-text passwords and tokens)",
    ".vault-token": "a HashiCorp Vault token",
    ".pgpass": "a PostgreSQL password file",
    "application_default_credentials.json": "Google Cloud application-default credentials",
}
_NAMED_PATHS: dict[tuple[str, ...], str] = {  # the last two path parts
    (".aws", "credentials"): "AWS credentials",
    (".kube", "config"): "a Kubernetes config (cluster credentials)",
    (".azure", "accessTokens.json"): "Azure CLI access tokens",
    (".azure", "msal_token_cache.json"): "Azure CLI access tokens",
    (".azure", "msal_token_cache.bin"): "Azure CLI access tokens",
    ("gcloud", "credentials.db"): "Google Cloud SDK credentials",
    ("gcloud", "access_tokens.db"): "Google Cloud SDK access tokens",
}


def _context_findings(walker: _Walker, ignore_name: str) -> Iterator[Finding]:
    def leave_out(path: str) -> str:
        return f"add the line `{path}` to {ignore_name}"

    for entry in walker.files():
        if entry.metadata:
            yield Finding(f"{entry.metadata} metadata (the history, remotes, perhaps credentials in its config) would be sent with the build context", entry.path + "/", leave_out(entry.path))
            continue
        what = _what(entry)
        if what is None:
            continue
        fix = leave_out(entry.path)
        if entry.file.name in ("settings.xml", "settings-security.xml"):
            fix += "; a RUN step that needs it takes it with --secret id=maven,src=FILE and RUN --mount=type=secret,id=maven,target=/root/.m2/settings.xml"
        yield Finding(what, entry.path, fix)


def _what(entry: _Entry) -> str | None:
    """Why the sent file ``entry`` is a credential, or None."""
    name, parts = entry.file.name, tuple(entry.path.split("/"))
    if entry.size == 0:
        return None
    if name in ("settings.xml", "settings-security.xml"):
        element = _maven_secret(_read(entry))
        return f"a Maven settings file with a <{element}> would be sent with the build context" if element else None
    if name == ".env" or (name.startswith(".env.") and not _SAMPLE_ENV.match(name)):
        return "an environment file (.env) would be sent with the build context"
    if name in _NAMED_FILES:
        return f"{_NAMED_FILES[name]} would be sent with the build context"
    if parts[-2:] in _NAMED_PATHS:
        return f"{_NAMED_PATHS[parts[-2:]]} would be sent with the build context"
    if name in _KEY_NAMES or name.lower().endswith(_KEY_SUFFIXES):
        return "a private key would be sent with the build context" if _PRIVATE_KEY.search(_read(entry)) else None
    if parts[-2:] == (".docker", "config.json") or name == ".dockercfg":
        return "a Docker config with registry logins would be sent with the build context" if _docker_auths(_read(entry)) else None
    if name.lower().endswith(".json"):
        text = _read(entry)
        return "a private key (a service-account key file) would be sent with the build context" if '"private_key"' in text and _PRIVATE_KEY.search(text) else None
    if name == ".npmrc":
        return "an .npmrc with a registry token would be sent with the build context" if _assigned(_read(entry), r"(?:^|:)_(?:authToken|auth|password)") else None
    if name == ".pypirc":
        return "a .pypirc with a password would be sent with the build context" if _assigned(_read(entry), r"^\s*password") else None
    if name in (".netrc", "_netrc"):
        return "a .netrc with a password would be sent with the build context" if re.search(r"(?:^|\s)password\s+\S", _read(entry)) else None
    return None


def _read(entry: _Entry) -> str:
    if entry.size > MAX_READ:
        return ""
    try:
        return entry.file.read_bytes().decode("utf-8", "replace")
    except OSError:
        return ""


def _secret_value(value: str | None) -> bool:
    """A value that is a secret: not empty, and not only ``${…}`` placeholders."""
    return bool(value and value.strip()) and not _PLACEHOLDER.match(value or "")


def _maven_secret(text: str) -> str | None:
    """The element of a Maven settings (or settings-security) file that holds a secret:
    ``<password>``, ``<passphrase>`` or ``<master>`` with a value that is not a ``${…}``
    placeholder (an encrypted ``{…}`` one still counts: the master key decrypts it). Parsed
    with defusedxml; a file it cannot or will not parse is searched as text."""
    wanted = ("password", "passphrase", "master")
    try:
        root = SafeET.fromstring(text)
    except Exception:  # not XML, or a DTD/entity defusedxml refuses: look at the text
        for element, value in re.findall(r"<(password|passphrase|master)\s*>([^<]*)<", text):
            if _secret_value(value):
                return str(element)
        return None
    for element in root.iter():
        local = str(element.tag).rpartition("}")[2]
        if local in wanted and _secret_value(element.text):
            return local
    return None


def _docker_auths(text: str) -> bool:
    try:
        data = json.loads(text)
    except ValueError:
        return False
    if not isinstance(data, dict):
        return False
    auths = data.get("auths", data)  # .dockercfg: the registries at the top
    if not isinstance(auths, dict):
        return False
    return any(isinstance(v, dict) and any(isinstance(v.get(k), str) and _secret_value(v.get(k)) for k in ("auth", "password", "identitytoken", "registrytoken")) for v in auths.values())


def _assigned(text: str, key: str) -> bool:
    """A ``key = value`` line (ini or npmrc style) with a value that is not a placeholder."""
    for match in re.finditer(key + r"\s*[=:]\s*(.*)$", text, re.MULTILINE | re.IGNORECASE):
        if _secret_value(match.group(1).strip().strip("\"'")):
            return True
    return False


# --- build arguments ---------------------------------------------------------------------------------


_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z]|[^A-Za-z]|$)|[A-Z]?[a-z]+|[A-Z]+|\d+")
_SECRET_WORDS = frozenset("PASSWORD PASSWORDS PASSWD PASS PWD PASSPHRASE SECRET SECRETS TOKEN TOKENS CREDENTIAL CREDENTIALS CREDS AUTH PAT KEY KEYS APIKEY ACCESSKEY SECRETKEY PRIVATEKEY".split())
# A name ending in one of these names something about a secret, not the secret: TOKEN_URL,
# PASSWORD_FILE, AUTH_METHOD, KEY_ALIAS; a PUBLIC key is no secret at all.
_DESCRIBING = frozenset(
    "VERSION URL URI HOST HOSTNAME PORT USER USERNAME LOGIN NAME ID FILE PATH DIR TYPE MODE METHOD ENABLED ENABLE DISABLED REQUIRED LENGTH SIZE ALIAS ENDPOINT SERVER SERVICE PROXY REALM "
    "PROVIDER ISSUER AUDIENCE SCOPE SCOPES TTL EXPIRY EXPIRES TIMEOUT REGION FORMAT ALGORITHM FINGERPRINT".split()
)
_TOKENS = (
    (re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}"), "a GitHub token"),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,}"), "a GitHub token"),
    (re.compile(r"\bgl(?:pat|dt|rt|cbt|ptt|ft|imt|oas|soat|agent)-[A-Za-z0-9_-]{20,}"), "a GitLab token"),
    (re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"), "an npm token"),
    (re.compile(r"\bpypi-[A-Za-z0-9_-]{50,}"), "a PyPI token"),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), "an AWS access key"),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), "a Google API key"),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), "a Slack token"),
    (re.compile(r"\b(?:sk|rk)_live_[0-9A-Za-z]{16,}"), "a Stripe key"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), "a JSON web token"),
    (_PRIVATE_KEY, "a private key"),
)
_URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/@\s:]+:[^/@\s]+@", re.IGNORECASE)
_RUN = re.compile(r"[A-Za-z0-9+/_-]{24,}={0,2}")
_PATH_PART = re.compile(r"[A-Za-z][a-z0-9_-]*(?:[A-Z][a-z0-9_-]+)*[A-Z]?")  # a camelCase word: no two capitals together


def secret_name(name: str) -> bool:
    """Whether a build argument's name says it holds a secret: one of its words (split at
    ``_``, ``-``, ``.`` and camelCase) is PASSWORD, PASS, PWD, SECRET, TOKEN, CREDENTIALS,
    AUTH, PAT, KEY, APIKEY … — unless its last word says it is about the secret rather than
    the secret (TOKEN_URL, PASSWORD_FILE, KEY_ALIAS, AUTH_METHOD), or it is a PUBLIC key.
    So DB_PASSWORD, NPM_TOKEN, apiKey, AWS_SECRET_ACCESS_KEY are; KEYCLOAK_VERSION,
    ARTIFACT, VERSION, BYPASS_PROXY, SSH_PUBLIC_KEY are not."""
    words = [w.upper() for w in _WORD.findall(name)]
    if not words or words[-1] in _DESCRIBING or "PUBLIC" in words or "PUB" in words:
        return False
    return any(w in _SECRET_WORDS for w in words)


def secret_value(value: str) -> str | None:
    """Why a build argument's value looks like a secret, or None: a credential autopack
    holds or masks, a URL with a password, a known token form, or a long random string."""
    if not value:
        return None
    held = secrets.held()
    if value in held or any(len(h) >= 4 and h in value for h in held):
        return "is a credential autopack holds"
    if _URL_PASSWORD.search(value):
        return "holds a URL with a password"
    for pattern, kind in _TOKENS:
        if pattern.search(value):
            return f"looks like {kind}"
    if secrets.redact(value) != value:
        return "is a secret autopack masks in its output"
    if any(_random(run) for run in _RUN.findall(value)):
        return "looks like a key or token (a long random string)"
    return None


def _random(run: str) -> bool:
    """A run of 24 or more token characters that looks random: upper case, lower case and
    digits mixed, in pieces of 3.5 characters on average at most (``SpringBootApplication2024``
    is words), at least 4 bits of entropy a character, and not a path of words. Hex (a commit,
    a digest, a UUID) never is: it has one case only; nor is an absolute path, or one of three
    parts or more."""
    if not (re.search(r"[a-z]", run) and re.search(r"[A-Z]", run) and re.search(r"\d", run)):
        return False
    if run.startswith("/") or (run.count("/") >= 2 and all(_PATH_PART.fullmatch(p) for p in run.split("/"))):
        return False  # a path
    pieces = _WORD.findall(run)  # words and numbers: few and long in a name, many and short in noise
    if sum(len(p) for p in pieces) / len(pieces) > 3.5:
        return False
    counts = Counter(run)
    entropy = -sum(c / len(run) * math.log2(c / len(run)) for c in counts.values())
    return entropy >= 4.0


def _arg_findings(build_args: Mapping[str, str], dockerfile: Dockerfile) -> Iterator[Finding]:
    for name, value in build_args.items():
        if not value:
            continue
        why = "its name says it holds a secret" if secret_name(name) else None
        if why is None and (reason := secret_value(value)):
            why = f"its value {reason}"
        if why is None:
            continue
        kept = "build args are kept in the image's history" if name in dockerfile.args else "build args are kept in the image's history once a Dockerfile declares them"
        yield Finding(f"{why}, and {kept}", f"build arg {name}", f"pass it with --secret id={name},src=FILE and read it in RUN --mount=type=secret,id={name} instead")
