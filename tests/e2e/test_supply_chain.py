"""The supply chain, end to end: ``autopack build --push A --push B --push C --sign-key …``
against three real loopback registries (the CNCF distribution registry: no referrers API,
so the artefacts are found by cosign's tags), real Maven and real cosign where it can be
built here — else the signature is checked independently with the public key.

An independent client (plain HTTP, this file's own code) then finds in every registry, for
the one digest: an SBOM that validates against the CycloneDX schema and lists the service's
dependencies as ``mvn dependency:list`` prints them; a provenance statement naming the
commit; a signature that verifies with the public key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import TEST_MAVEN_REPO, autopack, copy_fixture, git
from tests.servers.fixtures import B_PASSWORD, B_USER, registries  # noqa: F401  (fixture)
from tests.servers.go_tools import ReferrersRegistry, cosign, referrers_registry, referrers_registry_binary  # noqa: F401  (fixtures)
from tests.servers.registry import MANIFEST_TYPES, Registry

pytestmark = pytest.mark.e2e
PASSWORD = "correct horse battery staple"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def build(project: Path, tmp_path: Path, *args: str | Path, env: dict[str, str] | None = None, code: int = 0, stdin: str | None = None) -> tuple[dict, str, Path]:
    result = tmp_path / f"result-{uuid.uuid4().hex[:6]}.json"
    run = autopack("build", project, "--skip-tests", "--plain", "--result-file", result, "-t", "1.0.0", *args, env=env)
    assert run.returncode == code, run.stdout[-4000:] + run.stderr
    return (json.loads(result.read_text()) if result.exists() else {}), run.stdout + run.stderr, result


def login_env(registry: Registry) -> dict[str, str]:
    key = re.sub(r"[^A-Za-z0-9]", "_", registry.host).upper()
    return {f"AUTOPACK_REGISTRY_USER_{key}": B_USER, f"AUTOPACK_REGISTRY_PASSWORD_{key}": B_PASSWORD}


def cosign_config(tmp_path: Path, registry: Registry) -> dict[str, str]:
    """A Docker config with the login to ``registry``, for cosign (which reads no AUTOPACK_* variable)."""
    config = tmp_path / "cosign-docker-config"
    config.mkdir(exist_ok=True)
    token = base64.b64encode(f"{B_USER}:{B_PASSWORD}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {registry.host: {"auth": token}}}))
    return {**os.environ, "DOCKER_CONFIG": str(config), "TUF_ROOT": str(tmp_path / "tuf")}


def get(registry: Registry, path: str, **headers: str) -> requests.Response:
    answer = requests.get(f"{registry.url}/v2/{path}", headers=headers, auth=registry.auth, timeout=10)
    answer.raise_for_status()
    return answer


def artefact(registry: Registry, repository: str, digest: str, suffix: str) -> tuple[dict, list[bytes]]:
    """The manifest under cosign's tag for ``digest``, and each layer's bytes (checked against its digest)."""
    document = get(registry, f"{repository}/manifests/{digest.replace(':', '-')}.{suffix}", Accept=MANIFEST_TYPES).json()
    bodies = []
    for layer in document["layers"]:
        body = get(registry, f"{repository}/blobs/{layer['digest']}").content
        assert "sha256:" + hashlib.sha256(body).hexdigest() == layer["digest"]
        bodies.append(body)
    return document, bodies


def signing_key(tmp_path: Path, cosign_bin: str | None) -> tuple[Path, Path]:
    """A cosign key pair (cosign generate-key-pair where cosign is here, else an encrypted
    PKCS#8 EC P-256 key, which --sign-key reads too)."""
    if cosign_bin:
        subprocess.run([cosign_bin, "generate-key-pair"], cwd=tmp_path, env={**os.environ, "COSIGN_PASSWORD": PASSWORD}, check=True, capture_output=True, timeout=120)
        return tmp_path / "cosign.key", tmp_path / "cosign.pub"
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "cosign.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(PASSWORD.encode())))
    (tmp_path / "cosign.pub").write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return tmp_path / "cosign.key", tmp_path / "cosign.pub"


def verify_independently(public_key: Path, payload: bytes, signature_b64: str) -> None:
    key = serialization.load_pem_public_key(public_key.read_bytes())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(base64.b64decode(signature_b64), payload, ec.ECDSA(hashes.SHA256()))  # raises InvalidSignature


def dependency_list(project: Path) -> set[tuple[str, str, str]]:
    """(group, artifact, version) of every runtime dependency, as Maven itself lists them."""
    out = subprocess.run(
        ["mvn", "-B", "-q", f"-Dmaven.repo.local={TEST_MAVEN_REPO}", "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:list", "-DincludeScope=runtime", "-DoutputFile=deps.txt"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:]
    found = set()
    for line in (project / "deps.txt").read_text().splitlines():
        parts = line.strip().split(":")
        if len(parts) >= 5:
            found.add((parts[0], parts[1], parts[3] if len(parts) == 5 else parts[4]))
    return found


@pytest.fixture
def cosign_or_none(request: pytest.FixtureRequest) -> str | None:
    try:
        return request.getfixturevalue("cosign")
    except pytest.skip.Exception:
        return None


def test_three_registries_hold_one_digests_sbom_provenance_and_signature(tmp_path, registries, engine, cosign_or_none):  # noqa: F811
    project = copy_fixture("spring-boot/web-service", tmp_path, as_git=True)
    commit = git(project, "rev-parse", "HEAD").strip()
    key, public = signing_key(tmp_path, cosign_or_none)
    targets = [f"{r.host}/supply/web" for r in registries]
    pushes = [arg for t in targets for arg in ("--push", t)]
    data, out, result_file = build(project, tmp_path, *pushes, "--sign-key", key, env={"COSIGN_PASSWORD": PASSWORD, **login_env(registries.b)})
    for text in (out, result_file.read_text()):
        assert PASSWORD not in text and B_PASSWORD not in text

    digests = {d["digest"] for d in data["destinations"]}
    assert len(digests) == 1 and all(d["status"] == "ok" for d in data["destinations"]), data["destinations"]
    [digest] = digests
    for d in data["destinations"]:
        assert {a["kind"] for a in d["attached"]} == {"signature", "attestation", "sbom"}
        assert {a["tag"] for a in d["attached"]} == {f"{digest.replace(':', '-')}.{s}" for s in ("sig", "att", "sbom")}
        assert not any(a["referrer"] for a in d["attached"])  # this registry has no referrers API: the tags are the way
    supply = data["supplyChain"]
    assert supply["sbom"] and supply["provenance"] and "cosign.key" in supply["signer"]
    [files] = supply["images"]
    sbom_file = Path(files["files"]["sbom"])
    assert sbom_file.parent == result_file.parent and sbom_file.is_file()

    listed = dependency_list(project)
    assert len(listed) > 10, listed
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    for registry in registries:
        # the SBOM: the same bytes as the file beside the result, valid CycloneDX, the image's digest, Maven's dependencies
        manifest, [sbom_body] = artefact(registry, "supply/web", digest, "sbom")
        assert manifest["subject"]["digest"] == digest and manifest["layers"][0]["mediaType"] == "application/vnd.cyclonedx+json"
        assert sbom_body == sbom_file.read_bytes()
        assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(sbom_body.decode()) is None
        sbom = json.loads(sbom_body)
        assert sbom["metadata"]["component"]["version"] == digest
        purls = {c.get("purl", "").split("?")[0] for c in sbom["components"]}
        for group, artifact_id, version in sorted(listed)[:: max(1, len(listed) // 6)]:  # a spot-check of several
            assert f"pkg:maven/{group}/{artifact_id}@{version}" in purls, (group, artifact_id, version)
        assert all(c.get("hashes") for c in sbom["components"] if c.get("purl", "").startswith("pkg:maven/"))

        # the provenance: in a DSSE envelope, signed, naming the commit and the digest
        manifest, envelopes = artefact(registry, "supply/web", digest, "att")
        statements = {}
        for layer, body in zip(manifest["layers"], envelopes, strict=True):
            envelope = json.loads(body)
            payload = base64.b64decode(envelope["payload"])
            pae = b"DSSEv1 %d %s %d %s" % (len(envelope["payloadType"]), envelope["payloadType"].encode(), len(payload), payload)
            verify_independently(public, pae, envelope["signatures"][0]["sig"])
            statements[layer["annotations"]["predicateType"]] = json.loads(payload)
        provenance = statements["https://slsa.dev/provenance/v1"]
        assert provenance["subject"][0]["digest"] == {"sha256": digest.removeprefix("sha256:")}
        resolved = provenance["predicate"]["buildDefinition"]["resolvedDependencies"]
        assert resolved[0]["digest"] == {"gitCommit": commit} and resolved[0]["uri"].startswith("git+"), resolved
        assert provenance["predicate"]["runDetails"]["builder"]["version"]["autopack"]
        assert "https://cyclonedx.org/bom" in statements  # the SBOM, signed as well

        # the signature: cosign's simple signing payload for this digest, verified with the public key
        manifest, [payload] = artefact(registry, "supply/web", digest, "sig")
        assert json.loads(payload)["critical"]["image"]["docker-manifest-digest"] == digest
        verify_independently(public, payload, manifest["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"])

        if cosign_or_none:
            image = f"{registry.host}/supply/web@{digest}"
            flags = ["--key", str(public), "--insecure-ignore-tlog=true", "--allow-http-registry", "--allow-insecure-registry"]
            for check in (["verify"], ["verify-attestation", "--type", "slsaprovenance1"], ["verify-attestation", "--type", "cyclonedx"]):
                verified = subprocess.run([cosign_or_none, *check, *flags, image], capture_output=True, text=True, timeout=120, env=cosign_config(tmp_path, registries.b))
                assert verified.returncode == 0, f"cosign {check[0]}: {verified.stderr[-2000:]}"
            downloaded = subprocess.run([cosign_or_none, "download", "sbom", "--allow-http-registry", "--allow-insecure-registry", image], capture_output=True, timeout=120, env=cosign_config(tmp_path, registries.b))
            assert downloaded.returncode == 0 and json.loads(downloaded.stdout)["metadata"]["component"]["version"] == digest


def test_an_unchanged_image_carries_its_artefacts_to_a_new_destination_and_a_tag_keeps_other_keys_signatures(tmp_path, registries, engine, cosign_or_none):  # noqa: F811
    project = copy_fixture("hello-service", tmp_path, as_git=True)
    key, public = signing_key(tmp_path, cosign_or_none)
    a, _, c = registries
    env = {"AUTOPACK_FORCE": "", "COSIGN_PASSWORD": PASSWORD}
    first, _, _ = build(project, tmp_path, "--push", f"{a.host}/supply/hello", "--sign-key", key, env=env)
    [pushed] = first["destinations"]
    digest = pushed["digest"]
    sbom_digest = next(x["digest"] for x in pushed["attached"] if x["kind"] == "sbom")

    second, out, _ = build(project, tmp_path, "--push", f"{a.host}/supply/hello", "--push", f"{c.host}/supply/hello", "--sign-key", key, env=env)
    assert second["images"][0]["reused"], out
    there = {d["registry"]: d for d in second["destinations"]}
    assert there[c.host]["digest"] == digest and there[c.host]["status"] == "ok", there
    assert next(x["digest"] for x in there[c.host]["attached"] if x["kind"] == "sbom") == sbom_digest  # the very SBOM, carried
    manifest, [payload] = artefact(c, "supply/hello", digest, "sig")
    verify_independently(public, payload, manifest["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"])
    _, envelopes = artefact(c, "supply/hello", digest, "att")
    statements = [json.loads(base64.b64decode(json.loads(e)["payload"])) for e in envelopes]
    assert {s["predicateType"] for s in statements} == {"https://slsa.dev/provenance/v1", "https://cyclonedx.org/bom"}
    assert all(s["subject"][0]["digest"]["sha256"] == digest.removeprefix("sha256:") for s in statements)

    # another key signs too: its signature joins the tag; this key signing again changes nothing
    (tmp_path / "other").mkdir()
    other_key, other_public = signing_key(tmp_path / "other", None)
    build(project, tmp_path, "--push", f"{a.host}/supply/hello", "--sign-key", other_key, env=env)
    signed_twice = a.manifest_digest("supply/hello", f"{digest.replace(':', '-')}.sig")
    build(project, tmp_path, "--push", f"{a.host}/supply/hello", "--sign-key", key, env=env)
    assert a.manifest_digest("supply/hello", f"{digest.replace(':', '-')}.sig") == signed_twice
    manifest, payloads = artefact(a, "supply/hello", digest, "sig")
    assert len(manifest["layers"]) == 2 and payloads == [payload, payload]  # one payload for the digest, a signature per key
    signatures = [layer["annotations"]["dev.cosignproject.cosign/signature"] for layer in manifest["layers"]]
    verify_independently(public, payload, signatures[0])
    verify_independently(other_public, payload, signatures[1])
    _, again = artefact(a, "supply/hello", digest, "att")
    assert again == envelopes  # an unchanged image's statements are carried, not made again, and never pile up


def test_a_wrong_key_password_stops_the_run_before_maven_and_is_never_shown(tmp_path, registries, engine):  # noqa: F811
    project = copy_fixture("hello-service", tmp_path)
    key, _ = signing_key(tmp_path, None)
    wrong = "not-the-password-7f3a"
    data, out, _ = build(project, tmp_path, "--push", f"{registries.a.host}/supply/wrong", "--sign-key", key, env={"COSIGN_PASSWORD": wrong}, code=2)
    assert wrong not in out and PASSWORD not in out
    assert re.search(r"password", out.splitlines()[-1], re.I), out[-500:]
    assert data["error"]["stage"] in ("config", "plan") and not data["destinations"]
    assert not (project / "target").exists()  # Maven never ran
    assert registries.a.tags("supply/wrong") == []


def test_an_external_signer_signs_by_digest(tmp_path, registries, engine):  # noqa: F811
    project = copy_fixture("hello-service", tmp_path)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "kms.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    public = tmp_path / "kms.pub"
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    seen = tmp_path / "signer-env"
    signer = f"sh -c 'env > {seen}; exec openssl dgst -sha256 -sign {pem}'"
    data, out, _ = build(project, tmp_path, "--push", f"{registries.b.host}/supply/kms", "--sign-command", signer, "--no-sbom", env={**login_env(registries.b), "KMS_TOKEN": "kms-own-token-9c1e"})
    [pushed] = data["destinations"]
    assert {a["kind"] for a in pushed["attached"]} == {"signature", "attestation"}
    environment = seen.read_text()
    assert B_PASSWORD not in environment and "AUTOPACK_REGISTRY_PASSWORD_" not in environment  # the registry's login is not the signer's
    assert "KMS_TOKEN=kms-own-token-9c1e" in environment  # its own credentials it keeps
    assert "kms-own-token-9c1e" not in out
    manifest, [payload] = artefact(registries.b, "supply/kms", pushed["digest"], "sig")
    assert json.loads(payload)["critical"]["image"]["docker-manifest-digest"] == pushed["digest"]
    verify_independently(public, payload, manifest["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"])
    assert data["supplyChain"]["signer"] == "command sh"


def test_an_sbom_without_push_is_written_beside_the_result(tmp_path, engine, image_name):
    project = copy_fixture("hello-service", tmp_path)
    data, _, result_file = build(project, tmp_path, "--image", image_name, "--sbom")
    [files] = data["supplyChain"]["images"]
    sbom = json.loads(Path(files["files"]["sbom"]).read_text())
    assert Path(files["files"]["sbom"]).parent == result_file.parent
    assert sbom["metadata"]["component"]["version"].startswith("sha256:")
    assert "provenance" not in files["files"]  # only what was asked for without a push


def test_a_registry_with_the_referrers_api_lists_the_artefacts_and_one_without_has_the_tags(tmp_path, registries, referrers_registry: ReferrersRegistry, engine, cosign_or_none):  # noqa: F811
    project = copy_fixture("hello-service", tmp_path, as_git=True)
    key, public = signing_key(tmp_path, cosign_or_none)
    data, _, _ = build(project, tmp_path, "--push", f"{referrers_registry.host}/supply/ref", "--push", f"{registries.a.host}/supply/ref", "--sign-key", key, env={"COSIGN_PASSWORD": PASSWORD})
    there = {d["registry"]: d for d in data["destinations"]}
    digest = there[referrers_registry.host]["digest"]
    assert there[registries.a.host]["digest"] == digest
    assert all(a["referrer"] for a in there[referrers_registry.host]["attached"])
    assert not any(a["referrer"] for a in there[registries.a.host]["attached"])
    listed = {m["digest"] for m in referrers_registry.referrers("supply/ref", digest)}
    assert listed == {a["digest"] for a in there[referrers_registry.host]["attached"]}
    # the same artefacts, the same bytes, in both: the digests agree
    assert {a["kind"]: a["digest"] for a in there[referrers_registry.host]["attached"]} == {a["kind"]: a["digest"] for a in there[registries.a.host]["attached"]}
    if cosign_or_none:
        verified = subprocess.run([cosign_or_none, "verify", "--key", str(public), "--insecure-ignore-tlog=true", "--allow-http-registry", "--allow-insecure-registry", f"{referrers_registry.host}/supply/ref@{digest}"], capture_output=True, text=True, timeout=120, env={**os.environ, "TUF_ROOT": str(tmp_path / "tuf")})
        assert verified.returncode == 0, verified.stderr[-2000:]


def test_a_pom_naming_the_cyclonedx_plugin_gets_its_graph_and_one_configuring_it_elsewhere_still_an_sbom(tmp_path, registries, engine):  # noqa: F811
    plugin = "<plugin><groupId>org.cyclonedx</groupId><artifactId>cyclonedx-maven-plugin</artifactId><version>2.9.1</version>{}</plugin>"
    for name, configuration, graph in (("named", "", "cyclonedx-maven-plugin 2.9.1"), ("xml", "<configuration><outputFormat>xml</outputFormat></configuration>", "maven-dependency-plugin 3.8.1")):
        project = copy_fixture("hello-service", tmp_path / name)
        pom = project / "pom.xml"
        text = pom.read_text()
        pom.write_text(text.replace("<plugins>", "<plugins>" + plugin.format(configuration), 1))
        assert pom.read_text() != text
        data, _, _ = build(project, tmp_path, "--push", f"{registries.a.host}/supply/{name}", "--no-provenance")
        [image] = data["supplyChain"]["images"]
        assert data["supplyChain"]["sbomSource"] == "cyclonedx-maven-plugin 2.9.1" and image["graph"] == graph
        sbom = json.loads(Path(image["files"]["sbom"]).read_text())
        assert "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.17.2" in {c.get("purl", "").split("?")[0] for c in sbom["components"]}
