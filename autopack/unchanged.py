"""Whether an image with the same inputs digest exists already — asked of the image's own
stores, never of a record autopack keeps: the local store (the Docker engine's, or
buildah's) for a build without ``--push``, and every destination registry for a build with
it. A destination is asked for the tag ``inputs-sha256-<digest>`` (which every push of
autopack's adds) and for each planned tag, and believed only when the image's config
carries the same ``io.autopack.inputs`` label.

With ``--push``, an image that one destination holds is not built again: the push stage
copies it from there to the destinations that lack it and adds the missing tags. When no
destination holds it but the local store does, that image is pushed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from autopack import inputs, parallel, tags
from autopack.engine import Engine
from autopack.engine.base import Image
from autopack.errors import PushError
from autopack.events import Emit, LogLine
from autopack.push import credentials
from autopack.push.credentials import RegistryAuth
from autopack.push.publish import Destination
from autopack.push.registry import RegistryClient

REVISION_LABEL = "org.opencontainers.image.revision"
_VARIABLE = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


@dataclass(frozen=True)
class Unchanged:
    """An image found with the same inputs: what it is, and where it is."""

    inputs: str
    image: Image  # id (the config digest) and labels, as its store reports them
    held: Mapping[Destination, str] = field(default_factory=dict)  # destination → manifest digest there

    @property
    def revision(self) -> str | None:
        return self.image.labels.get(REVISION_LABEL)

    def describe(self, destinations: Sequence[Destination]) -> str:
        since = f"unchanged since {self.revision or 'an earlier build'}, inputs {self.inputs}"
        if not destinations:
            return f"{since} (image {self.image.id.removeprefix('sha256:')[:12]} in the {self.image.store} store)"
        missing = [d.name for d in destinations if d not in self.held]
        where = "in every destination" if not missing else f"copying to {', '.join(missing)}" if self.held else f"pushing the {self.image.store} store's image"
        return f"{since} ({where})"


def find(digest: str, references: Sequence[str], destinations: Sequence[Destination], auths: Mapping[str, RegistryAuth | None], engine: Engine, retries: int, emit: Emit) -> Unchanged | None:
    """The image with inputs ``digest``: in the destinations (each asked), else in the local store."""
    if destinations:
        wanted = [inputs.tag(digest), *dict.fromkeys(tags.split_reference(r)[1] or "latest" for r in references)]

        def ask(destination: Destination) -> tuple[str, Image] | None:
            client = RegistryClient(destination.registry, auths.get(destination.registry), retries)
            try:
                for tag in wanted:
                    found = client.labels(destination.repository, tag)
                    if found is not None and found[1].get(inputs.LABEL) == digest:
                        manifest, labels = found
                        assert manifest.config_digest is not None
                        return manifest.digest, Image(manifest.config_digest, tuple(references), labels, 0, 0.0, "registry", digest=manifest.digest)
            except PushError as e:
                emit(LogLine("plan", f"{destination.name}: cannot tell whether it holds the image ({e.message}); it will be pushed", "warning"))
            return None

        answers = parallel.run_all(ask, destinations, min(len(destinations), 8))
        held = {d: a[0] for d, a in zip(destinations, answers, strict=True) if a is not None}
        if held:
            first = next(a for a in answers if a is not None)
            return Unchanged(digest, first[1], held)
    local = engine.labelled(inputs.LABEL, digest)
    return Unchanged(digest, local) if local is not None else None


def base_identities(names: Sequence[str], args: Mapping[str, str], engine: Engine, pull: bool, auth_file: Path | None) -> dict[str, str | None]:
    """Each base image's identity: its id in the store the builder reads (unless ``pull``),
    else its manifest digest in its registry; None where neither can be read (then the
    image is always built). ``scratch`` is nothing."""
    found: dict[str, str | None] = {}
    for raw in names:
        name = _substitute(raw, args)
        if name is None:
            found[raw] = None
        elif name == "scratch":
            continue
        elif "@sha256:" in name:
            found[name] = "digest:" + name.rpartition("@")[2]
        else:
            local = None if pull else engine.base_id(name)
            found[name] = f"id:{local}" if local else _registry_digest(name, auth_file)
    return found


def _substitute(name: str, args: Mapping[str, str]) -> str | None:
    """``FROM ${BASE}``: the name with its ARG values; None if one has no value."""
    missing = False

    def value(m: re.Match[str]) -> str:
        nonlocal missing
        key = m["braced"] or m["plain"]
        if key in args:
            return args[key]
        if m["default"] is not None:
            return m["default"]
        missing = True
        return ""

    result = _VARIABLE.sub(value, name)
    return None if missing or not result else result


def _registry_digest(name: str, auth_file: Path | None) -> str | None:
    repository, tag = tags.split_reference(name)
    registry = tags.registry_of(repository)
    if registry is None:
        return None  # Docker Hub, implied: not asked (the builder would pull it from there)
    path = repository.partition("/")[2]
    try:
        client = RegistryClient(registry, credentials.resolve(registry, auth_file), retries=1)
        digest = client.manifest_digest(path, tag or "latest")
    except PushError:
        return None
    return f"digest:{digest}" if digest else None
