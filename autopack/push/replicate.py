"""Copying a pushed image from one registry to others, blob by blob, over the Registry API.

The engine compresses every layer anew for each push, so three pushes cost three
compressions (CPU-bound) and may not even agree on the bytes. Copying what the first
registry received instead costs one compression, runs the other destinations in parallel at
network speed, and puts the very same manifest bytes — hence the same digest — everywhere.
Each blob is downloaded once into a scratch directory, whichever destination needs it first.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from autopack.errors import PushError
from autopack.events import Emit, Progress
from autopack.push.registry import RegistryClient

STAGE = "push"
_SINGLE = ("application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json")


class Source:
    """The seed registry's copy of the image: its manifest, and its blobs on demand."""

    def __init__(self, client: RegistryClient, repository: str, digest: str, scratch: Path) -> None:
        self.client, self.repository, self.scratch = client, repository, scratch
        self.manifest, self.media_type = client.raw_manifest(repository, digest)
        document = json.loads(self.manifest)
        if self.media_type not in _SINGLE and document.get("mediaType") not in _SINGLE:
            raise PushError(f"cannot copy a {self.media_type} from {client.registry}", "push to each destination with --push-jobs and no copy")
        self.blobs: list[tuple[str, int]] = [(document["config"]["digest"], int(document["config"].get("size", 0)))]
        self.blobs += [(layer["digest"], int(layer.get("size", 0))) for layer in document["layers"]]
        self._locks = {digest: threading.Lock() for digest, _ in self.blobs}

    def blob(self, digest: str) -> Path:
        path = self.scratch / digest.replace(":", "-")
        with self._locks[digest]:
            if not path.exists():
                partial = path.with_suffix(".part")
                self.client.download_blob(self.repository, digest, partial)
                partial.rename(path)
        return path


def copy(source: Source, target: RegistryClient, repository: str, tags: Sequence[str], name: str, emit: Emit) -> str:
    """Copy every blob the target lacks, then the manifest under each tag; returns its digest."""
    for digest, size in source.blobs:
        layer = digest.removeprefix("sha256:")[:12]
        facts = {"destination": name, "layer": layer, "key": f"{name} {layer}", "total": size}
        if target.blob_exists(repository, digest):
            emit(Progress(STAGE, f"{name} {layer}: exists", {**facts, "state": "exists", "current": size}))
            continue
        path = source.blob(digest)
        emit(Progress(STAGE, f"{name} {layer}: pushing", {**facts, "state": "pushing", "current": 0}))
        last = [0.0]

        def report(sent: int, facts: dict = facts, last: list[float] = last) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.25:  # bytes a few times a second, not per read
                last[0] = now
                emit(Progress(STAGE, f"{name} {facts['layer']}: pushing", {**facts, "state": "pushing", "current": sent}))

        target.upload_blob(repository, digest, path, report)
        emit(Progress(STAGE, f"{name} {layer}: done", {**facts, "state": "done", "current": size}))
    digest = ""
    for tag in tags:
        digest = target.put_manifest(repository, tag, source.manifest, source.media_type)
    return digest


def scratch_dir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="autopack-blobs-")
