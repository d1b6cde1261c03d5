"""Where a run pushes to: the destinations (``--push``, a bare one meaning
``$CI_REGISTRY_IMAGE``), their credentials and pre-flight, the immutable-tag rule — and
pushing every built image there."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from autopack import tags
from autopack.errors import UsageError
from autopack.events import Emit, Progress
from autopack.push import credentials, publish
from autopack.push.credentials import RegistryAuth
from autopack.result import Target
from autopack.settings import Settings

CI_REGISTRY_IMAGE = "$CI_REGISTRY_IMAGE"  # what a bare --push stands for


@dataclass
class PushPlan:
    destinations: list[publish.Destination]
    auths: dict[publish.Destination, RegistryAuth | None]
    immutable: re.Pattern[str] | None
    preflight_tries: dict[publish.Destination, int]


def plan(settings: Settings, emit: Emit) -> PushPlan:
    """Destinations, their credentials and — unless --no-preflight — proof of push rights."""
    destinations = [publish.parse_destination(d) for d in _destinations(settings)]
    immutable = _immutable(settings.immutable_tags)
    tries: dict[publish.Destination, int] = {}
    if destinations and settings.preflight:
        auths = publish.preflight(destinations, settings.registry_auth_file, settings.push_retries, emit, tries)
    else:
        auths = {d: credentials.resolve(d.registry, settings.registry_auth_file) for d in destinations}
    return PushPlan(destinations, auths, immutable, tries)


def push_targets(targets: list[Target], plan: PushPlan, settings: Settings, emit: Emit, many: bool) -> None:
    """Every built image to every destination; with several images a destination is a
    prefix, and each image goes to ``<destination>/<image name>``. Raises the first
    destination error after all images were tried; each target keeps its results."""
    failures: list[publish.PublishFailed] = []
    for target in (t for t in targets if t.image):
        assert target.image is not None
        destinations = [publish.Destination(d.registry, f"{d.repository}/{_last_part(target.references[0])}") for d in plan.destinations] if many else plan.destinations
        auths = {new: plan.auths.get(old) for new, old in zip(destinations, plan.destinations, strict=True)}
        tries = {new: plan.preflight_tries.get(old, 0) for new, old in zip(destinations, plan.destinations, strict=True)}
        if many:
            emit(Progress("push", f"{target.module}: pushing", {"module": target.module, "key": target.module}))
        try:
            target.destinations = publish.publish(
                target.image.id,
                target.image.store,
                list(dict.fromkeys(tags.split_reference(r)[1] for r in target.references)),
                destinations,
                auths,
                jobs=settings.push_jobs or len(destinations),
                retries=settings.push_retries,
                immutable=plan.immutable,
                emit=emit,
                preflight_tries=tries,
            )
        except publish.PublishFailed as e:
            target.destinations = e.results
            failures.append(e)
        if many:
            done = sum(d.status == "ok" for d in target.destinations)
            emit(Progress("push", f"{target.module}: {done}/{len(destinations)} destinations", {"module": target.module, "key": target.module}))
    if failures:
        raise failures[0].error


def _last_part(reference: str) -> str:
    return tags.split_reference(reference)[0].rpartition("/")[2]


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


def _immutable(pattern: str | None) -> re.Pattern[str] | None:
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error as e:
        raise UsageError(f"--immutable-tags '{pattern}' is not a regular expression: {e}", "e.g. --immutable-tags '\\d+\\.\\d+\\.\\d+'") from None
