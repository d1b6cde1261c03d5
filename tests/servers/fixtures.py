"""Registry fixtures for the push tests. Import them into a test module:
``from tests.servers.fixtures import registries, faulty``.

``registries``: three real registries, fresh for each test — ``a`` open, ``b`` with htpasswd
user ``pusher`` / ``s3cret-B-pass``, ``c`` open. ``faulty(registry, kind=..., status=...,
times=...)`` puts a ``FaultProxy`` in front of one and returns it (started; stopped after).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.servers.fault_proxy import FaultProxy
from tests.servers.registry import Registry

B_USER = "pusher"
B_PASSWORD = "s3cret-B-pass"


class Registries(NamedTuple):
    a: Registry
    b: Registry
    c: Registry


def start_registries(root: Path) -> Registries:
    """Three started registries under ``root``; on a failure, those already up are stopped."""
    started: list[Registry] = []
    try:
        for name, auth in (("a", None), ("b", (B_USER, B_PASSWORD)), ("c", None)):
            user, password = auth or (None, None)
            started.append(Registry(root / name, user=user, password=password, name=f"registry-{name}").start())
    except BaseException:
        for registry in started:
            registry.stop()
        raise
    return Registries(*started)


@pytest.fixture
def registries(tmp_path: Path) -> Iterator[Registries]:
    trio = start_registries(tmp_path / "registries")
    try:
        yield trio
    finally:
        for registry in trio:
            registry.stop()


FaultyFactory = Callable[..., FaultProxy]


@pytest.fixture
def faulty() -> Iterator[FaultyFactory]:
    proxies: list[FaultProxy] = []

    def make(registry: Registry, *, kind: str = "any", status: int = 500, times: int = 1) -> FaultProxy:
        proxy = FaultProxy(registry, kind=kind, status=status, times=times).start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.stop()
