"""The git/svn server probe (``source._request``) sends the git token only to the server it
belongs to: a redirect to another host:port gets the request without Authorization, while a
redirect on the same server keeps it (a server that moved a repository still answers). urllib follows no redirect of
the svn OPTIONS probe at all."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from autopack.source import _request
from autopack.source.base import Login
from tests.servers.recording import Answer, Recording, Seen

LOGIN = Login("oauth2", "glpat-Probe-Token-77", "test")
BASIC = "Basic " + base64.b64encode(b"oauth2:glpat-Probe-Token-77").decode()
GIT = {"Content-Type": "application/x-git-upload-pack-advertisement"}


@pytest.fixture
def other() -> Iterator[Recording]:
    with Recording(lambda seen: (200, GIT, b"001e# service=git-upload-pack\n0000"), "other-host") as server:
        yield server


def redirecting(to: str):
    def respond(seen: Seen) -> Answer:
        if seen.path.startswith("/moved/"):
            return 200, GIT, b"0000"
        if seen.path.startswith("/same/"):
            return 302, {"Location": "/moved" + seen.path.removeprefix("/same")}, b""
        return 302, {"Location": to + seen.path}, b""

    return respond


@pytest.mark.parametrize("code", [301, 302, 307, 308])
def test_a_redirect_to_another_host_drops_the_token(other, code):
    def respond(seen: Seen) -> Answer:
        return code, {"Location": f"{other.url}{seen.path}"}, b""

    with Recording(respond, "git-server") as server:
        answer = _request(f"{server.url}/group/app.git/info/refs?service=git-upload-pack", "GET", LOGIN)
    assert answer is not None and answer["content-type"] == GIT["Content-Type"]
    assert server.authorizations() == [BASIC]
    assert [s.path for s in other.seen] == ["/group/app.git/info/refs?service=git-upload-pack"]
    assert other.authorizations() == [], "the git token followed the redirect to another host"


def test_a_redirect_on_the_same_server_keeps_the_token(other):
    with Recording(redirecting(other.url), "git-server") as server:
        answer = _request(f"{server.url}/same/app/info/refs?service=git-upload-pack", "GET", LOGIN)
    assert answer is not None and answer["content-type"] == GIT["Content-Type"]
    assert [(s.path, s.authorization) for s in server.seen] == [
        ("/same/app/info/refs?service=git-upload-pack", BASIC),
        ("/moved/app/info/refs?service=git-upload-pack", BASIC),
    ]
    assert other.seen == []
