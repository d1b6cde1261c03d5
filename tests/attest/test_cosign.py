"""The artefacts in cosign's formats, and the provenance statement: their exact shapes, and
which layers a tag keeps when this run's are added."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timezone

from cryptography.hazmat.primitives.asymmetric import ec

from autopack import secrets
from autopack.attest import cosign, provenance, sign
from autopack.attest.sign import KeySigner

DIGEST = "sha256:" + "ab" * 32
SUBJECT = cosign.Subject(DIGEST, 1234, cosign.OCI_MANIFEST)


def key() -> KeySigner:
    return KeySigner(name="test.key", scheme="ECDSA secp256r1 SHA256", _key=ec.generate_private_key(ec.SECP256R1()))


def signed(signer: KeySigner) -> cosign.Artefact:
    payload = sign.simple_signing_payload("registry.example.com/team/app", DIGEST)
    return cosign.signature(payload, base64.b64encode(signer.sign(payload)).decode(), signer.verifies)


def test_a_signature_manifest_is_cosigns_with_the_subject_and_artifact_type():
    artefact = signed(key())
    body, config = cosign.manifest(artefact, SUBJECT)
    document = json.loads(body)
    assert artefact.tag(DIGEST) == f"sha256-{'ab' * 32}.sig"
    assert document["mediaType"] == cosign.OCI_MANIFEST and document["artifactType"] == cosign.SIGNATURE_LAYER
    assert document["subject"] == {"mediaType": cosign.OCI_MANIFEST, "size": 1234, "digest": DIGEST}
    assert document["config"]["digest"] == "sha256:" + hashlib.sha256(config).hexdigest()
    assert json.loads(config)["rootfs"]["diff_ids"] == [layer["digest"] for layer in document["layers"]]
    [layer] = document["layers"]
    assert layer["mediaType"] == cosign.SIGNATURE_LAYER and set(layer["annotations"]) == {cosign.SIGNATURE_ANNOTATION}


def test_signing_again_keeps_this_keys_signature_and_another_keys():
    """As cosign: a payload this key signed already is not signed anew (the tag stays as it is)."""
    mine, other = key(), key()
    first, theirs, again = signed(mine), signed(other), signed(mine)
    assert first.layers[0].annotations != again.layers[0].annotations  # ECDSA: a new signature each time
    body, _ = cosign.manifest(again, SUBJECT, kept=[*first.layers, *theirs.layers])
    layers = json.loads(body)["layers"]
    assert [layer["annotations"][cosign.SIGNATURE_ANNOTATION] for layer in layers] == [first.layers[0].annotations[cosign.SIGNATURE_ANNOTATION], theirs.layers[0].annotations[cosign.SIGNATURE_ANNOTATION]]
    assert body == cosign.manifest(first, SUBJECT, kept=[*first.layers, *theirs.layers])[0]


def test_an_external_signers_signature_is_added_beside_what_is_there():
    mine = key()
    payload = sign.simple_signing_payload("registry.example.com/team/app", DIGEST)
    unverifiable = cosign.signature(payload, base64.b64encode(mine.sign(payload)).decode())  # no way to tell it from another key's
    body, _ = cosign.manifest(unverifiable, SUBJECT, kept=signed(mine).layers)
    assert len(json.loads(body)["layers"]) == 2


def test_attestations_replace_this_keys_statement_of_the_same_type_and_keep_others():
    mine, other = key(), key()

    def envelope(signer: KeySigner | None, predicate: str, text: bytes) -> tuple[str, bytes]:
        return predicate, sign.dsse_envelope(provenance.PAYLOAD_TYPE, text, signer)

    old = cosign.attestations([envelope(mine, provenance.PREDICATE_TYPE, b"{}")], mine.verifies).layers
    theirs = cosign.attestations([envelope(other, provenance.PREDICATE_TYPE, b"{}")]).layers
    unsigned = cosign.attestations([envelope(None, provenance.PREDICATE_TYPE, b"{}")]).layers
    vuln = cosign.attestations([envelope(other, "https://cosign.sigstore.dev/attestation/vuln/v1", b"{}")]).layers
    new = cosign.attestations([envelope(mine, provenance.PREDICATE_TYPE, b'{"new":1}')], mine.verifies)
    body, _ = cosign.manifest(new, SUBJECT, kept=[*old, *theirs, *unsigned, *vuln])
    kept = [layer["digest"] for layer in json.loads(body)["layers"]]
    assert kept == [theirs[0].digest, vuln[0].digest, new.layers[0].digest]


def test_an_sbom_replaces_the_cyclonedx_sbom_of_the_tag_only():
    spdx = cosign.Layer("text/spdx+json", b"{}")
    body, _ = cosign.manifest(cosign.sbom(b'{"bomFormat":"CycloneDX","v":2}'), SUBJECT, kept=[cosign.sbom(b'{"v":1}').layers[0], spdx])
    assert [layer["mediaType"] for layer in json.loads(body)["layers"]] == ["text/spdx+json", cosign.SBOM_LAYER]


def test_the_provenance_statement_is_slsa_v1_and_holds_no_credential():
    secrets.register("tok-3f9a-secret")
    statement = json.loads(
        provenance.statement(
            provenance.Build(
                image="registry.example.com/team/app",
                digest=DIGEST,
                source_kind="git",
                source_url="https://ci:tok-3f9a-secret@gitlab.example.com/team/app.git",
                revision="0123456789abcdef0123456789abcdef01234567",
                ref="main",
                module="app",
                engine="direct (no Docker engine)",
                version="0.1.0",
                started=datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc),
                finished=datetime(2026, 12, 1, 10, 1, tzinfo=timezone.utc),
                parameters={"buildArgs": {"TOKEN": "tok-3f9a-secret"}},
                base=("autopack/jre:17", "sha256:" + "cd" * 32),
                artifact=("app-1.0.jar", "ef" * 32),
                job_url="https://gitlab.example.com/team/app/-/jobs/42",
                builder_url="https://gitlab.example.com/-/runners/7",
            )
        )
    )
    assert statement["_type"] == "https://in-toto.io/Statement/v1" and statement["predicateType"] == "https://slsa.dev/provenance/v1"
    assert statement["subject"] == [{"name": "registry.example.com/team/app", "digest": {"sha256": "ab" * 32}}]
    predicate = statement["predicate"]
    assert predicate["buildDefinition"]["resolvedDependencies"][0] == {"uri": "git+https://gitlab.example.com/team/app.git@main", "digest": {"gitCommit": "0123456789abcdef0123456789abcdef01234567"}}
    assert predicate["buildDefinition"]["resolvedDependencies"][1]["digest"] == {"sha256": "cd" * 32}
    assert predicate["runDetails"]["builder"]["id"] == "https://gitlab.example.com/-/runners/7"
    assert predicate["runDetails"]["metadata"] == {"invocationId": "https://gitlab.example.com/team/app/-/jobs/42", "startedOn": "2026-12-01T10:00:00Z", "finishedOn": "2026-12-01T10:01:00Z"}
    assert "tok-3f9a-secret" not in json.dumps(statement)
