"""Hypothesis profiles for the property tests, and the guards they share.

``ci`` (the default) keeps the whole folder to a few seconds per test: a fixed budget of
examples, no deadline (a loaded CI machine must not turn a slow example into a failure), no
example database written into the work tree, and the reproduction blob printed with every
failure. ``dev`` (``HYPOTHESIS_PROFILE=dev``) runs ten times as many examples (where a test
sets no budget of its own) and keeps the database under the user's cache directory, for a
longer local hunt. A failure prints the falsifying example and ``@reproduce_failure(...)``;
``--hypothesis-seed=N`` reruns a seed.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.database import DirectoryBasedExampleDatabase

from autopack import secrets

# Hypothesis keeps a cache (and the dev profile's database) in a ".hypothesis" folder of the
# current directory; this work tree is shared, so it goes to the user's cache instead.
HOME = Path(os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "autopack-hypothesis")
set_hypothesis_home_dir(HOME)

settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev",
    max_examples=1000,
    deadline=None,
    database=DirectoryBasedExampleDatabase(str(HOME / "examples")),
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# A mask no generated secret can contain (a private-use character), so that "the secret is
# not in the output" cannot be spoiled by the mask itself ("****" inside "******").
TEST_MASK = "\ue000" * 6
NO_MASK_CHARACTER = "\ue000"


@contextmanager
def only_secrets(*registered: str) -> Iterator[None]:
    """The process-wide registry holding exactly ``registered`` (and the test mask) for the
    body; restored after, so examples never see each other's secrets."""
    saved = secrets._secrets, secrets._held, secrets.MASK
    secrets._secrets, secrets._held, secrets.MASK = set(), set(), TEST_MASK
    try:
        for secret in registered:
            secrets.register(secret)
        yield
    finally:
        secrets._secrets, secrets._held, secrets.MASK = saved


class NetworkUsed(AssertionError):
    """Raised by the guard below: a property made a network connection or name lookup."""


@pytest.fixture(autouse=True, scope="module")
def no_network() -> Iterator[None]:
    """Any socket connect or DNS lookup inside a property fails the example (these tests
    pick inputs that never need the server probe; this makes sure of it)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise NetworkUsed(f"network I/O from a property test: {args!r}")

    patch = pytest.MonkeyPatch()
    patch.setattr(socket.socket, "connect", refuse)
    patch.setattr(socket.socket, "connect_ex", refuse)
    patch.setattr(socket, "getaddrinfo", refuse)
    patch.setattr(socket, "create_connection", refuse)
    yield
    patch.undo()
