"""Where a run pushes to: the destinations (``--push``, a bare one meaning
``$CI_REGISTRY_IMAGE``), their credentials and pre-flight."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from autopack.ci import CI_REGISTRY_IMAGE
from autopack.errors import UsageError
from autopack.events import Emit
from autopack.push import credentials, publish
from autopack.push.credentials import RegistryAuth
from autopack.settings import Settings


@dataclass(frozen=True)
class PushPlan:
    destinations: tuple[publish.Destination, ...]
    auths: Mapping[publish.Destination, RegistryAuth | None]
    preflight_tries: Mapping[publish.Destination, int]


def plan(settings: Settings, emit: Emit) -> PushPlan:
    """Destinations, their credentials and — unless --no-preflight — proof of push rights."""
    if settings.push_mode not in publish.MODES:
        raise UsageError(f"--push-mode '{settings.push_mode}' is not a push mode", f"use one of: {', '.join(publish.MODES)}")
    destinations = tuple(publish.parse_destination(d) for d in _destinations(settings))
    if destinations and settings.preflight:
        auths, tries = publish.preflight(destinations, settings.registry_auth_file, settings.push_retries, emit)
    else:
        auths, tries = {d: credentials.resolve(d.registry, settings.registry_auth_file) for d in destinations}, {}
    return PushPlan(destinations, auths, tries)


def _destinations(settings: Settings) -> list[str]:
    """``--push`` given without a value means GitLab's ``CI_REGISTRY_IMAGE``."""
    resolved = []
    for destination in settings.destinations:
        if destination == CI_REGISTRY_IMAGE:
            destination = os.environ.get("CI_REGISTRY_IMAGE", "")
            if not destination:
                raise UsageError("--push without a destination needs CI_REGISTRY_IMAGE", "name one: --push registry[:port]/repository")
        if destination not in resolved:
            resolved.append(destination)
    return resolved
