"""GitLab conventions: ``gitlab:group/subgroup/project[@ref]`` shorthands, the server URL
from ``--gitlab-url`` / ``GITLAB_URL`` / ``CI_SERVER_URL``, and token logins — a personal or
project token (``AUTOPACK_GIT_TOKEN``, ``GITLAB_TOKEN``) or, inside a GitLab CI job,
``CI_JOB_TOKEN`` as user ``gitlab-ci-token``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from autopack import secrets
from autopack.errors import UsageError
from autopack.source.base import Login

PREFIX = "gitlab:"
_PROJECT_PATH = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_.][A-Za-z0-9_.-]*)+$")


def server_url(explicit: str | None, environ: Mapping[str, str]) -> str | None:
    return (explicit or environ.get("GITLAB_URL") or environ.get("CI_SERVER_URL") or "").rstrip("/") or None


def expand(location: str, gitlab_url: str | None) -> tuple[str, str | None]:
    """``gitlab:group/sub/project@ref`` → (``<server>/group/sub/project.git``, ``ref``)."""
    body = location[len(PREFIX) :].strip("/")
    path, _, ref = body.partition("@")
    path = path.removesuffix(".git")
    if not _PROJECT_PATH.match(path) or {".", ".."} & set(path.split("/")):
        raise UsageError(f"'{location}' is not a GitLab project path", "write gitlab:group/project or gitlab:group/subgroup/project[@ref]")
    if not gitlab_url:
        raise UsageError(f"'{location}' needs the GitLab server", "pass --gitlab-url https://gitlab.example.com or set GITLAB_URL (CI_SERVER_URL in GitLab CI)")
    return f"{gitlab_url}/{path}.git", ref or None


def login_for(url: str, environ: Mapping[str, str], gitlab_url: str | None) -> Login | None:
    """The credential to send to ``url`` over HTTP(S), first match wins:
    ``AUTOPACK_GIT_USER`` + ``AUTOPACK_GIT_PASSWORD``; ``AUTOPACK_GIT_TOKEN`` (user
    ``AUTOPACK_GIT_USER`` or ``oauth2``); then, only for the GitLab server's own host,
    ``GITLAB_TOKEN`` (user ``oauth2``) and ``CI_JOB_TOKEN`` (user ``gitlab-ci-token``)."""
    user = environ.get("AUTOPACK_GIT_USER")
    if user and environ.get("AUTOPACK_GIT_PASSWORD"):
        return _login(user, environ["AUTOPACK_GIT_PASSWORD"], "AUTOPACK_GIT_USER/AUTOPACK_GIT_PASSWORD")
    if environ.get("AUTOPACK_GIT_TOKEN"):
        return _login(user or "oauth2", environ["AUTOPACK_GIT_TOKEN"], "AUTOPACK_GIT_TOKEN")
    if gitlab_url and _same_host(url, gitlab_url):
        if environ.get("GITLAB_TOKEN"):
            return _login("oauth2", environ["GITLAB_TOKEN"], "GITLAB_TOKEN")
        if environ.get("CI_JOB_TOKEN"):
            return _login("gitlab-ci-token", environ["CI_JOB_TOKEN"], "CI_JOB_TOKEN")
    return None


def _login(user: str, password: str, origin: str) -> Login:
    secrets.register(password)
    return Login(user, password, origin)


def _same_host(url: str, other: str) -> bool:
    try:
        a, b = urlsplit(url), urlsplit(other)
        return (a.hostname, a.port) == (b.hostname, b.port)
    except ValueError:  # a malformed GITLAB_URL / CI_SERVER_URL is no GitLab server of this URL's
        return False
