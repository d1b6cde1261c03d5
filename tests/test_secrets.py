"""Secrets: registered strings and URL passwords never leave the process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from autopack import secrets
from autopack.secrets import MASK, redact, register, strip_url_credentials


@pytest.fixture(autouse=True)
def no_known_secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The registry is process-wide; give each test an empty one.
    monkeypatch.setattr(secrets, "_secrets", set())
    yield


def test_a_registered_secret_is_masked_everywhere() -> None:
    register("hunter2-token")

    assert redact("login hunter2-token then hunter2-token again") == f"login {MASK} then {MASK} again"


def test_the_longest_secret_is_masked_first() -> None:
    register("abcd")
    register("abcdefgh")

    # Masking "abcd" first would leave "efgh", a part of the longer secret, in the text.
    assert redact("x abcdefgh y abcd z") == f"x {MASK} y {MASK} z"


@pytest.mark.parametrize("short", ["", None, "a", "ab", "abc"])
def test_short_strings_are_ignored(short: str | None) -> None:
    register(short)

    assert redact("a abc ab") == "a abc ab"


def test_text_without_secrets_is_unchanged() -> None:
    register("s3cr3t")

    assert redact("nothing to hide here") == "nothing to hide here"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://deploy:p4ss@repo.example.com/x.git", f"https://deploy:{MASK}@repo.example.com/x.git"),
        ("cloning svn+ssh://me:pw123@svn.example.com/trunk now", f"cloning svn+ssh://me:{MASK}@svn.example.com/trunk now"),
        ("HTTP://User:Secret@host:8443/path", f"HTTP://User:{MASK}@host:8443/path"),
        ("https://token@github.com/org/repo", "https://token@github.com/org/repo"),  # no password part
        ("https://host:8443/path", "https://host:8443/path"),
    ],
)
def test_url_passwords_are_masked_without_registration(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:pw@host:8443/repo.git?x=1#f", "https://host:8443/repo.git?x=1#f"),
        ("svn+ssh://user@svn.example.com/repo/trunk", "svn+ssh://svn.example.com/repo/trunk"),
        ("https://host/repo.git", "https://host/repo.git"),
        ("/srv/projects/app", "/srv/projects/app"),
    ],
)
def test_strip_url_credentials(url: str, expected: str) -> None:
    assert strip_url_credentials(url) == expected
