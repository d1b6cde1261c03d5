"""Credentials and the environment of every git child: where the login comes from, how it
reaches git without touching argv or any file, and how git's refusals become ``SourceError``.

The credential travels as an ``Authorization`` header in ``GIT_CONFIG_*`` environment
variables (git ≥ 2.31), given to the one command that talks to the server. A process's
argv is readable by every user of the machine (``ps``); its environment only by its owner.
"""

from __future__ import annotations

import base64
import functools
import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from autopack import process, secrets
from autopack.errors import SourceError
from autopack.source import gitlab
from autopack.source.base import Login, SourceSpec

ALLOWED_PROTOCOLS = "https:http:ssh:git:file"
TOKEN_HINT = "set AUTOPACK_GIT_TOKEN (or AUTOPACK_GIT_USER and AUTOPACK_GIT_PASSWORD), GITLAB_TOKEN, or use CI_JOB_TOKEN inside GitLab CI"

# Every git command autopack runs, on a cached mirror or a work tree, gets these (in the
# command-line scope, which beats any repository's own config): a hook or an fsmonitor
# command planted in a cached repository would otherwise run as us; gc must not detach into
# the background, where it would go on changing the mirror after we let go of its lock.
_SAFE_CONFIG = (
    ("core.hooksPath", "/dev/null"),
    ("core.fsmonitor", "false"),
    ("gc.autoDetach", "false"),
)

_AUTH_FAILURE = re.compile(
    r"Authentication failed|HTTP Basic: Access denied|could not read (?:Username|Password)|"
    r"terminal prompts disabled|returned error: 40[13]\b|Permission denied \(publickey",
    re.IGNORECASE,
)
_REMOTE_FAILURE = re.compile(
    r"unable to access|Could not read from remote repository|Could not resolve host|"
    r"Connection refused|not found|does not appear to be a git repository|returned error: \d{3}",
    re.IGNORECASE,
)


def remote(spec: SourceSpec, environ: Mapping[str, str] | None = None) -> tuple[str, Login | None]:
    """The URL to give git (never with a password) and the login to send with it.

    ``user:password@`` in an http(s) URL is taken out and becomes the login; otherwise
    ``spec.login``, else the GitLab/environment conventions of ``gitlab.login_for``. An ssh
    user (``git@``) is part of the address, not a credential, and stays."""
    environ = os.environ if environ is None else environ
    url = spec.location
    parts = urlsplit(url) if "://" in url else None
    if parts is None or parts.scheme.lower() not in ("http", "https"):
        if parts is not None and parts.password is not None:  # ssh://user:pw@ — ssh never takes it from here
            secrets.register(unquote(parts.password))
            url = urlunsplit(parts._replace(netloc=f"{parts.username}@{_host_port(parts)}"))
        return url, None
    login = spec.login
    if parts.username is not None:
        if parts.password is not None and login is None:
            login = Login(unquote(parts.username), unquote(parts.password), "the URL")
        url = urlunsplit(parts._replace(netloc=_host_port(parts)))
    if login is None:
        login = gitlab.login_for(url, environ, gitlab.server_url(None, environ))
    if login is not None:
        secrets.register(login.password)
    return url, login


def environment(login: Login | None = None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Variables for one git command: nothing prompts, only plain transports, hooks off,
    and — when ``login`` is given — its Basic ``Authorization`` header."""
    environ = os.environ if environ is None else environ
    env = {
        "GIT_TERMINAL_PROMPT": "0",
        # Empty, not a program: git then skips askpass (and core.askPass) altogether.
        "GIT_ASKPASS": "",
        "SSH_ASKPASS": "",
        "SSH_ASKPASS_REQUIRE": "never",
        # Overrides every protocol.*.allow, a repository's own included.
        "GIT_ALLOW_PROTOCOL": ALLOWED_PROTOCOLS,
        # A refs/replace/* ref would make git read another object in place of the one a SHA names.
        "GIT_NO_REPLACE_OBJECTS": "1",
    }
    if ssh := _ssh_command(environ):
        env["GIT_SSH_COMMAND"] = ssh
    pairs = list(_SAFE_CONFIG)
    if login is not None:
        token = base64.b64encode(f"{login.username}:{login.password}".encode()).decode()
        secrets.register(token)
        # An empty helper list first: a stored credential of the user must not be tried,
        # nor be replaced or erased ("credential reject") when ours is refused.
        pairs += [("credential.helper", ""), ("http.extraHeader", f"Authorization: Basic {token}")]
    # Keep whatever GIT_CONFIG_* the user passes, and number ours after theirs.
    count = environ.get("GIT_CONFIG_COUNT", "")
    first = int(count) if count.isdigit() else 0
    for index, (key, value) in enumerate(pairs, start=first):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    env["GIT_CONFIG_COUNT"] = str(first + len(pairs))
    return env


def translate(error: process.ProcessFailed, url: str, login: Login | None, doing: str) -> SourceError:
    """A ``SourceError`` (exit 3) for a failed git command, in one line, without secrets."""
    detail = _last_line(error)
    if _AUTH_FAILURE.search(detail):
        if login is None:
            return SourceError(f"{url} asks for credentials and none were given", TOKEN_HINT)
        return SourceError(f"{url} refused the credentials from {login.origin or 'the login'} (user '{login.username}')", f"check the token or password; {TOKEN_HINT}")
    return SourceError(secrets.redact(f"{doing} {url} failed: {detail}"), "check the URL, the network and that the repository exists")


def is_remote_failure(error: process.ProcessFailed) -> bool:
    """True when the server or the network failed, rather than the local repository."""
    detail = _stderr(error)
    return bool(_AUTH_FAILURE.search(detail) or _REMOTE_FAILURE.search(detail))


def _last_line(error: process.ProcessFailed) -> str:
    lines = [line.strip() for line in _stderr(error).splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
    text = (fatal or lines or [f"git exited with code {error.completed.returncode}"])[-1]
    return secrets.redact(re.sub(r"^(?:fatal|error): ", "", text))


def _stderr(error: process.ProcessFailed) -> str:
    """What git said (its output is merged, progress meters left out), redacted."""
    return secrets.redact("\n".join(line for line in error.completed.tail if not _PROGRESS.match(line)))


_PROGRESS = re.compile(r"^(?:remote: )?[A-Z][A-Za-z ]+: +\d+(?:%|,| |$)")


def _host_port(parts) -> str:
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port}" if parts.port else host


def _ssh_command(environ: Mapping[str, str]) -> str | None:
    """The ``GIT_SSH_COMMAND`` for git's ssh children: the user's own choice, else ssh that
    never prompts. Always set (unless the user's ``GIT_SSH_COMMAND`` is already in the
    environment), because git takes ``core.sshCommand`` — a cached repository's own too —
    over ``GIT_SSH``; only the environment variable beats every config file."""
    if environ.get("GIT_SSH_COMMAND"):
        return None
    if environ.get("GIT_SSH"):
        return shlex.quote(environ["GIT_SSH"])  # a program, run without a shell: quoted, it is the same
    return _configured_ssh_command() or "ssh -o BatchMode=yes"


@functools.lru_cache(maxsize=1)
def _configured_ssh_command() -> str | None:
    """The ``core.sshCommand`` of the user's own (global and system) git config, if any:
    read from ``/``, outside every repository, with the environment's repository variables
    left out."""
    env = {k: v for k, v in os.environ.items() if k not in REPOSITORY_VARIABLES}
    lines: list[str] = []
    done = process.run(["git", "config", "--get", "core.sshCommand"], cwd=Path("/"), env={**env, "GIT_CEILING_DIRECTORIES": "/"}, on_line=lines.append, check=False)
    return lines[-1] if done.returncode == 0 and lines else None


# What points git at a repository other than the one a command names (``git rev-parse
# --local-env-vars``): never passed to autopack's git children.
REPOSITORY_VARIABLES = frozenset(
    {
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_IMPLICIT_WORK_TREE",
        "GIT_COMMON_DIR",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_GRAFT_FILE",
        "GIT_SHALLOW_FILE",
        "GIT_REPLACE_REF_BASE",
        "GIT_NAMESPACE",
        "GIT_PREFIX",
    }
)
