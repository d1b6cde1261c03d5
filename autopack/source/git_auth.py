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
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit, urlunsplit

import git

from autopack import secrets
from autopack.errors import SourceError
from autopack.source import gitlab
from autopack.source.base import Login, SourceSpec

ALLOWED_PROTOCOLS = "https:http:ssh:git:file"
TOKEN_HINT = "set AUTOPACK_GIT_TOKEN (or AUTOPACK_GIT_USER and AUTOPACK_GIT_PASSWORD), GITLAB_TOKEN, or use CI_JOB_TOKEN inside GitLab CI"

# Every git command autopack runs, on a cached mirror or a work tree, gets these: a hook or an
# fsmonitor command planted in a cached repository would otherwise run as us; gc must not
# detach into the background, where it would go on changing the mirror after we let go of
# its lock.
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
        "GIT_ALLOW_PROTOCOL": ALLOWED_PROTOCOLS,
    }
    if not (environ.get("GIT_SSH_COMMAND") or environ.get("GIT_SSH") or _configured_ssh_command()):
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
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


def translate(error: git.GitCommandError, url: str, login: Login | None, doing: str) -> SourceError:
    """A ``SourceError`` (exit 3) for a failed git command, in one line, without secrets."""
    detail = _last_line(error)
    if _AUTH_FAILURE.search(detail):
        if login is None:
            return SourceError(f"{url} asks for credentials and none were given", TOKEN_HINT)
        return SourceError(f"{url} refused the credentials from {login.origin or 'the login'} (user '{login.username}')", f"check the token or password; {TOKEN_HINT}")
    return SourceError(secrets.redact(f"{doing} {url} failed: {detail}"), "check the URL, the network and that the repository exists")


def is_remote_failure(error: git.GitCommandError) -> bool:
    """True when the server or the network failed, rather than the local repository."""
    detail = _stderr(error)
    return bool(_AUTH_FAILURE.search(detail) or _REMOTE_FAILURE.search(detail))


def _last_line(error: git.GitCommandError) -> str:
    lines = [line.strip() for line in _stderr(error).splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
    text = (fatal or lines or [f"git exited with code {error.status}"])[-1]
    text = text.removeprefix("stderr: ").strip("'\" ")
    return secrets.redact(re.sub(r"^(?:fatal|error): ", "", text))


def _stderr(error: git.GitCommandError) -> str:
    return secrets.redact(str(error.stderr or ""))


def _host_port(parts) -> str:
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port}" if parts.port else host


@functools.lru_cache(maxsize=1)
def _configured_ssh_command() -> bool:
    """Whether the user's git config names its own ssh command (left untouched, then)."""
    try:
        return bool(git.Git("/").config("--get", "core.sshCommand"))
    except git.GitCommandError:
        return False
