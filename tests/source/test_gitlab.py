"""GitLab conventions: shorthands, the server URL and token logins (pure functions)."""

from __future__ import annotations

import pytest

from autopack import secrets
from autopack.errors import UsageError
from autopack.source import gitlab

SERVER = "https://gitlab.example.com"


@pytest.mark.parametrize(
    ("explicit", "environ", "expected"),
    [
        ("https://given.example.com/", {"GITLAB_URL": SERVER}, "https://given.example.com"),
        (None, {"GITLAB_URL": SERVER + "/", "CI_SERVER_URL": "https://ci.example.com"}, SERVER),
        (None, {"CI_SERVER_URL": "https://ci.example.com"}, "https://ci.example.com"),
        (None, {}, None),
        ("", {"GITLAB_URL": ""}, None),
    ],
)
def test_server_url(explicit: str | None, environ: dict[str, str], expected: str | None) -> None:
    assert gitlab.server_url(explicit, environ) == expected


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("gitlab:group/project", (f"{SERVER}/group/project.git", None)),
        ("gitlab:group/sub/project@main", (f"{SERVER}/group/sub/project.git", "main")),
        ("gitlab:group/sub/project.git@v1.0.0", (f"{SERVER}/group/sub/project.git", "v1.0.0")),
        ("gitlab:/group/project/", (f"{SERVER}/group/project.git", None)),
        ("gitlab:group/my_project-2@feature/x", (f"{SERVER}/group/my_project-2.git", "feature/x")),
    ],
)
def test_expand(location: str, expected: tuple[str, str | None]) -> None:
    assert gitlab.expand(location, SERVER) == expected


@pytest.mark.parametrize("location", ["gitlab:project", "gitlab:", "gitlab:group/-x", "gitlab:group/../etc", "gitlab:group/pro ject", "gitlab:group//project"])
def test_expand_refuses_bad_paths(location: str) -> None:
    with pytest.raises(UsageError, match="is not a GitLab project path"):
        gitlab.expand(location, SERVER)


def test_expand_needs_the_server() -> None:
    with pytest.raises(UsageError, match="needs the GitLab server") as caught:
        gitlab.expand("gitlab:group/project", None)
    assert "GITLAB_URL" in caught.value.hint


URL = f"{SERVER}/group/project.git"


@pytest.mark.parametrize(
    ("url", "environ", "expected"),
    [
        (URL, {}, None),
        (URL, {"AUTOPACK_GIT_USER": "ada", "AUTOPACK_GIT_PASSWORD": "pw-1234", "AUTOPACK_GIT_TOKEN": "tok-1234"}, ("ada", "pw-1234", "AUTOPACK_GIT_USER/AUTOPACK_GIT_PASSWORD")),
        (URL, {"AUTOPACK_GIT_USER": "ada", "AUTOPACK_GIT_TOKEN": "tok-1234"}, ("ada", "tok-1234", "AUTOPACK_GIT_TOKEN")),
        (URL, {"AUTOPACK_GIT_TOKEN": "tok-1234", "GITLAB_TOKEN": "glpat-1234"}, ("oauth2", "tok-1234", "AUTOPACK_GIT_TOKEN")),
        (URL, {"AUTOPACK_GIT_USER": "ada"}, None),  # a user alone is no login
        (URL, {"GITLAB_URL": SERVER, "GITLAB_TOKEN": "glpat-1234", "CI_JOB_TOKEN": "job-1234"}, ("oauth2", "glpat-1234", "GITLAB_TOKEN")),
        (URL, {"CI_SERVER_URL": SERVER, "CI_JOB_TOKEN": "job-1234"}, ("gitlab-ci-token", "job-1234", "CI_JOB_TOKEN")),
        # GitLab tokens go to the GitLab server only, not to any other host or port
        ("https://elsewhere.example.com/group/project.git", {"GITLAB_URL": SERVER, "GITLAB_TOKEN": "glpat-1234"}, None),
        ("https://gitlab.example.com:8443/group/project.git", {"GITLAB_URL": SERVER, "CI_JOB_TOKEN": "job-1234"}, None),
        (URL, {"GITLAB_TOKEN": "glpat-1234"}, None),  # no server known
    ],
)
def test_login_for(url: str, environ: dict[str, str], expected: tuple[str, str, str] | None) -> None:
    login = gitlab.login_for(url, environ, gitlab.server_url(None, environ))
    assert (login and (login.username, login.password, login.origin)) == expected or (login is None and expected is None)
    if login:
        assert login.password not in repr(login)
        assert secrets.redact(f"token {login.password}") == f"token {secrets.MASK}"
