"""The artefacts attached to an image, in cosign's formats, so that ``cosign verify``,
``cosign verify-attestation`` and ``cosign download sbom`` read what autopack attached:

| artefact    | tag (the fallback scheme)  | layer media type                                   | layer                                   |
|-------------|----------------------------|----------------------------------------------------|-----------------------------------------|
| signature   | ``sha256-<hex>.sig``       | application/vnd.dev.cosign.simplesigning.v1+json   | the simple-signing payload; its signature in the ``dev.cosignproject.cosign/signature`` annotation |
| attestation | ``sha256-<hex>.att``       | application/vnd.dsse.envelope.v1+json              | a DSSE envelope of an in-toto Statement (``predicateType`` annotation) |
| SBOM        | ``sha256-<hex>.sbom``      | application/vnd.cyclonedx+json                     | the CycloneDX document                  |

Each is an OCI image manifest, as cosign writes it (the config cosign writes: empty but for
``rootfs.diff_ids``), plus OCI 1.1's ``artifactType`` and ``subject`` (the image), so a
registry with the referrers API lists it among the image's referrers too.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from autopack.attest import sign

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
SIGNATURE_LAYER = "application/vnd.dev.cosign.simplesigning.v1+json"
DSSE_LAYER = "application/vnd.dsse.envelope.v1+json"
SBOM_LAYER = "application/vnd.cyclonedx+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
PREDICATE_ANNOTATION = "predicateType"
_ZERO_TIME = "0001-01-01T00:00:00Z"  # cosign's config has no time: the same artefact is the same bytes


@dataclass(frozen=True)
class Layer:
    media_type: str
    body: bytes
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return f"sha256:{hashlib.sha256(self.body).hexdigest()}"

    def descriptor(self) -> dict[str, Any]:
        found: dict[str, Any] = {"mediaType": self.media_type, "size": len(self.body), "digest": self.digest}
        if self.annotations:
            found["annotations"] = dict(self.annotations)
        return found


@dataclass(frozen=True)
class Artefact:
    """One kind of artefact for one image: its layers (a signature per key, an attestation
    per predicate), under its tag."""

    kind: str  # signature, attestation, sbom
    suffix: str  # sig, att, sbom
    artifact_type: str
    layers: tuple[Layer, ...]
    verify: Callable[[bytes, bytes], bool] | None = field(default=None, compare=False)  # the signer's check: is (data, signature) ours?

    def tag(self, subject_digest: str) -> str:
        return f"{subject_digest.replace(':', '-')}.{self.suffix}"


@dataclass(frozen=True)
class Subject:
    """The image an artefact is attached to, as an OCI descriptor."""

    digest: str
    size: int
    media_type: str


KINDS = {"signature": ("sig", SIGNATURE_LAYER), "attestation": ("att", DSSE_LAYER), "sbom": ("sbom", SBOM_LAYER)}


def signature(payload: bytes, signature_b64: str, verify: Callable[[bytes, bytes], bool] | None = None) -> Artefact:
    """cosign's image signature: the simple-signing payload, signed."""
    return Artefact("signature", "sig", SIGNATURE_LAYER, (Layer(SIGNATURE_LAYER, payload, {SIGNATURE_ANNOTATION: signature_b64}),), verify)


def attestations(envelopes: Sequence[tuple[str, bytes]], verify: Callable[[bytes, bytes], bool] | None = None) -> Artefact:
    """cosign's attestations: one DSSE envelope a layer, with its predicate type. The
    signature annotation is empty, as cosign writes it for attestations (the envelope holds it)."""
    return Artefact("attestation", "att", DSSE_LAYER, tuple(Layer(DSSE_LAYER, envelope, {SIGNATURE_ANNOTATION: "", PREDICATE_ANNOTATION: predicate}) for predicate, envelope in envelopes), verify)


def sbom(document: bytes) -> Artefact:
    """cosign's attached SBOM (``cosign attach sbom --type cyclonedx``)."""
    return Artefact("sbom", "sbom", SBOM_LAYER, (Layer(SBOM_LAYER, document),))


def manifest(artefact: Artefact, subject: Subject, kept: Sequence[Layer] = ()) -> tuple[bytes, bytes]:
    """The artefact's manifest and config bytes. ``kept``: the layers the tag held already
    (another key's signature, another tool's attestation) stay, first, as cosign appends;
    this key's signature of the same payload stays instead of a new one (the tag is then
    unchanged: a signature is not made anew every run, as cosign does not either)."""
    mine, layers = list(artefact.layers), []
    for layer in kept:
        same = next((m for m in mine if supersedes(m, layer, artefact.verify)), None)
        if same is None:
            layers.append(layer)  # another key's, another statement's, another format's: it stays
        elif same.media_type == SIGNATURE_LAYER:  # this key signed this payload already: that signature stands
            layers.append(layer)
            mine.remove(same)
    layers += mine  # ours replace the rest of what they supersede
    config = _compact({"architecture": "", "created": _ZERO_TIME, "history": [{"created": _ZERO_TIME}], "os": "", "rootfs": {"type": "layers", "diff_ids": [layer.digest for layer in layers]}, "config": {}})
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artefact.artifact_type,
        "config": {"mediaType": CONFIG_TYPE, "size": len(config), "digest": f"sha256:{hashlib.sha256(config).hexdigest()}"},
        "layers": [layer.descriptor() for layer in layers],
        "subject": {"mediaType": subject.media_type, "size": subject.size, "digest": subject.digest},
    }
    return _compact(document), config


def supersedes(mine: Layer, kept: Layer, verify: Callable[[bytes, bytes], bool] | None) -> bool:
    """Whether ``mine`` replaces a layer its tag held: the same layer; this key's signature
    of the same payload; this key's (or an unsigned) attestation of the same predicate type;
    a CycloneDX SBOM of the image. Another key's, another predicate's and another format's
    stay: the tag only ever grows by what a new key or a new kind of statement adds."""
    if mine.media_type != kept.media_type:
        return False
    if (mine.digest, dict(mine.annotations)) == (kept.digest, dict(kept.annotations)) or mine.media_type == SBOM_LAYER:
        return True
    if mine.media_type == SIGNATURE_LAYER:
        return mine.digest == kept.digest and verify is not None and _verifies(verify, kept.body, kept.annotations.get(SIGNATURE_ANNOTATION, ""))
    if mine.media_type == DSSE_LAYER and mine.annotations.get(PREDICATE_ANNOTATION) == kept.annotations.get(PREDICATE_ANNOTATION):
        try:
            envelope = json.loads(kept.body)
            signatures, payload_type, payload = envelope.get("signatures") or [], str(envelope["payloadType"]), base64.b64decode(envelope["payload"])
        except (ValueError, KeyError, TypeError, AttributeError):
            return False
        if not signatures:
            return True  # unsigned: vouches for nothing another statement does not
        return verify is not None and any(_verifies(verify, sign.pae(payload_type, payload), str(s.get("sig", ""))) for s in signatures if isinstance(s, dict))
    return False


def _verifies(verify: Callable[[bytes, bytes], bool], data: bytes, signature_b64: str) -> bool:
    try:
        return verify(data, base64.b64decode(signature_b64, validate=True))
    except ValueError:
        return False


def layers_of(manifest_body: bytes) -> list[tuple[str, str, int, dict[str, str]]]:
    """The (media type, digest, size, annotations) of each layer an artefact's manifest names."""
    document = json.loads(manifest_body)
    found = []
    for layer in document.get("layers") or []:
        annotations = layer.get("annotations") or {}
        found.append((str(layer["mediaType"]), str(layer["digest"]), int(layer["size"]), {str(k): str(v) for k, v in annotations.items()}))
    return found


def _compact(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()
