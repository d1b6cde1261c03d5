"""Attaching an image's SBOM, attestations and signature at a destination, and reading them
back to carry them to another.

Each artefact (``attest.cosign``) is pushed under cosign's tag, ``sha256-<hex>.sig`` /
``.att`` / ``.sbom``, which is how cosign and most tools find them on any registry, and
with OCI 1.1's ``subject``, which a registry with the referrers API indexes (it may say so
with an ``OCI-Subject`` header; the referrers endpoint is asked either way, and the result
records ``referrer``). The CNCF distribution registry has no referrers API: there the tag is
the only way.

What a tag held already (a signature by another key, another tool's attestation) is kept:
the manifest pushed holds those layers and then ours, as cosign appends. The same artefacts
go to every destination, so where no tag held anything the bytes, and the digests, are the
same everywhere.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from autopack import parallel
from autopack.attest import cosign
from autopack.attest.cosign import Artefact, Layer, Subject
from autopack.errors import PushError
from autopack.push.registry import RegistryClient

MAX_LAYER = 64 * 1024 * 1024  # an SBOM of a large service is a few MB; what is larger is not ours to carry


@dataclass(frozen=True)
class Attached:
    """One artefact at one destination."""

    kind: str  # signature, attestation, sbom
    tag: str
    digest: str  # of the artefact's manifest there
    layers: int  # how many signatures / attestations / SBOMs it holds (ours and what was kept)
    referrer: bool  # the registry indexed it for its referrers API


def subject(client: RegistryClient, repository: str, digest: str) -> Subject:
    """The image at ``digest`` as a descriptor: what every artefact's ``subject`` names."""
    found = client.descriptor(repository, digest)
    if found is None:
        raise PushError(f"{client.registry}/{repository}@{digest[:19]} is not there to attach to", "push the image again")
    return Subject(found[0], found[1], found[2] or cosign.OCI_MANIFEST)


def attach(client: RegistryClient, repository: str, image: Subject, artefacts: Sequence[Artefact]) -> tuple[Attached, ...]:
    """Push each artefact to ``repository`` (side by side: a far registry's round trips are
    the cost), keeping what its tag held; the registry's answer to each manifest PUT must name
    the manifest pushed. A tag that holds that very manifest already (a run with nothing new
    to say: an unchanged image, this key's signature of this digest) is left as it is."""
    with tempfile.TemporaryDirectory(prefix="autopack-attach-") as scratch:
        attached = parallel.run_all(lambda artefact: _attach_one(client, repository, image, artefact, Path(scratch)), artefacts, len(artefacts) or 1)
    # Not every registry with the API says so on the PUT (go-containerregistry's does not): asked once.
    listed = client.referrers(repository, image.digest)
    return tuple(replace(entry, referrer=entry.referrer or (listed is not None and entry.digest in listed)) for entry in attached)


def _attach_one(client: RegistryClient, repository: str, image: Subject, artefact: Artefact, scratch: Path) -> Attached:
    tag = artefact.tag(image.digest)
    there = client.manifest_digest(repository, tag)
    body, config = cosign.manifest(artefact, image)
    if there is not None and there != _digest(body):  # the tag holds more, or other, layers: kept, merged
        body, config = cosign.manifest(artefact, image, _layers_at(client, repository, tag, scratch / artefact.suffix))
    indexed = False
    if there != _digest(body):
        blobs = list(dict.fromkeys((config, *(layer.body for layer in artefact.layers))))
        parallel.run_all(lambda blob: client.upload_small(repository, _digest(blob), blob), blobs, len(blobs))
        pushed, indexed = client.put_referrer(repository, tag, body, cosign.OCI_MANIFEST)
        if pushed != _digest(body):
            raise PushError(f"{client.registry}/{repository}:{tag} took the {artefact.kind} as {pushed[:19]}, not {_digest(body)[:19]}", "the registry changed the manifest; check it")
    return Attached(artefact.kind, tag, _digest(body), len(cosign.layers_of(body)), indexed)


def _digest(body: bytes) -> str:
    return f"sha256:{hashlib.sha256(body).hexdigest()}"


def read(client: RegistryClient, repository: str, digest: str, kinds: Sequence[str] = tuple(cosign.KINDS)) -> tuple[Artefact, ...]:
    """The artefacts ``repository`` holds for the image at ``digest``: what is carried to a
    destination that lacks them (an unchanged image, pushed once with them)."""
    found = []
    with tempfile.TemporaryDirectory(prefix="autopack-referrers-") as scratch:
        for kind in kinds:
            suffix, media_type = cosign.KINDS[kind]
            layers = _layers_at(client, repository, f"{digest.replace(':', '-')}.{suffix}", Path(scratch))
            if layers:
                found.append(Artefact(kind, suffix, media_type, tuple(layers)))
    return tuple(found)


def _layers_at(client: RegistryClient, repository: str, tag: str, scratch: Path) -> list[Layer]:
    """The layers of the artefact manifest under ``tag``, with their bytes; none if there is none."""
    if client.manifest_digest(repository, tag) is None:
        return []
    body, _ = client.raw_manifest(repository, tag)
    try:
        described = cosign.layers_of(body)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise PushError(f"{client.registry}/{repository}:{tag} holds a manifest autopack cannot read ({type(e).__name__})", f"check it, or delete the tag {tag}") from None
    layers = []
    scratch.mkdir(parents=True, exist_ok=True)
    for media_type, digest, size, notes in described:
        if size > MAX_LAYER:
            raise PushError(f"{client.registry}/{repository}:{tag} has a {size}-byte layer", f"an artefact that large is not autopack's to keep; delete the tag {tag}")
        path = scratch / digest.replace(":", "-")
        client.download_blob(repository, digest, path)
        layers.append(Layer(media_type, path.read_bytes(), notes))
    return layers
