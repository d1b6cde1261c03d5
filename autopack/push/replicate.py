"""Copying a pushed image from one registry to others, blob by blob, over the Registry API.

The engine compresses every layer anew for each push, so three pushes cost three
compressions (CPU-bound) and may not even agree on the bytes. Copying what the first
registry received instead costs one compression, runs the other destinations in parallel at
network speed, and puts the very same manifest bytes — hence the same digest — everywhere.
Each blob is downloaded once into a scratch directory, whichever destination needs it first.
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from autopack.errors import ImageError, PushError
from autopack.events import Emit, Progress
from autopack.push.registry import GaveUp, RegistryClient

if TYPE_CHECKING:
    from autopack.image.oci import Assembled, Bases

STAGE = "push"
_SINGLE = ("application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json")
_INDEXES = ("application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.oci.image.index.v1+json")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class Source:
    """The seed registry's copy of the image: its manifest (and an index's platform
    manifests), and its blobs on demand.

    A blob that cannot be read (its retries ran out) fails every copy that needs it, at
    once: the others would only wait out the same budget against the same registry."""

    def __init__(self, client: RegistryClient, repository: str, digest: str, scratch: Path) -> None:
        self.client, self.repository, self.scratch = client, repository, scratch
        before = client.retried  # nothing else uses the seed's client meanwhile
        self.manifest, self.media_type = client.raw_manifest(repository, digest)
        where = f"{client.registry}/{repository}@{digest[:19]}"
        self.children: list[tuple[bytes, str, str]] = []  # an index's manifests: bytes, media type, digest
        if self.media_type in _INDEXES or _media_type(self.manifest) in _INDEXES:
            for child in _children(self.manifest, where):
                body, media_type = client.raw_manifest(repository, child)
                self.children.append((body, media_type, child))
        self.tries = 1 + client.retried - before  # a step of every copy
        self.blobs = list(dict.fromkeys(b for body, media_type, _ in self.children or [(self.manifest, self.media_type, digest)] for b in _blobs(body, media_type, where)))
        self._locks = {digest: threading.Lock() for digest, _ in self.blobs}
        self._failed: dict[str, PushError] = {}

    def blob(self, digest: str, note_tries: Callable[[int], None]) -> Path:
        """The blob in the scratch directory, downloaded first if no copy has yet; the tries
        that download took go to ``note_tries``."""
        path = self.scratch / digest.replace(":", "-")
        with self._locks[digest]:
            if digest in self._failed:
                raise self._failed[digest]
            if not path.exists():
                partial = path.with_suffix(".part")
                try:
                    note_tries(self.client.download_blob(self.repository, digest, partial))
                    partial.rename(path)
                except GaveUp as e:
                    note_tries(e.tries)
                    self._failed[digest] = e
                    raise
                except PushError as e:
                    self._failed[digest] = e
                    raise
                except OSError as e:
                    raise PushError(f"cannot keep blob {digest[:19]} in {self.scratch}: {e.strerror or e}", "free space in the temporary directory (TMPDIR)") from None
        return path

    def origin(self, digest: str) -> tuple[str, str] | None:
        """The registry and repository a destination may mount ``digest`` from: none (the
        seed is another registry)."""
        return None


class Built:
    """The direct builder's image: its manifests, its own blobs in the blob store, and its
    base layers where they are — the blob store, or the base's registry (downloaded on
    demand, once; or mounted by a destination on that registry)."""

    def __init__(self, assembled: Assembled, bases: Bases) -> None:
        self.assembled, self.bases = assembled, bases
        top = assembled.top
        self.manifest, self.media_type, self.tries = top.body, top.media_type, 1
        self.children = [(m.body, m.media_type, m.digest) for m in assembled.manifests] if assembled.index else []
        self._blobs = assembled.blobs
        self.blobs = [(digest, blob.size) for digest, blob in self._blobs.items()]
        from autopack.image.oci import blob_store

        self._store = blob_store()

    def blob(self, digest: str, note_tries: Callable[[int], None]) -> Path:
        try:
            return self.bases.fetch(self._blobs[digest], self._store)
        except ImageError as e:
            raise PushError(e.message, e.hint) from None

    def origin(self, digest: str) -> tuple[str, str] | None:
        blob = self._blobs[digest]
        return (blob.registry, blob.repository) if blob.path is None and blob.registry and blob.repository else None


def _media_type(manifest: bytes) -> str:
    try:
        document = json.loads(manifest)
    except ValueError:
        return ""
    return str(document.get("mediaType", "")) if isinstance(document, dict) else ""


def _children(manifest: bytes, where: str) -> list[str]:
    try:
        digests = [str(m["digest"]) for m in json.loads(manifest)["manifests"]]
    except (ValueError, KeyError, TypeError) as e:
        raise PushError(f"the image index of {where} is not one autopack can read ({type(e).__name__}: {e})", "check what the first destination stored; push to it again") from None
    if not all(_DIGEST.fullmatch(d) for d in digests):
        raise PushError(f"the image index of {where} names a manifest by something other than a sha256 digest", "check what the first destination stored")
    return digests


def _blobs(manifest: bytes, media_type: str, where: str) -> list[tuple[str, int]]:
    """The config and layer blobs a single-image manifest names, with their sizes."""
    try:
        document = json.loads(manifest)
        if media_type not in _SINGLE and document.get("mediaType") not in _SINGLE:
            raise PushError(f"cannot copy a {media_type} from {where}", "push to each destination with --push-jobs and no copy")
        described = [document["config"], *document["layers"]]
        blobs = [(str(d["digest"]), int(d.get("size", 0))) for d in described]
    except PushError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise PushError(f"the manifest of {where} is not one autopack can read ({type(e).__name__}: {e})", "check what the first destination stored; push to it again") from None
    if not all(_DIGEST.fullmatch(digest) for digest, _ in blobs):
        raise PushError(f"the manifest of {where} names a blob by something other than a sha256 digest", "check what the first destination stored; push to it again")
    return blobs


def copy(source: Source | Built, target: RegistryClient, repository: str, tags: Sequence[str], name: str, emit: Emit, note_tries: Callable[[int], None]) -> str:
    """Copy every blob the target lacks, then the manifest under each tag; returns its digest.
    ``note_tries`` hears the tries of each blob read from the seed on this copy's behalf
    (the target's own calls count on ``target.most_tries``)."""
    note_tries(source.tries)
    for digest, size in source.blobs:
        layer = digest.removeprefix("sha256:")[:12]
        facts = {"destination": name, "layer": layer, "key": f"{name} {layer}", "total": size, "copied": isinstance(source, Source)}  # registry to registry, or the builder's own
        if target.blob_exists(repository, digest):
            emit(Progress(STAGE, f"{name} {layer}: exists", {**facts, "state": "exists", "current": size}))
            continue
        origin = source.origin(digest)
        if origin is not None and origin[0] == target.registry and target.mount_blob(repository, digest, origin[1]):
            emit(Progress(STAGE, f"{name} {layer}: mounted from {origin[1]}", {**facts, "state": "mounted", "current": size}))
            continue
        path = source.blob(digest, note_tries)
        emit(Progress(STAGE, f"{name} {layer}: pushing", {**facts, "state": "pushing", "current": 0}))
        last = [0.0]

        def report(sent: int, facts: dict = facts, last: list[float] = last) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.25:  # bytes a few times a second, not per read
                last[0] = now
                emit(Progress(STAGE, f"{name} {facts['layer']}: pushing", {**facts, "state": "pushing", "current": sent}))

        target.upload_blob(repository, digest, path, report)
        emit(Progress(STAGE, f"{name} {layer}: done", {**facts, "state": "done", "current": size}))
    for body, media_type, child in source.children:  # an index's manifests first, by digest
        target.put_manifest(repository, child, body, media_type)
    digest = ""
    for tag in tags:
        digest = target.put_manifest(repository, tag, source.manifest, source.media_type)
    return digest


def scratch_dir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="autopack-blobs-")
