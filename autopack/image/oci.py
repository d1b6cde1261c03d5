"""OCI images as the direct builder (``autopack/engine/direct.py``) reads and writes them:
platforms, base images (from their registry, or from the local Docker engine), the image it
assembles (manifests, and where each blob comes from), and the blob store they share.

A base is read from its registry as manifest and config only; its layers stay there unless
something really needs their bytes (``--load``, ``COPY --from`` a base's files, a
``--chown`` by name), and the push stage mounts or skips them at the destination. A base
named without a registry (Docker Hub's form) is taken from the local Docker engine when
that holds it — its layers are then compressed once and kept in the blob store, by the
engine's image id.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import platform as host
import shutil
import tarfile
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

import filelock

from autopack import cache, tags
from autopack.errors import ImageError, PushError, UsageError
from autopack.files import write_atomically
from autopack.image.layers import compressing, store_blob
from autopack.push import credentials
from autopack.push.registry import RegistryClient

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
INDEXES = (OCI_INDEX, DOCKER_LIST)
FORMATS = ("oci", "docker")  # --image-format
_AS_FORMAT = {  # a layer's media type in the other format: the same bytes
    "oci": {DOCKER_LAYER: OCI_LAYER},
    "docker": {OCI_LAYER: DOCKER_LAYER},
}
DOCKER_HUB = "registry-1.docker.io"


@dataclass(frozen=True, order=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def as_json(self) -> dict[str, str]:
        found = {"architecture": self.architecture, "os": self.os}
        return {**found, "variant": self.variant} if self.variant else found

    def matches(self, described: Mapping[str, Any]) -> bool:
        """Whether an index entry's (or a config's) platform is this one; arm64's variant v8
        is implied when either leaves it out, as containerd's matcher has it."""
        if described.get("os") != self.os or described.get("architecture") != self.architecture:
            return False
        theirs = str(described.get("variant") or "")
        if self.architecture == "arm64":
            return (theirs or "v8") == (self.variant or "v8")
        return not self.variant or theirs == self.variant


def parse_platform(text: str) -> Platform:
    parts = text.strip().lower().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise UsageError(f"--platform '{text}' is not os/architecture[/variant]", "e.g. --platform linux/amd64,linux/arm64")
    return Platform(*parts)


def host_platform() -> Platform:
    machine = host.machine().lower()
    architecture = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}.get(machine, machine)
    return Platform("linux", architecture, "v7" if architecture == "arm" else "")


def blob_store() -> Path:
    """The blob store, held shared by this run from here on (``cache.use_blob_store``): every
    user of the store gets its path here, so no ``autopack cache prune`` removes a blob
    while a run may read it."""
    try:
        path = cache.use_blob_store()
    except TimeoutError as e:
        raise ImageError(str(e), "wait for it to finish, or stop it") from None
    (path / "sha256").mkdir(parents=True, exist_ok=True)
    return path


def used(path: Path) -> Path:
    """A blob's last use (``autopack cache ls``, ``prune --older-than``): its file's time."""
    with contextlib.suppress(OSError):
        os.utime(path)
    return path


def blob_path(blobs: Path, digest: str) -> Path:
    return blobs / "sha256" / digest.removeprefix("sha256:")


@dataclass(frozen=True)
class Blob:
    """One blob of an image, and where its bytes are: a file in the blob store, or (a base
    layer not downloaded) the registry repository it is read or mounted from."""

    digest: str
    size: int
    media_type: str
    path: Path | None = None
    registry: str | None = None
    repository: str | None = None

    def descriptor(self, media_type: str | None = None) -> dict[str, Any]:
        return {"mediaType": media_type or self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class Base:
    """A base image for one platform: its config, and its layers as blobs."""

    name: str
    platform: Platform
    config: Mapping[str, Any]  # the whole image config
    layers: tuple[Blob, ...]
    identity: str  # its manifest digest in the registry, or its id in the engine

    @property
    def settings(self) -> Mapping[str, Any]:
        """The ``config`` part: Env, Entrypoint, Cmd, OnBuild, …"""
        part = self.config.get("config")
        return part if isinstance(part, dict) else {}


@dataclass(frozen=True)
class Manifest:
    """One manifest as pushed: its exact bytes, and for a platform's image what it holds."""

    body: bytes
    media_type: str
    platform: Platform | None = None
    config: Blob | None = None
    layers: tuple[Blob, ...] = ()

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.body).hexdigest()


@dataclass(frozen=True)
class Assembled:
    """The image the direct builder made: one manifest per platform, under an index when
    there are several. Nothing of it is in any store but the blob store until pushed."""

    manifests: tuple[Manifest, ...]  # one per platform
    index: Manifest | None = None

    @property
    def top(self) -> Manifest:
        return self.index or self.manifests[0]

    @property
    def digest(self) -> str:
        return self.top.digest

    @property
    def image_id(self) -> str:
        """The first platform's config digest: the image id an engine gives it once loaded."""
        config = self.manifests[0].config
        assert config is not None
        return config.digest

    @property
    def blobs(self) -> dict[str, Blob]:
        found: dict[str, Blob] = {}
        for manifest in self.manifests:
            for blob in (manifest.config, *manifest.layers):
                if blob is not None:
                    found.setdefault(blob.digest, blob)
        return found

    @property
    def size(self) -> int:
        return sum(b.size for b in self.blobs.values())

    @property
    def platforms(self) -> tuple[tuple[str, str], ...]:
        return tuple((str(m.platform), m.digest) for m in self.manifests)


def canonical(document: Mapping[str, Any]) -> bytes:
    """A manifest's or config's bytes: compact JSON in the order the document was built."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def image_manifest(config: bytes, layers: Sequence[Blob], image_format: str, platform: Platform, blobs: Path) -> Manifest:
    digest, size, path = store_blob(blobs, lambda out: out.write(config))
    used(path)  # kept from an earlier build when it was there already
    config_type, manifest_type = (OCI_CONFIG, OCI_MANIFEST) if image_format == "oci" else (DOCKER_CONFIG, DOCKER_MANIFEST)
    config_blob = Blob(digest, size, config_type, path)
    converted = _AS_FORMAT[image_format]
    document = {
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": config_blob.descriptor(),
        "layers": [layer.descriptor(converted.get(layer.media_type)) for layer in layers],
    }
    return Manifest(canonical(document), manifest_type, platform, config_blob, tuple(layers))


def image_index(manifests: Sequence[Manifest], image_format: str) -> Manifest:
    media_type = OCI_INDEX if image_format == "oci" else DOCKER_LIST
    document = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [{"mediaType": m.media_type, "digest": m.digest, "size": len(m.body), "platform": m.platform.as_json() if m.platform else {}} for m in manifests],
    }
    return Manifest(canonical(document), media_type)


# --- base images ------------------------------------------------------------------------------


class Bases:
    """The base images of one run, each read once per platform (builds run in threads)."""

    def __init__(self, auth_file: Path | None, engine_api: Any, pull: bool, retries: int = 3, *, read_only: bool = False) -> None:
        self.auth_file, self.engine_api, self.pull, self.retries = auth_file, engine_api, pull, retries
        self.read_only = read_only  # a plan only: what a base is, never a blob saved for it
        self._found: dict[tuple[str, Platform], Base] = {}
        self._lock = threading.Lock()
        self._clients: dict[str, RegistryClient] = {}

    def get(self, name: str, platform: Platform) -> Base:
        with self._lock:
            if (name, platform) not in self._found:
                self._found[(name, platform)] = self._read(name, platform)
            return self._found[(name, platform)]

    def client(self, registry: str) -> RegistryClient:
        if registry not in self._clients:
            self._clients[registry] = RegistryClient(registry, credentials.resolve(registry, self.auth_file), self.retries)
        return self._clients[registry]

    def _read(self, name: str, platform: Platform) -> Base:
        repository, tag = tags.split_reference(name)
        registry = tags.registry_of(repository)
        if registry is None and self.engine_api is not None and not self.pull:
            local = _inspected(self.engine_api, name, platform) if self.read_only else _from_engine(self.engine_api, name, platform)
            if local is not None:
                return local
        if registry is None:
            registry, path = DOCKER_HUB, repository if "/" in repository else f"library/{repository}"
        else:
            path = repository.partition("/")[2]
        try:
            return _from_registry(self.client(registry), registry, path, tag or "latest", name, platform)
        except PushError as e:
            raise ImageError(f"cannot read the base image {name}: {e.message}", e.hint if registry != DOCKER_HUB else "load it into the local Docker engine, or name it with its registry") from None

    def layer_files(self, base: Base, blobs: Path) -> list[Path]:
        """The base's layers as files in the blob store, downloaded where they are not yet."""
        return [self.fetch(blob, blobs) for blob in base.layers]

    def fetch(self, blob: Blob, blobs: Path) -> Path:
        if blob.path is not None and blob.path.exists():
            return used(blob.path)
        path = blob_path(blobs, blob.digest)
        if path.exists():
            return used(path)
        assert blob.registry is not None and blob.repository is not None
        with filelock.FileLock(str(path) + ".lock", timeout=cache.LOCK_TIMEOUT):
            if not path.exists():
                partial = path.with_name(path.name + ".part")
                try:
                    self.client(blob.registry).download_blob(blob.repository, blob.digest, partial)
                except PushError as e:
                    raise ImageError(f"cannot download base layer {blob.digest[:19]} from {blob.registry}: {e.message}", e.hint) from None
                partial.rename(path)
        return path


def _from_registry(client: RegistryClient, registry: str, repository: str, tag: str, name: str, platform: Platform) -> Base:
    body, media_type = client.raw_manifest(repository, tag)
    document = _json(body, f"the manifest of {name}")
    media_type = document.get("mediaType") or media_type
    identity = "sha256:" + hashlib.sha256(body).hexdigest()
    if media_type in INDEXES:
        chosen = next((m for m in document.get("manifests", []) if isinstance(m, dict) and platform.matches(m.get("platform") or {})), None)
        if chosen is None:
            offered = ", ".join(str(Platform(p.get("os", "?"), p.get("architecture", "?"), p.get("variant", ""))) for m in document.get("manifests", []) if isinstance(p := m.get("platform"), dict))
            raise ImageError(f"the base image {name} has no {platform} image (it has: {offered or 'none'})", "choose --platform among those, or another base image")
        body, media_type = client.raw_manifest(repository, str(chosen["digest"]))
        document = _json(body, f"the {platform} manifest of {name}")
        media_type = document.get("mediaType") or media_type
    if media_type not in (OCI_MANIFEST, DOCKER_MANIFEST):
        raise ImageError(f"the base image {name} is a {media_type}, which the direct builder cannot read", "use an engine (--engine buildkit)")
    config_digest = str(document["config"]["digest"])
    with tempfile.TemporaryDirectory(prefix="autopack-config-") as scratch:
        client.download_blob(repository, config_digest, Path(scratch) / "config")
        config = _json((Path(scratch) / "config").read_bytes(), f"the config of {name}")
    if not platform.matches(config):
        raise ImageError(f"the base image {name} is {config.get('os')}/{config.get('architecture')}, not {platform}", "choose --platform to match, or a multi-platform base image")
    layers = tuple(Blob(str(d["digest"]), int(d["size"]), str(d["mediaType"]), None, registry, repository) for d in document.get("layers", []))
    return Base(name, platform, config, layers, identity)


def _inspected(api: Any, name: str, platform: Platform) -> Base | None:
    """A base the local Docker engine holds, as a plan needs it — its config and identity,
    from the engine's inspect — with nothing saved into the blob store (``autopack plan``
    writes no cache). Its layers are a build's business (``_from_engine``)."""
    import docker.errors

    try:
        found = api.inspect_image(name)
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.DockerException as e:
        raise ImageError(f"the engine failed inspecting the base image {name}: {e}", "is the engine still running?") from None
    config = {"architecture": found.get("Architecture"), "os": found.get("Os"), **({"variant": found["Variant"]} if found.get("Variant") else {}), "config": found.get("Config") or {}, "rootfs": found.get("RootFS") or {}}
    if not platform.matches(config):
        raise ImageError(f"the base image {name} in the engine is {config.get('os')}/{config.get('architecture')}, not {platform}", "name a multi-platform base with its registry")
    return Base(name, platform, config, (), str(found["Id"]))


def _from_engine(api: Any, name: str, platform: Platform) -> Base | None:
    """A base the local Docker engine holds: saved once (``docker save``), each layer
    compressed into the blob store, and remembered by the engine's image id."""
    import docker.errors

    try:
        image_id = str(api.inspect_image(name)["Id"])
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.DockerException as e:
        raise ImageError(f"the engine failed inspecting the base image {name}: {e}", "is the engine still running?") from None
    blobs = blob_store()
    record = blobs / "engine" / f"{image_id.removeprefix('sha256:')}.json"
    record.parent.mkdir(exist_ok=True)
    with filelock.FileLock(str(record) + ".lock", timeout=cache.LOCK_TIMEOUT):
        saved = json.loads(record.read_text()) if record.exists() else None
        if saved is None or not all(blob_path(blobs, d).exists() for d in [saved["config"], *(d for d, _ in saved["layers"])]):  # a blob pruned since: saved again
            try:
                _save_from_engine(api, name, image_id, blobs, record)
            except (docker.errors.DockerException, OSError, tarfile.TarError, KeyError, ValueError) as e:
                raise ImageError(f"the engine failed saving the base image {name}: {type(e).__name__}: {e}", "is the engine still running? (docker save)") from None
            saved = json.loads(record.read_text())
    config = json.loads(blob_path(blobs, saved["config"]).read_bytes())
    if not platform.matches(config):
        raise ImageError(f"the base image {name} in the engine is {config.get('os')}/{config.get('architecture')}, not {platform}", "name a multi-platform base with its registry")
    layers = tuple(Blob(d, s, OCI_LAYER, used(blob_path(blobs, d))) for d, s in saved["layers"])
    used(blob_path(blobs, saved["config"]))
    return Base(name, platform, config, layers, image_id)


def _save_from_engine(api: Any, name: str, image_id: str, blobs: Path, record: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="autopack-save-", dir=blobs) as scratch:
        archive = Path(scratch) / "image.tar"
        with open(archive, "wb") as out:
            for chunk in api.get_image(image_id):
                out.write(chunk)
        with tarfile.open(archive) as saved:
            manifest = json.load(_member(saved, "manifest.json"))[0]
            config = _member(saved, manifest["Config"]).read()
            config_digest, _, _ = store_blob(blobs, lambda out: out.write(config))
            layers = []
            for member in manifest["Layers"]:
                source = _member(saved, member)
                digest, size, _ = store_blob(blobs, lambda out, source=source: _gzip(source, out))  # type: ignore[misc]
                layers.append((digest, size))
        write_atomically(record, json.dumps({"config": config_digest, "layers": layers}))  # whole or absent: a kill leaves no half record


def _gzip(source: IO[bytes], out: BinaryIO) -> None:
    with compressing(out) as packed:
        shutil.copyfileobj(source, packed, 1 << 20)


def _member(archive: tarfile.TarFile, name: str) -> IO[bytes]:
    found = archive.extractfile(name)
    if found is None:
        raise ImageError(f"docker save gave no {name}", "is the engine healthy?")
    return found


def _json(body: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ImageError(f"{what} is not JSON", "check the registry")
    return value


# --- into the engine ----------------------------------------------------------------------


def docker_archive(manifest: Manifest, references: Sequence[str], layer_files: Sequence[Path]) -> Iterator[bytes]:
    """``docker load``'s input for one platform's image: manifest.json, the config and each
    layer (compressed: the engine unpacks it), streamed from a temporary file."""
    assert manifest.config is not None and manifest.config.path is not None
    with tempfile.TemporaryFile() as spool:
        with tarfile.open(fileobj=spool, mode="w") as archive:
            config_name = manifest.config.digest.removeprefix("sha256:") + ".json"
            archive.add(str(manifest.config.path), config_name)
            names = []
            for layer, path in zip(manifest.layers, layer_files, strict=True):
                names.append(layer.digest.removeprefix("sha256:") + ".tar.gz")
                archive.add(str(path), names[-1])
            document = json.dumps([{"Config": config_name, "RepoTags": list(references), "Layers": names}]).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(document)
            archive.addfile(info, io.BytesIO(document))
        spool.seek(0)
        while chunk := spool.read(1 << 20):
            yield chunk
